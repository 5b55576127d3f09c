"""How the management commands print: aligned tables for people, ``--json`` for scripts,
progress on stderr; and how they read times (ISO-8601, or an age such as ``2h``)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from hookline.clock import isoformat, parse_iso

CELL_WIDTH = 60
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, empty: str) -> str:
    """Rows as aligned columns: ``columns`` is (heading, key) pairs; long cells are shortened."""
    if not rows:
        return empty
    cells = [[cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, (h, _) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text):
        text = text[:19].replace("T", " ")
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if args.json else text)


def progress(message: str) -> None:
    """A progress line on stderr (rewritten in place on a terminal)."""
    if sys.stderr.isatty():
        print(f"\r{message}", end="", file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)


def since_time(raw: str, now: float | None = None) -> str:
    """``2026-11-21T10:00:00Z`` as it is, or ``90m`` / ``2h`` / ``3d`` ago, as an ISO-8601 time."""
    found = _RELATIVE.match(raw.strip())
    if found:
        ago = float(found.group(1)) * _UNITS[found.group(2)]
        return isoformat((time.time() if now is None else now) - ago) or ""
    try:
        return isoformat(parse_iso(raw)) or ""
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a time: use ISO-8601 (2026-11-21T10:00:00Z) or an age such as 30m, 2h, 7d"
        ) from None
