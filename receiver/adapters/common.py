"""Lenient readers shared by the adapters: upstreams send ids as numbers or strings, progress as
``"46%"``, ``""``, ``"Waiting to start"`` or a number, and nulls anywhere."""

from __future__ import annotations

import re
from typing import Any

from hookline.errors import HooklineError

_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_DISCORD_PROGRESS = re.compile(r"\((\d{1,3})%\)")


class AdapterError(HooklineError):
    """The payload cannot be turned into a snapshot; ``message`` says why, for the 400 answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoStatus(AdapterError):
    """The payload names a task but says nothing about it (``status`` empty or missing, as new-api
    answers until its own update loop has run). A callback like this is refused; a poll answer like
    this means "unknown": the job keeps waiting."""


def text(value: Any) -> str | None:
    """A string or number as a stripped string; anything else, or an empty string, as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def identifier(value: Any, name: str, max_length: int = 1024) -> str | None:
    """An id or key: like :func:`text`, but control characters or an absurd length are an error
    (no upstream sends them; storing them would only make the job impossible to find again)."""
    found = text(value)
    if found is None:
        return None
    if len(found) > max_length:
        raise AdapterError(f"'{name}' is longer than {max_length} characters")
    if not found.isprintable():  # C speed: this runs twice per callback
        raise AdapterError(f"'{name}' contains control or invisible characters")
    return found


def percent(value: Any) -> int | None:
    """``"46%"`` → 46, ``46`` → 46, ``"(46%) (fast)"`` → 46; ``""``/``"Waiting to start"``/None → None.
    Values are clamped to 0..100; text that only looks numeric (``"²"``, ``"①"``) is None, and 400
    digits are 100: a progress value never makes a callback fail."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = float(max(0, min(100, value)))  # clamped first: float() of a huge int overflows
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        match = _PERCENT.search(value)
        found = match.group(1) if match is not None else value.strip()
        if not found.replace(".", "", 1).isdigit():
            return None
        try:
            # float() reads every Unicode decimal digit; str.isdigit also passes "²" and "①",
            # which float() refuses, and 400 digits parse as infinity.
            number = float(found)
        except ValueError:
            return None
    else:
        return None
    return int(max(0.0, min(100.0, number)))


def content_percent(content: str | None) -> int | None:
    """The progress Midjourney appends to its Discord message, ``... - <@id> (46%) (fast)``: the last
    ``(N%)`` in the text, so a percentage inside the prompt itself is not mistaken for progress."""
    if not content:
        return None
    found = _DISCORD_PROGRESS.findall(content)
    return max(0, min(100, int(found[-1]))) if found else None


def require_object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise AdapterError("the body must be a JSON object")
    return document


def urls(*candidates: Any) -> tuple[str, ...]:
    """Collect http(s) URLs from strings, lists of strings, and lists of objects with ``url``,
    in order, without duplicates."""
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str):
            if value.startswith(("http://", "https://")) and value not in found:
                found.append(value)
        elif isinstance(value, dict):
            add(value.get("url"))
        elif isinstance(value, list):
            for item in value:
                add(item)

    for candidate in candidates:
        add(candidate)
    return tuple(found)


def normalize_progress(status: str, progress: int | None) -> int | None:
    """One progress value per status, so equal snapshots compare equal whatever the upstream
    wrote: queued → None, submitted → 0, in_progress → the percentage (0 when unknown),
    succeeded → 100, other terminal states → None."""
    if status == "in_progress":
        return progress if progress is not None else 0
    if status == "submitted":
        return 0
    if status == "succeeded":
        return 100
    return None
