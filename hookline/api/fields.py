"""Field validation for JSON request bodies: every failure is a 400 naming the field and the rule."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from hookline.errors import InputError

MAX_METADATA_BYTES = 16 * 1024
# PostgreSQL stores neither NUL in text nor \u0000 in jsonb: refuse it up front, on every backend.
NUL_MESSAGE = "{name} must not contain NUL (\\u0000) characters"


def _invalid(message: str) -> InputError:
    return InputError(message, code="invalid_field")


def only(doc: dict[str, Any], allowed: Iterable[str]) -> None:
    """Refuse unknown fields, so a typo is an error rather than silently ignored."""
    names = set(allowed)
    unknown = sorted(set(doc) - names)
    if unknown:
        raise _invalid(f"unknown field {unknown[0]!r}; allowed fields: {', '.join(sorted(names))}")


def text(doc: dict[str, Any], name: str, *, required: bool = False, max_length: int = 1024) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if required and not value.strip():
        raise _invalid(f"{name} must not be empty")
    if len(value) > max_length:
        raise _invalid(f"{name} must be at most {max_length} characters")
    if "\x00" in value:
        raise _invalid(NUL_MESSAGE.format(name=name))
    return value


def required_text(doc: dict[str, Any], name: str, *, max_length: int = 1024) -> str:
    value = text(doc, name, required=True, max_length=max_length)
    assert value is not None
    return value


def choice(doc: dict[str, Any], name: str, options: Iterable[str], *, required: bool = False) -> str | None:
    allowed = list(options)
    value = doc.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required: one of {', '.join(allowed)}")
        return None
    if value not in allowed:
        raise _invalid(f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def boolean(doc: dict[str, Any], name: str) -> bool | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _invalid(f"{name} must be true or false")
    return value


def json_object(doc: dict[str, Any], name: str, *, max_bytes: int = MAX_METADATA_BYTES) -> dict[str, Any] | None:
    import orjson

    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be a JSON object")
    if len(orjson.dumps(value)) > max_bytes:
        raise _invalid(f"{name} must be at most {max_bytes} bytes of JSON")
    if _has_nul(value):
        raise _invalid(NUL_MESSAGE.format(name=name))
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def string_list(
    doc: dict[str, Any], name: str, *, options: Iterable[str] | None = None, max_items: int = 100
) -> list[str] | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{name} must be a list of strings")
    if any("\x00" in v for v in value):
        raise _invalid(NUL_MESSAGE.format(name=name))
    if len(value) > max_items:
        raise _invalid(f"{name} must have at most {max_items} items")
    if options is not None:
        allowed = list(options)
        for item in value:
            if item not in allowed:
                raise _invalid(f"{name}: {item!r} is not one of {', '.join(allowed)}")
    return list(dict.fromkeys(value))


# The characters RFC 3986 allows in a URI ("%" only before two hex digits, checked apart).
_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def http_url(doc: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """An absolute http(s) URL with a host, written as a URI: spaces, non-ASCII characters and
    bad ``%`` escapes are refused here rather than failing at every delivery attempt later."""
    value = text(doc, name, required=required, max_length=2048)
    if value is None:
        return None
    if not set(value) <= _URI_CHARS or _PERCENT.search(value):
        raise _invalid(
            f"{name} must be a URL of ASCII characters without spaces "
            "(percent-encode other characters; write international domain names in punycode, xn--...)"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(f"{name} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise _invalid(f"{name} must not contain a user name or password")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _invalid(f"{name} has an invalid port") from None
    return value
