"""``hookline events tail``: follow the event feed (``GET /v1/events``) and print each event as it
comes, one line each (``--json``: the feed item as one JSON line), until Ctrl-C or ``--count``.

It polls with the last ``next_cursor``, so it neither misses nor repeats an event, and when it
stops it says on stderr how to resume where it stopped (``--after``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from hookline.client import Client, ClientError
from hookline.manage.output import cell

PAGE = 200


def event_line(item: dict[str, Any]) -> str:
    """One event for people: time, type, job, its sequence number, status and progress, key."""
    data = item.get("data") or {}
    kind = str(item.get("type", ""))
    if not kind.startswith("job."):  # an operational event: about a subscription
        about = [data.get("subscription_id"), data.get("url"), data.get("reason") or data.get("last_error")]
        return "  ".join([cell(item.get("timestamp")), f"{kind:<13}", *(str(a) for a in about if a)])
    progress = data.get("progress")
    state = data.get("status", "") + (f" {progress}%" if progress is not None else "")
    parts = [
        cell(item.get("timestamp")),
        f"{item.get('type', ''):<13}",
        str(data.get("job_id")),
        f"#{data.get('sequence')}",
        f"{state:<16}",
        cell(data.get("correlation_key")),
    ]
    if data.get("error"):
        parts.append(f"error: {cell(data['error'])}")
    return "  ".join(parts).rstrip()


def _end_of_feed(client: Client, filters: dict[str, Any]) -> str | None:
    """The cursor after the newest event (for ``--new``): reads the feed through once."""
    after = None
    while True:
        page = client.get("/v1/events", limit=500, after=after, **filters)
        if not page["items"]:
            return after
        after = page["next_cursor"]


def events_tail(client: Client, args: argparse.Namespace) -> int:
    filters = {"type": args.type, "job_id": args.job}
    after = _end_of_feed(client, filters) if args.new else args.after
    print(f"following the events of {client.url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    printed = 0
    try:
        while args.count is None or printed < args.count:
            # Never ask for more than --count still allows: the page's cursor is then exactly
            # where printing stopped.
            limit = PAGE if args.count is None else min(PAGE, args.count - printed)
            page = client.get("/v1/events", limit=limit, after=after, **filters)
            for item in page["items"]:
                print(orjson.dumps(item).decode() if args.json else event_line(item), flush=True)
            printed += len(page["items"])
            after = page["next_cursor"] or after
            if not page["items"]:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass  # the usual way to stop following; a page cut short is printed again on resuming
    except ClientError:
        _resume_hint(after)
        raise
    _resume_hint(after)
    return 0


def _resume_hint(after: str | None) -> None:
    if after:
        print(f"resume with: hookline events tail --after {after}", file=sys.stderr, flush=True)
