"""``hookline keys add|ls|rm``: API keys through the management API (an admin credential).

``add`` prints the key once: hookline keeps only its hash, so it cannot be shown again."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from typing import Any

from hookline.api.auth import SCOPES
from hookline.client import Client
from hookline.clock import isoformat, parse_iso
from hookline.manage.commands import delete_each
from hookline.manage.output import emit, table

KEY_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("scopes", "scope_list"),
    ("key starts", "prefix"),
    ("created", "created_at"),
    ("expires", "expires_at"),
)
_IN = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def expiry_time(raw: str, now: float | None = None) -> str:
    """``2027-01-01T00:00:00Z`` as it is, or ``90d`` / ``12h`` / ``30m`` from now, as an ISO-8601 time."""
    found = _IN.match(raw.strip())
    if found:
        ahead = float(found.group(1)) * _UNITS[found.group(2)]
        return isoformat((time.time() if now is None else now) + ahead) or ""
    try:
        return isoformat(parse_iso(raw)) or ""
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a time: use ISO-8601 (2027-01-01T00:00:00Z) or a duration such as 12h, 90d"
        ) from None


def keys_add(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "scopes": args.scope}
    if args.expires:
        body["expires_at"] = args.expires
    made = client.post("/v1/api-keys", body)
    expires = f", expires {made['expires_at']}" if made.get("expires_at") else ""
    emit(
        args,
        made,
        f"created {made['id']} ({made['name']}: {', '.join(made['scopes'])}{expires})\n"
        f"key: {made['key']}\n"
        "(shown this once: hookline keeps only its hash; send it as 'Authorization: Bearer <key>')",
    )
    return 0


def keys_ls(client: Client, args: argparse.Namespace) -> int:
    keys = client.get("/v1/api-keys")["items"]
    for key in keys:
        key["scope_list"] = " ".join(key["scopes"])
        key["prefix"] = f"{key['prefix']}…"
    emit(args, keys, table(keys, KEY_COLUMNS, empty="no API keys (make one: hookline keys add NAME --scope SCOPE)"))
    return 0


def keys_rm(client: Client, args: argparse.Namespace) -> int:
    return delete_each(client, args, "/v1/api-keys", "revoked")


def register(commands: Any, leaf: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``keys add|ls|rm``; ``leaf`` makes a command with the client flags (``--url``, ``--token``)."""
    keys = commands.add_parser("keys", help="make, list or revoke API keys (needs an admin credential)")
    key_commands = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = leaf(key_commands, "add", keys_add, "make an API key with scopes (prints the key, this once)")
    add.add_argument("name", metavar="NAME", help="who or what the key is for")
    add.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=list(SCOPES),
        metavar="SCOPE",
        help=f"a scope it grants (repeatable): {', '.join(SCOPES)}",
    )
    add.add_argument("--expires", type=expiry_time, help="when it stops working: ISO-8601, or from now: 12h, 90d")
    leaf(key_commands, "ls", keys_ls, "list the API keys (never the keys themselves)")
    rm = leaf(key_commands, "rm", keys_rm, "revoke API keys: refused from now on")
    rm.add_argument("ids", nargs="+", metavar="ID")
