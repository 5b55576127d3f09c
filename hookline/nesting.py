"""How deeply a JSON document from outside may nest: :data:`MAX_DEPTH` levels of arrays and objects.

Whatever hookline accepts it writes again (in API answers, on the dashboard, in the events it sends
as ``data.upstream``), so a document must stay readable by every writer and reader on the way:
orjson writes at most 255 levels, and Python's ``json`` (which ``standardwebhooks`` uses) reads
about 1,000 before a RecursionError. 64 leaves room for the envelope an event wraps around a
callback and is far deeper than any upstream payload (theirs nest 3-5 levels).
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


def too_deep(body: bytes, document: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``document`` (parsed from ``body``) nests arrays and objects more than ``limit``
    levels deep (a top-level object is level 1).

    Cheap for ordinary bodies: one with at most ``limit`` opening brackets (counted at C speed,
    strings included) cannot nest deeper, so only bodies with many brackets are walked."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    pending: list[tuple[Any, int]] = [(document, 1)] if isinstance(document, dict | list) else []
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
