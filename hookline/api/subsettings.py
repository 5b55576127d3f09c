"""Validation of a subscription's own settings (issue 15): ``headers``, ``rate_limit``,
``retry_schedule``, and the ``status`` / ``min_progress`` filters. Every failure is a 400
``invalid_field`` that names the field and the rule; the dashboard's form uses the same checks.
"""

from __future__ import annotations

import re
from typing import Any

from hookline.errors import InputError
from hookline.models import STATUSES

SETTINGS_FIELDS = ("headers", "rate_limit", "retry_schedule")
MAX_HEADERS = 32
MAX_HEADER_VALUE = 4096
MAX_RATE = 10_000
MAX_SCHEDULE = 30
MAX_DELAY = 30 * 86400.0  # as HOOKLINE_RETRY_SCHEDULE
# Names hookline sets on every delivery, or that belong to HTTP itself (framing, the connection).
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "user-agent",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-connection",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")  # RFC 9110 field-name
_VALUE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, space, tab: never CR, LF or NUL


def _invalid(message: str) -> InputError:
    return InputError(message, code="invalid_field")


def headers(doc: dict[str, Any]) -> dict[str, str]:
    """``doc["headers"]``: ``{name: value}``; absent or null is none."""
    value = doc.get("headers")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid('headers must be a JSON object of header names to values, e.g. {"Authorization": "Bearer …"}')
    if len(value) > MAX_HEADERS:
        raise _invalid(f"headers: at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, text in value.items():
        if not _TOKEN.fullmatch(name):
            raise _invalid(f"headers: {name[:64]!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)")
        lower = name.lower()
        if lower in RESERVED_HEADERS or lower.startswith("webhook-"):
            raise _invalid(f"headers: {name} is set by hookline or by HTTP itself and cannot be overridden")
        if lower in seen:
            raise _invalid(f"headers: {name} is given twice (header names are case-insensitive)")
        seen.add(lower)
        if not isinstance(text, str):
            raise _invalid(f"headers: the value of {name} must be a string")
        if len(text) > MAX_HEADER_VALUE:
            raise _invalid(f"headers: the value of {name} must be at most {MAX_HEADER_VALUE} characters")
        if not _VALUE.fullmatch(text):
            raise _invalid(
                f"headers: the value of {name} may hold only printable ASCII characters, spaces and tabs "
                "(no CR, LF or other control characters)"
            )
    return dict(value)


def rate_limit(doc: dict[str, Any]) -> int | None:
    """``doc["rate_limit"]``: requests per second, 1 to 10000; null is no limit."""
    value = doc.get("rate_limit")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE:
        raise _invalid(f"rate_limit must be a whole number of requests per second from 1 to {MAX_RATE}, or null")
    return value


def retry_schedule(doc: dict[str, Any]) -> list[float] | None:
    """``doc["retry_schedule"]``: seconds before each retry; null is the global schedule."""
    value = doc.get("retry_schedule")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_SCHEDULE:
        raise _invalid(f"retry_schedule must be a list of at most {MAX_SCHEDULE} delays in seconds, or null")
    for delay in value:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
            raise _invalid(f"retry_schedule: each delay must be a number of seconds from 0 to {MAX_DELAY:.0f}")
    return [float(delay) for delay in value]


def state_filter(flt: dict[str, Any]) -> None:
    """Check the ``status`` and ``min_progress`` keys of a filter."""
    statuses = flt.get("status")
    if statuses is not None:
        if not isinstance(statuses, list) or not statuses or not all(isinstance(s, str) for s in statuses):
            raise _invalid(f"filter.status must be a non-empty list of job statuses: {', '.join(STATUSES)}")
        for status in statuses:
            if status not in STATUSES:
                raise _invalid(f"filter.status: {status[:64]!r} is not one of {', '.join(STATUSES)}")
        flt["status"] = list(dict.fromkeys(statuses))
    least = flt.get("min_progress")
    if least is not None and (isinstance(least, bool) or not isinstance(least, int) or not 0 <= least <= 100):
        raise _invalid("filter.min_progress must be a whole number from 0 to 100")
