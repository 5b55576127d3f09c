"""Configuration from HOOKLINE_* variables (a dict here: no patching of os.environ)."""

from __future__ import annotations

import pytest

from hookline.config import DEFAULT_RETRY_SCHEDULE, Config
from hookline.errors import ConfigError


def test_defaults_follow_the_spec() -> None:
    config = Config.from_env({})
    assert (config.host, config.port, config.public_url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")
    assert config.database_url == "sqlite:///hookline-data/hookline.db"
    assert config.max_body_bytes == 1024 * 1024 and config.role == "all"
    assert config.delivery.retry_schedule == DEFAULT_RETRY_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert config.delivery.timeout == 15 and not config.delivery.allow_private_targets
    assert config.upstream.useapi_url == "https://api.useapi.net" and config.upstream.useapi_max_jobs == 3
    assert (config.upstream.reconcile_after, config.upstream.job_timeout) == (120, 1800)


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(
            {
                "HOOKLINE_PORT": "99999",
                "HOOKLINE_RETRY_SCHEDULE": "5,soon",
                "HOOKLINE_ALLOW_PRIVATE_TARGETS": "maybe",
                "HOOKLINE_DATABASE_URL": "mysql://x",
                "HOOKLINE_PUBLIC_URL": "not a url",
            }
        )
    problems = "\n".join(caught.value.problems)
    for key in ("PORT", "RETRY_SCHEDULE", "ALLOW_PRIVATE_TARGETS", "DATABASE_URL", "PUBLIC_URL"):
        assert f"HOOKLINE_{key}" in problems
    assert len(caught.value.problems) == 5


def test_fractional_schedule_and_durations() -> None:
    config = Config.from_env({"HOOKLINE_RETRY_SCHEDULE": "0.5, 1.5,2", "HOOKLINE_DELIVERY_TIMEOUT": "2.5"})
    assert config.delivery.retry_schedule == (0.5, 1.5, 2.0) and config.delivery.timeout == 2.5


def test_public_url_follows_host_and_port() -> None:
    config = Config.from_env({"HOOKLINE_HOST": "0.0.0.0", "HOOKLINE_PORT": "9000"})
    assert config.public_url == "http://127.0.0.1:9000"
    explicit = Config.from_env({"HOOKLINE_PUBLIC_URL": "https://hooks.example.com/"})
    assert explicit.public_url == "https://hooks.example.com"


def test_secrets_never_show_in_repr_or_errors() -> None:
    config = Config.from_env(
        {
            "HOOKLINE_ADMIN_TOKEN": "super-secret-admin-token",
            "HOOKLINE_CALLBACK_TOKEN": "super-secret-callback-token",
            "HOOKLINE_DATABASE_URL": "postgresql://hookline:pa55word@db:5432/hookline",
            "HOOKLINE_USEAPI_TOKEN": "user:1234-secret",
        }
    )
    text = repr(config)
    assert "super-secret" not in text and "pa55word" not in text and "1234-secret" not in text
    assert "postgresql://hookline:***@db:5432/hookline" in text
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"HOOKLINE_ADMIN_TOKEN": "short"})
    assert "short" not in str(caught.value) and "HOOKLINE_ADMIN_TOKEN" in str(caught.value)


def test_split_roles_need_postgresql() -> None:
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        Config.from_env({"HOOKLINE_ROLE": "dispatcher"})
    config = Config.from_env({"HOOKLINE_ROLE": "dispatcher", "HOOKLINE_DATABASE_URL": "postgresql://db/h"})
    assert config.role == "dispatcher" and config.is_postgres


def test_lease_must_outlast_a_request() -> None:
    with pytest.raises(ConfigError, match="LEASE"):
        Config.from_env({"HOOKLINE_DELIVERY_TIMEOUT": "30", "HOOKLINE_LEASE": "10"})


def test_egress_settings() -> None:
    config = Config.from_env(
        {
            "HOOKLINE_EGRESS_PROXY": "http://user:proxy-pa55@127.0.0.1:3128/",
            "HOOKLINE_HTTPS_ONLY": "true",
            "HOOKLINE_ALLOWED_NETWORKS": "10.1.0.0/16, fd00::/8,192.168.7.9/24",
        }
    )
    d = config.delivery
    assert d.egress_proxy == "http://user:proxy-pa55@127.0.0.1:3128" and d.https_only
    assert [str(n) for n in d.allowed_networks] == ["10.1.0.0/16", "fd00::/8", "192.168.7.0/24"]
    assert "proxy-pa55" not in repr(config)
    defaults = Config.from_env({}).delivery
    assert (defaults.egress_proxy, defaults.https_only, defaults.allowed_networks) == (None, False, ())


def test_bad_egress_settings_are_reported_at_once_without_the_proxy_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(
            {
                "HOOKLINE_EGRESS_PROXY": "socks5://user:proxy-pa55@127.0.0.1:1080",
                "HOOKLINE_HTTPS_ONLY": "sometimes",
                "HOOKLINE_ALLOWED_NETWORKS": "10.0.0.0/8,intranet",
            }
        )
    problems = caught.value.problems
    assert len(problems) == 3 and "proxy-pa55" not in str(caught.value)
    assert "'intranet' is not a network in CIDR form" in problems[2]


def test_egress_settings_have_command_line_flags() -> None:
    from hookline.cli import build_parser, load_config

    args = build_parser().parse_args(
        ["serve", "--egress-proxy", "http://127.0.0.1:3128", "--https-only", "--allowed-networks", "10.0.0.0/8"]
    )
    d = load_config(args, environ={}).delivery
    assert (d.egress_proxy, d.https_only, [str(n) for n in d.allowed_networks]) == (
        "http://127.0.0.1:3128",
        True,
        ["10.0.0.0/8"],
    )


def test_retention_settings_default_to_thirty_days_pruned_hourly() -> None:
    config = Config.from_env({})
    assert (config.retention, config.prune_interval) == (2592000, 3600)
    config = Config.from_env({"HOOKLINE_RETENTION": "60", "HOOKLINE_PRUNE_INTERVAL": "0.5"})
    assert (config.retention, config.prune_interval) == (60, 0.5)


def test_bad_retention_settings_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"HOOKLINE_RETENTION": "0", "HOOKLINE_PRUNE_INTERVAL": "often"})
    assert [p.split("=")[0] for p in caught.value.problems] == ["HOOKLINE_RETENTION", "HOOKLINE_PRUNE_INTERVAL"]


def test_retention_settings_have_command_line_flags() -> None:
    from hookline.cli import build_parser, load_config

    args = build_parser().parse_args(["serve", "--retention", "86400", "--prune-interval", "60"])
    config = load_config(args, environ={})
    assert (config.retention, config.prune_interval) == (86400, 60)
