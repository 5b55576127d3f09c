"""What the routes and workers of one running hookline share: config, store, clock, tokens, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from hookline.clock import Clock
from hookline.config import Config
from hookline.metrics import Metrics
from hookline.store import Store


@dataclass
class Runtime:
    config: Config
    store: Store
    clock: Clock
    metrics: Metrics = field(default_factory=Metrics)
    admin_token: str = field(default="", repr=False)
    callback_token: str = field(default="", repr=False)

    def callback_url(self, provider: str) -> str:
        """The URL an upstream must call for ``provider`` (it carries the callback token)."""
        return f"{self.config.public_url}/callbacks/{provider}/{self.callback_token}"
