"""Every error hookline raises on purpose derives from :class:`HooklineError`.

    HooklineError
    ├── ConfigError        bad HOOKLINE_* settings or flags (lists every bad key; CLI exits 2)
    ├── InputError         bad input from outside: the API answers 4xx with ``code`` and ``message``
    │   ├── NotFound       404: an unknown id
    │   ├── Unauthorized   401: a missing or wrong token
    │   ├── Forbidden      403: a credential without the scope a route needs
    │   ├── Conflict       409: the request contradicts the current state
    │   └── DryRun         (hookline.pruning) not a failure: a dry run's write unit raises it to roll back
    ├── EgressRefused      a target address hookline refuses to connect to (private, loopback, ...)
    │   └── Unresolvable   (hookline.egress) the target's name does not resolve (may be temporary)
    ├── UpstreamError      an upstream API answered with an error or could not be reached
    ├── StoreError         the store failed; each driver wraps its database's errors once, ``from exc``
    │   └── SchemaTooNew   the database was migrated by a newer hookline than this one
    ├── ClientError        (hookline.client) a ``hookline`` command could not talk to a running instance
    ├── BindError          (hookline.binding) the port to listen on is taken or not allowed (CLI exits 2)
    ├── AdapterError       (receiver.adapters.common) a payload cannot be turned into a snapshot (400)
    │   └── NoStatus       a poll answer that says nothing (the job keeps waiting)
    └── ImageError         (upstream.images) a result image could not be archived; ``permanent`` or not

Modules raise these; the HTTP layer maps ``InputError`` subclasses to their status and every other
exception to a 500 with no detail (and a log line with the request id).
"""

from __future__ import annotations


class HooklineError(Exception):
    """Base class of every error hookline raises deliberately."""


class ConfigError(HooklineError):
    """One or more settings are invalid; ``problems`` holds one line per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class InputError(HooklineError):
    """Bad input from outside. ``status`` and ``code`` go to the caller with ``message``."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(InputError):
    status = 404
    code = "not_found"


class Unauthorized(InputError):
    status = 401
    code = "unauthorized"


class Forbidden(InputError):
    status = 403
    code = "forbidden"


class Conflict(InputError):
    status = 409
    code = "conflict"


class EgressRefused(HooklineError):
    """hookline will not connect to this target (see ``hookline.egress``)."""


class UpstreamError(HooklineError):
    """An upstream API answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class StoreError(HooklineError):
    """The store failed. The driver's exception is the ``__cause__``."""


class SchemaTooNew(StoreError):
    """The database schema is newer than this hookline understands."""
