"""Provider adapters: turn a parsed upstream payload into a :class:`~hookline.models.Snapshot`.

Each adapter is a pure function ``parse(document) -> Snapshot`` that raises :class:`AdapterError`
when the payload cannot be used (not a JSON object, no task id, a status it cannot place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hookline.models import Snapshot
from receiver.adapters import mjproxy, useapi
from receiver.adapters.common import AdapterError, NoStatus

ADAPTERS: dict[str, Callable[[Any], Snapshot]] = {
    "mjproxy": mjproxy.parse,
    "useapi": useapi.parse,
}

__all__ = ["ADAPTERS", "AdapterError", "NoStatus"]
