"""Configuration: one frozen dataclass built from ``HOOKLINE_*`` variables by :meth:`Config.from_env`.

The environment mapping is an argument, so tests pass a dict and the CLI passes ``os.environ``
merged with its flags (a flag ``--port 9000`` is the variable ``HOOKLINE_PORT=9000``). Every bad key
is collected and reported at once in a :class:`~hookline.errors.ConfigError`. Durations are seconds
(fractions allowed). Secrets never appear in ``repr``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from hookline.errors import ConfigError

PREFIX = "HOOKLINE_"
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# Discord CDN links expire within about a day (``ex=``): retrying an archive download past that is futile.
DEFAULT_ARCHIVE_RETRY_SCHEDULE = (10.0, 60.0, 300.0, 1800.0, 3600.0, 7200.0)
ROLES = ("all", "receiver", "dispatcher")
LOG_FORMATS = ("auto", "json", "text")
T = TypeVar("T")


@dataclass(frozen=True)
class DeliveryConfig:
    """How the dispatcher delivers events to subscribers."""

    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    timeout: float = 15.0
    lease: float = 60.0
    disable_after: float = 5 * 86400.0
    concurrency: int = 256
    per_subscription: int = 16
    allow_private_targets: bool = False
    # Egress (SPEC Part 2): an HTTP proxy for every outbound request to a subscriber or an image
    # host; https-only subscription URLs; private networks allowed without ALLOW_PRIVATE_TARGETS.
    egress_proxy: str | None = field(default=None, repr=False)  # may carry proxy credentials
    https_only: bool = False
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass(frozen=True)
class UpstreamConfig:
    """Where the upstream APIs are and how hookline watches the jobs it sent them."""

    mjproxy_url: str | None = None
    mjproxy_token: str | None = field(default=None, repr=False)
    useapi_url: str = "https://api.useapi.net"
    useapi_token: str | None = field(default=None, repr=False)
    useapi_discord: str | None = field(default=None, repr=False)
    useapi_server: str | None = None
    useapi_channel: str | None = None
    useapi_max_jobs: int = 3  # hookline's own bound on its running useapi jobs per channel
    # True when HOOKLINE_USEAPI_MAX_JOBS was set: only then is it sent as ``maxJobs`` (otherwise
    # the account's own setting on useapi.net applies).
    useapi_max_jobs_set: bool = False
    reconcile_after: float = 120.0
    job_timeout: float = 1800.0
    archive_max_bytes: int = 32 * 1024 * 1024
    # How long a submission held for a full upstream queue (mjproxy 23, useapi 429) waits before
    # it is sent again: a random delay between the two bounds, so held jobs do not return in a herd.
    submit_backoff: tuple[float, float] = (10.0, 30.0)
    # How long temporary upstream trouble on submit (unreachable, timeouts, 408/425/429/5xx, an
    # aggregator's "busy") is retried, counted from when hookline accepted the blend.
    submit_give_up: float = 1800.0
    interval: float = 1.0  # how often the submit queue, reconciler and archiver look for work
    timeout: float = 60.0  # one request to an upstream API (useapi answers a blend only once Discord has)
    blend_image_max_bytes: int = 8 * 1024 * 1024  # one input image of POST /v1/blend
    archive: bool = True
    archive_retry_schedule: tuple[float, ...] = DEFAULT_ARCHIVE_RETRY_SCHEDULE

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers hookline can call: mjproxy needs its URL, useapi its API token."""
        found = []
        if self.mjproxy_url:
            found.append("mjproxy")
        if self.useapi_token:
            found.append("useapi")
        return tuple(found)


@dataclass(frozen=True)
class Config:
    """Everything hookline is told from outside. Build it with :meth:`from_env`."""

    data_dir: Path = Path("hookline-data")
    database_url: str = field(default="sqlite:///hookline-data/hookline.db", repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    admin_token: str | None = field(default=None, repr=False)
    callback_token: str | None = field(default=None, repr=False)
    max_body_bytes: int = 1024 * 1024
    role: str = "all"
    log_format: str = "auto"
    log_level: str = "info"
    delivery: DeliveryConfig = DeliveryConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    # The HTTP server's guard against header bombs and idle or trickling connections
    # (hookline/api/protocol.py): request line + headers larger than this get 431, and a request
    # whose headers are not complete this long after its first byte (or a connection that sends
    # nothing) is closed.
    max_header_bytes: int = 32 * 1024
    header_timeout: float = 10.0
    # Retention (issue 14): rows older than this (by their last change) are pruned, every
    # ``prune_interval`` seconds, in small batches (hookline/retention.py).
    retention: float = 30 * 86400.0
    prune_interval: float = 3600.0
    # Idempotency (issue 14): a running request holds its key this long between extensions, so a
    # request whose process died frees its key after at most this long (hookline/api/idempotency.py).
    idempotency_lock: float = 30.0

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def safe_database_url(self) -> str:
        """The database URL with any password replaced by ``***`` (for logs and ``info``)."""
        return redact_database_url(self.database_url)

    def __repr__(self) -> str:
        return (
            f"Config(database_url={self.safe_database_url!r}, host={self.host!r}, port={self.port}, "
            f"public_url={self.public_url!r}, role={self.role!r}, delivery={self.delivery!r}, "
            f"upstream={self.upstream!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Build the configuration from ``HOOKLINE_*`` keys in ``environ``; raise ConfigError naming
        every bad key at once."""
        r = _Reader(environ)
        data_dir = Path(r.get("DATA_DIR", str, "hookline-data"))
        host = r.get("HOST", _host, "127.0.0.1")
        port = r.get("PORT", _int(1, 65535), 8080)
        timeout = r.get("DELIVERY_TIMEOUT", _seconds(0.1, 300), 15.0)
        lease = r.get("LEASE", _seconds(1, 3600), max(60.0, timeout + 15))
        if lease <= timeout:
            r.problems.append(
                f"{PREFIX}LEASE={lease:g} must be longer than {PREFIX}DELIVERY_TIMEOUT={timeout:g} "
                "(a lease shorter than a request lets two dispatchers send the same delivery)"
            )
        delivery = DeliveryConfig(
            retry_schedule=r.get("RETRY_SCHEDULE", _schedule, DEFAULT_RETRY_SCHEDULE),
            timeout=timeout,
            lease=lease,
            disable_after=r.get("DISABLE_AFTER", _seconds(1, 365 * 86400), 5 * 86400.0),
            concurrency=r.get("DISPATCH_CONCURRENCY", _int(1, 10000), 256),
            per_subscription=r.get("SUBSCRIPTION_CONCURRENCY", _int(1, 1000), 16),
            allow_private_targets=r.get("ALLOW_PRIVATE_TARGETS", _bool, False),
            egress_proxy=r.get("EGRESS_PROXY", _proxy_url, None),
            https_only=r.get("HTTPS_ONLY", _bool, False),
            allowed_networks=r.get("ALLOWED_NETWORKS", _networks, ()),
        )
        upstream = UpstreamConfig(
            mjproxy_url=r.get("MJPROXY_URL", _http_url, None),
            mjproxy_token=r.get("MJPROXY_TOKEN", str, None),
            useapi_url=r.get("USEAPI_URL", _http_url, "https://api.useapi.net"),
            useapi_token=r.get("USEAPI_TOKEN", str, None),
            useapi_discord=r.get("USEAPI_DISCORD", str, None),
            useapi_server=r.get("USEAPI_SERVER", str, None),
            useapi_channel=r.get("USEAPI_CHANNEL", str, None),
            useapi_max_jobs=r.get("USEAPI_MAX_JOBS", _int(1, 100), 3),
            useapi_max_jobs_set=bool(environ.get(f"{PREFIX}USEAPI_MAX_JOBS", "").strip()),
            reconcile_after=r.get("RECONCILE_AFTER", _seconds(0.1, 86400), 120.0),
            job_timeout=r.get("JOB_TIMEOUT", _seconds(1, 30 * 86400), 1800.0),
            archive_max_bytes=r.get("ARCHIVE_MAX_BYTES", _int(1024, 1 << 31), 32 * 1024 * 1024),
            submit_backoff=r.get("SUBMIT_BACKOFF", _range, (10.0, 30.0)),
            submit_give_up=r.get("SUBMIT_GIVE_UP", _seconds(0.1, 30 * 86400), 1800.0),
            interval=r.get("UPSTREAM_INTERVAL", _seconds(0.01, 60), 1.0),
            timeout=r.get("UPSTREAM_TIMEOUT", _seconds(0.1, 600), 60.0),
            blend_image_max_bytes=r.get("BLEND_IMAGE_MAX_BYTES", _int(1024, 64 * 1024 * 1024), 8 * 1024 * 1024),
            archive=r.get("ARCHIVE", _bool, True),
            archive_retry_schedule=r.get("ARCHIVE_RETRY_SCHEDULE", _schedule, DEFAULT_ARCHIVE_RETRY_SCHEDULE),
        )
        config = cls(
            data_dir=data_dir,
            database_url=r.get("DATABASE_URL", _database_url, f"sqlite:///{data_dir / 'hookline.db'}"),
            host=host,
            port=port,
            public_url=r.get("PUBLIC_URL", _http_url, None) or f"http://{_url_host(host)}:{port}",
            admin_token=r.get("ADMIN_TOKEN", _token, None),
            callback_token=r.get("CALLBACK_TOKEN", _token, None),
            max_body_bytes=r.get("MAX_BODY_BYTES", _int(1024, 1 << 30), 1024 * 1024),
            role=r.get("ROLE", _choice(ROLES), "all"),
            log_format=r.get("LOG_FORMAT", _choice(LOG_FORMATS), "auto"),
            log_level=r.get("LOG_LEVEL", _choice(("debug", "info", "warning", "error")), "info"),
            delivery=delivery,
            upstream=upstream,
            max_header_bytes=r.get("MAX_HEADER_BYTES", _int(1024, 1024 * 1024), 32 * 1024),
            header_timeout=r.get("HEADER_TIMEOUT", _seconds(0.1, 3600), 10.0),
            retention=r.get("RETENTION", _seconds(1, 100 * 365 * 86400), 30 * 86400.0),
            prune_interval=r.get("PRUNE_INTERVAL", _seconds(0.01, 365 * 86400), 3600.0),
            idempotency_lock=r.get("IDEMPOTENCY_LOCK", _seconds(1, 3600), 30.0),
        )
        if config.role != "all" and not config.is_postgres:
            r.problems.append(
                f"{PREFIX}ROLE={config.role} needs PostgreSQL: on SQLite one process runs every role "
                f"(set {PREFIX}DATABASE_URL=postgresql://... or use --role all)"
            )
        if r.problems:
            raise ConfigError(r.problems)
        return config


class _Reader:
    """Reads keys, converts them, and collects one problem line per bad key."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def get(self, key: str, convert: Callable[[str], T], default: T) -> T:
        raw = self.environ.get(PREFIX + key)
        if raw is None or raw.strip() == "":
            return default
        try:
            return convert(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{PREFIX}{key}={_shown(key, raw)}: {exc}")
            return default


def _shown(key: str, raw: str) -> str:
    return "<hidden>" if "TOKEN" in key or key in ("USEAPI_DISCORD", "EGRESS_PROXY") else repr(raw)


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected a number from {lo} to {hi}")
        return value

    return convert


def _seconds(lo: float, hi: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected seconds, e.g. 120 or 0.5") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected seconds from {lo:g} to {hi:g}")
        return value

    return convert


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return raw.lower()

    return convert


def _schedule(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800") from None
    if any(v < 0 or v > 30 * 86400 for v in values):
        raise ValueError("each delay must be from 0 to 2592000 seconds (30 days)")
    return values


def _range(raw: str) -> tuple[float, float]:
    parts = raw.split(",")
    try:
        low, high = (float(part) for part in parts) if len(parts) == 2 else (float(raw), float(raw))
    except ValueError:
        raise ValueError("expected seconds as MIN,MAX (e.g. 10,30) or one number") from None
    if not 0 <= low <= high <= 86400:
        raise ValueError("expected 0 <= MIN <= MAX <= 86400 seconds")
    return low, high


def _host(raw: str) -> str:
    if any(c.isspace() for c in raw) or "/" in raw:
        raise ValueError("expected a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0")
    return raw


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


def _proxy_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ValueError("expected an HTTP proxy as http://host:port (https targets go through it with CONNECT)")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError("the proxy's port is not a number from 1 to 65535") from None
    return raw.rstrip("/")


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    found = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not a network in CIDR form, e.g. 10.0.0.0/8 or fd00::/8") from None
    return tuple(found)


def _database_url(raw: str) -> str:
    if raw.startswith(("postgresql://", "postgres://")):
        return raw
    if raw.startswith("sqlite:///"):
        return raw
    raise ValueError("expected sqlite:///path/to/file.db or postgresql://user@host:port/database")


def _token(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("a token must be at least 16 characters (leave it unset to have one generated)")
    if not all(c.isalnum() or c in "-_." for c in raw):
        raise ValueError("a token may only contain letters, digits, '-', '_' and '.'")
    return raw


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def redact_database_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: the form to show in logs and messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def sqlite_path(database_url: str) -> Path:
    """``sqlite:///hookline-data/x.db`` → ``hookline-data/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    return Path(database_url[len("sqlite:///") :])
