"""What retention and erasure delete (the units are ``hookline.store.retention``; the pruner and
erasure ``hookline.retention``): the kinds of rows they count, the tables retention empties on its
own, and what a run removed."""

from __future__ import annotations

from dataclasses import dataclass, field

from hookline.errors import InputError

KINDS = ("jobs", "callbacks", "events", "deliveries", "attempts", "subscriptions", "archived_images")


@dataclass(frozen=True, slots=True)
class Sweep:
    """A table retention empties on its own: ``statement`` (named SQL) deletes at most ``:limit``
    rows that last changed before ``:cutoff`` and that nothing refers to. ``keep_for`` is their
    age limit in seconds; None means ``HOOKLINE_RETENTION``."""

    kind: str
    statement: str
    keep_for: float | None = None


# A further kind of row to prune is one line here, with its statement in sql/common.sql.
SWEEPS: list[Sweep] = [
    Sweep("callbacks", "prune_callbacks"),
    Sweep("events", "prune_operational_events"),
    # expires_at already counts the 24 h an answer is kept (see ``idempotency``)
    Sweep("idempotency_keys", "prune_idempotency_keys", keep_for=0.0),
]


@dataclass(slots=True)
class Removed:
    """What was (or, in a dry run, would be) deleted: rows by kind, and the archived files that
    no remaining job refers to (their SHA-256; ``archived_images`` counts the files removed)."""

    counts: dict[str, int] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)

    def count(self, kind: str, n: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def add(self, other: Removed) -> None:
        for kind, n in other.counts.items():
            self.count(kind, n)
        self.files |= other.files

    @property
    def rows(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "archived_images")


class DryRun(InputError):
    """Raised by a unit to roll its deletions back after counting them (``hookline prune --dry-run``)."""

    def __init__(self, removed: Removed) -> None:
        super().__init__("dry run: rolled back")
        self.removed = removed
