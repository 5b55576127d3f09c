"""CLI flags for a subscription's own settings (issue 15), shared by ``hookline subscriptions add``
and ``hookline subscriptions update``: ``--header``, ``--rate-limit``, ``--retry-schedule``,
``--status`` and ``--min-progress``. The server checks the values (a bad one is its 400 message)."""

from __future__ import annotations

import argparse
from typing import Any

from hookline.client import Client
from hookline.manage.output import emit
from hookline.models import STATUSES


def header(raw: str) -> tuple[str, str]:
    """``Name: value`` → (name, value)."""
    name, sep, value = raw.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {raw!r}")
    return name.strip(), value.strip()


def schedule(raw: str) -> list[float] | None:
    """``5,300,1800`` → seconds; ``default`` → None (the global schedule); ``none`` → [] (no retries)."""
    text = raw.strip().lower()
    if text == "default":
        return None
    if text in ("none", ""):
        return []
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected comma-separated seconds (e.g. 5,300,1800), default or none"
        ) from None


def rate(raw: str) -> int | None:
    """``20`` → 20 requests per second; ``none`` → no limit."""
    if raw.strip().lower() == "none":
        return None
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("expected requests per second (1 to 10000) or none") from None


def add_flags(parser: argparse.ArgumentParser, *, update: bool = False) -> None:
    parser.add_argument(
        "--header",
        action="append",
        type=header,
        metavar="'NAME: VALUE'",
        help="send this header with every delivery (repeatable)" + ("; replaces the current headers" if update else ""),
    )
    if update:
        parser.add_argument("--clear-headers", action="store_true", help="send no headers of its own any more")
    parser.add_argument(
        "--rate-limit", type=rate, default=argparse.SUPPRESS, metavar="N", help="at most N requests a second (or none)"
    )
    parser.add_argument(
        "--retry-schedule",
        type=schedule,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="its own retry delays, e.g. 5,60,600 (default: the global HOOKLINE_RETRY_SCHEDULE; none: no retries)",
    )
    parser.add_argument("--status", action="append", choices=STATUSES, help="only events reporting this job status")
    parser.add_argument(
        "--min-progress", type=int, default=None, metavar="0-100", help="only events of jobs at least this far along"
    )


def settings_body(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags name (those not given are left out)."""
    body: dict[str, Any] = {}
    if getattr(args, "clear_headers", False):
        body["headers"] = {}
    if args.header:
        body["headers"] = dict(args.header)
    if "rate_limit" in args:
        body["rate_limit"] = args.rate_limit
    if "retry_schedule" in args:
        body["retry_schedule"] = args.retry_schedule
    return body


def filter_extras(args: argparse.Namespace) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if args.status:
        extras["status"] = args.status
    if args.min_progress is not None:
        extras["min_progress"] = args.min_progress
    return extras


def subscriptions_update(client: Client, args: argparse.Namespace) -> int:
    """Change a subscription's settings (and its status / min_progress filter, kept with the rest
    of its filter)."""
    body = settings_body(args)
    if args.description is not None:
        body["description"] = args.description
    extras = filter_extras(args)
    if extras:
        current = client.get(f"/v1/subscriptions/{args.id}")
        body["filter"] = {**(current.get("filter") or {}), **extras}
    if not body:
        raise SystemExit("hookline: nothing to change (see hookline subscriptions update --help)")
    sub = client.patch(f"/v1/subscriptions/{args.id}", body)
    emit(args, sub, f"updated {sub['id']}: {describe(sub)}")
    return 0


def describe(sub: dict[str, Any]) -> str:
    rate_text = f"{sub['rate_limit']}/s" if sub.get("rate_limit") else "no rate limit"
    schedule_value = sub.get("retry_schedule")
    retries = "global retry schedule" if schedule_value is None else f"retries after {schedule_value} s"
    return f"{rate_text}, {retries}"
