"""Subscription health: what one batch of delivery attempts says about each subscription.

Shared by both backends: they collect a :class:`Health` per subscription while recording a batch of
attempts, then write it. A success clears ``failing_since``; failures start it (the earliest
failure counts); a 410 disables at once; failing without a success for ``disable_after`` seconds
disables too; a ``Retry-After`` pauses the whole subscription until ``throttle_until``.
"""

from __future__ import annotations

from hookline.clock import isoformat
from hookline.models import Completion


class Health:
    """What one batch of attempts says about one subscription."""

    def __init__(self, now: float, disable_after: float) -> None:
        self.now = now
        self.disable_after = disable_after
        self.success_at: float | None = None
        self.failed_at: float | None = None
        self.disable_reason: str | None = None
        self.throttle_until: float | None = None
        # Where in the batch a disabling is reported: the store returns the reason for that one
        # completion only, so the worker counts each disabling exactly once.
        self.blamed: int | None = None
        # For operational events: failed attempts in this batch, those after its last success,
        # and the last failure's error.
        self.failures = 0
        self.trailing_failures = 0
        self.last_error: str | None = None

    def add(self, c: Completion, position: int = 0) -> None:
        at = c.attempt.attempted_at
        if c.success:
            self.success_at = max(self.success_at or at, at)
            self.trailing_failures = 0
        else:
            self.failed_at = min(self.failed_at or at, at)
            self.failures += 1
            self.trailing_failures += 1
            code = c.attempt.status_code
            self.last_error = c.attempt.error or (f"HTTP {code}" if code is not None else None)
            if self.blamed is None:
                self.blamed = position
        if c.disable_reason:
            if self.disable_reason is None:
                self.blamed = position
            self.disable_reason = c.disable_reason
        if c.throttle_until is not None:
            self.throttle_until = max(self.throttle_until or 0.0, c.throttle_until)

    @property
    def only_succeeded(self) -> bool:
        """Whether the batch held nothing but successes."""
        return self.failed_at is None and self.disable_reason is None and self.throttle_until is None

    def failing_since(self, stored: float | None) -> float | None:
        """``failing_since`` after this batch, given the stored value."""
        if self.success_at is not None:
            return None
        if self.failed_at is not None:
            return stored if stored is not None else self.failed_at
        return stored

    def reason_to_disable(self, failing_since: float | None) -> str | None:
        """Why this batch disables the subscription (``failing_since`` as stored after it), or None."""
        if self.disable_reason is not None:
            return self.disable_reason
        if self.success_at is None and self.failed_at is not None and failing_since is not None:
            if failing_since <= self.now - self.disable_after:
                return f"failing without a success since {isoformat(failing_since)}"
        return None
