"""CLI commands that operate a running hookline through its management API:
``subscriptions``, ``jobs``, ``deliveries``, ``replay`` and ``events tail``.

They talk HTTP (``--url`` / ``HOOKLINE_URL``, default http://127.0.0.1 on ``HOOKLINE_PORT`` or
8080) with the admin token (``--token`` / ``HOOKLINE_ADMIN_TOKEN``), print tables for people or
``--json`` for scripts, report progress on stderr for long operations, and exit with the codes of
:mod:`hookline.client`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from hookline.client import DEFAULT_URL, Client, ClientError
from hookline.manage import keys, subsettings
from hookline.manage.commands import (
    deliveries_ls,
    deliveries_retry,
    jobs_ls,
    jobs_rm,
    jobs_show,
    replay,
    subscriptions_add,
    subscriptions_list,
    subscriptions_pause,
    subscriptions_rm,
    subscriptions_toggle,
)
from hookline.manage.feed import events_tail
from hookline.manage.output import since_time
from hookline.models import DELIVERY_STATUSES, EVENT_TYPES, PROVIDERS, STATUSES

Command = Callable[[Client, argparse.Namespace], int]


def _client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help=f"where hookline runs (default $HOOKLINE_URL, else http://127.0.0.1:$HOOKLINE_PORT, else {DEFAULT_URL})",
    )
    parser.add_argument("--token", default=None, help="the admin token (default $HOOKLINE_ADMIN_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        url = args.url or os.environ.get("HOOKLINE_URL") or _local_url(os.environ.get("HOOKLINE_PORT", ""))
        token = args.token or os.environ.get("HOOKLINE_ADMIN_TOKEN")
        try:
            with Client(url, token) as client:
                return command(client, args)
        except ClientError as exc:
            print(f"hookline: {exc.message}", file=sys.stderr)
            return exc.exit_code

    return run


def _local_url(port: str) -> str:
    """The URL ``hookline serve`` listens on with defaults, on ``HOOKLINE_PORT`` when that is set:
    a shell that serves on another port reaches it without also setting ``HOOKLINE_URL``."""
    return f"http://127.0.0.1:{port.strip()}" if port.strip().isdigit() else DEFAULT_URL


def _leaf(group: Any, name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
    _client_flags(parser)
    parser.set_defaults(func=_run(command))
    return parser


def _add_listen(commands: Any) -> None:
    """``listen``: receive this hookline's events on this machine (:mod:`hookline.manage.listen`)."""
    from hookline.manage.listen import listen

    lis = _leaf(
        commands,
        "listen",
        listen,
        "receive this hookline's events here: subscribe a local receiver, print each verified event",
    )
    lis.description = (
        "Start a receiver on 127.0.0.1, subscribe it, verify each delivery's signature with the "
        "subscription's secret and print the event (--json: the event's JSON, one per line). Ctrl-C stops "
        "and deletes the subscription. hookline must allow loopback targets (HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8)."
    )
    lis.add_argument("--port", type=int, default=0, help="port to receive on (default: any free port)")
    lis.add_argument("--event-type", action="append", choices=EVENT_TYPES, help="only this type (repeatable)")
    lis.add_argument("--provider", choices=PROVIDERS, help="only jobs of this provider")
    lis.add_argument("--key", help="only jobs with this correlation key")


def register(commands: Any) -> None:
    """Add ``subscriptions``, ``jobs``, ``deliveries``, ``replay`` and ``listen`` to the ``hookline`` parser."""
    _add_listen(commands)
    keys.register(commands, _leaf)  # API keys (issue 15)
    subs = commands.add_parser(
        "subscriptions", help="add, list, update, remove, enable, disable, pause, resume subscriptions"
    )
    sub_commands = subs.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = _leaf(sub_commands, "add", subscriptions_add, "subscribe a URL to events (prints its signing secret)")
    add.add_argument("target", metavar="URL", help="where to POST the events")
    add.add_argument("--event-type", action="append", choices=EVENT_TYPES, help="only this type (repeatable)")
    add.add_argument("--description", help="a note for people")
    add.add_argument("--provider", choices=PROVIDERS, help="only jobs of this provider")
    add.add_argument("--key", help="only jobs with this correlation key")
    add.add_argument("--key-prefix", help="only jobs whose correlation key starts with this")
    add.add_argument("--secret", help="a whsec_ secret of your own (default: generated)")
    subsettings.add_flags(add)
    update = _leaf(sub_commands, "update", subsettings.subscriptions_update, "change a subscription's settings")
    update.add_argument("id", metavar="ID")
    update.add_argument("--description", help="a note for people")
    subsettings.add_flags(update, update=True)
    for name in ("list", "ls"):  # ls, like jobs ls and deliveries ls
        ls = _leaf(sub_commands, name, subscriptions_list, "list subscriptions with their health")
        ls.add_argument("--limit", type=int, default=500, help="at most this many (default 500)")
    rm = _leaf(sub_commands, "rm", subscriptions_rm, "delete subscriptions with their deliveries")
    rm.add_argument("ids", nargs="+", metavar="ID")
    for name, enabled in (("enable", True), ("disable", False)):
        toggle = _leaf(sub_commands, name, subscriptions_toggle(enabled), f"{name} a subscription")
        toggle.add_argument("id", metavar="ID")
    for name, paused in (("pause", True), ("resume", False)):
        what = "hold a subscription's deliveries (still queued)" if paused else "send its held deliveries"
        toggle = _leaf(sub_commands, name, subscriptions_pause(paused), what)
        toggle.add_argument("id", metavar="ID")

    jobs = commands.add_parser("jobs", help="list jobs, show one with its timeline, or erase jobs")
    job_commands = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    jls = _leaf(job_commands, "ls", jobs_ls, "list jobs, newest first")
    jls.add_argument("--status", choices=STATUSES)
    jls.add_argument("--provider", choices=PROVIDERS)
    jls.add_argument("--key", help="exact correlation key")
    jls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = _leaf(job_commands, "show", jobs_show, "a job with its callbacks, events and deliveries")
    show.add_argument("id", metavar="JOB_ID")
    rm_jobs = _leaf(job_commands, "rm", jobs_rm, "erase jobs with their callbacks, events, deliveries and images")
    rm_jobs.add_argument("ids", nargs="*", metavar="JOB_ID")
    rm_jobs.add_argument("--key", help="every job with this correlation key")
    rm_jobs.add_argument("--key-prefix", help="every job whose correlation key starts with this")

    deliveries = commands.add_parser("deliveries", help="list deliveries or retry them")
    delivery_commands = deliveries.add_subparsers(dest="action", metavar="ACTION", required=True)
    dls = _leaf(delivery_commands, "ls", deliveries_ls, "list deliveries, newest first")
    dls.add_argument("--status", choices=DELIVERY_STATUSES)
    dls.add_argument("--subscription", metavar="SUB_ID")
    dls.add_argument("--job", metavar="JOB_ID")
    dls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    retry = _leaf(delivery_commands, "retry", deliveries_retry, "send deliveries again now")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all-dead", action="store_true", help="every dead delivery (one request)")
    retry.add_argument("--subscription", metavar="SUB_ID", help="with --all-dead: only this subscription's")

    rep = _leaf(commands, "replay", replay, "send a subscription the events of a period again")
    rep.add_argument("subscription", metavar="SUB_ID")
    rep.add_argument("--since", required=True, type=since_time, help="ISO-8601 time, or an age: 30m, 2h, 7d")
    rep.add_argument("--until", type=since_time, help="ISO-8601 time, or an age (default: now)")

    events = commands.add_parser("events", help="follow the event feed")
    event_commands = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    tail = _leaf(event_commands, "tail", events_tail, "print events as they come, oldest first (Ctrl-C stops)")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--after", metavar="CURSOR", help="start after this cursor (printed when tail stops)")
    start.add_argument("--new", action="store_true", help="skip the events that exist now: only new ones")
    tail.add_argument("--type", choices=EVENT_TYPES, help="only events of this type")
    tail.add_argument("--job", metavar="JOB_ID", help="only this job's events")
    tail.add_argument("--count", type=_positive, help="stop after this many events")
    tail.add_argument("--interval", type=_seconds, default=1.0, help="seconds between polls when idle (default 1)")


def _positive(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of at least 1")
    return int(raw)


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds from 0 to 3600")
    return value
