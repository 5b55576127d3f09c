"""The upstream clients this hookline is configured for."""

from __future__ import annotations

from hookline.config import UpstreamConfig
from upstream.client import UpstreamClient
from upstream.mjproxy import MjproxyClient
from upstream.useapi import UseapiClient


def build_clients(cfg: UpstreamConfig) -> dict[str, UpstreamClient]:
    """One client per configured provider (``cfg.providers``); close them when done."""
    found: dict[str, UpstreamClient] = {}
    if cfg.mjproxy_url:
        found["mjproxy"] = MjproxyClient(cfg.mjproxy_url, cfg.mjproxy_token, cfg.timeout)
    if cfg.useapi_token:
        found["useapi"] = UseapiClient(cfg)
    return found


def useapi_channel(cfg: UpstreamConfig) -> str:
    """The name under which hookline counts running useapi jobs against ``maxJobs``."""
    return f"useapi:{cfg.useapi_channel or 'account-default'}"
