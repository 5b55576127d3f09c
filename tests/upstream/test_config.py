"""The upstream side's settings: defaults, parsing, and every bad one reported at once."""

from __future__ import annotations

import pytest

from hookline.config import Config
from hookline.errors import ConfigError


def test_defaults_follow_the_spec() -> None:
    up = Config.from_env({}).upstream
    assert up.submit_backoff == (10.0, 30.0) and up.reconcile_after == 120.0 and up.job_timeout == 1800.0
    assert up.useapi_max_jobs == 3 and up.useapi_url == "https://api.useapi.net" and up.archive is True
    assert up.providers == ()  # nothing to call until a URL or token is set


def test_providers_are_the_configured_upstreams() -> None:
    env = {"HOOKLINE_MJPROXY_URL": "https://mj.example/", "HOOKLINE_USEAPI_TOKEN": "user:1-abc"}
    up = Config.from_env(env).upstream
    assert up.providers == ("mjproxy", "useapi") and up.mjproxy_url == "https://mj.example"


def test_knobs_parse() -> None:
    up = Config.from_env(
        {
            "HOOKLINE_SUBMIT_BACKOFF": "0.5,2",
            "HOOKLINE_UPSTREAM_INTERVAL": "0.05",
            "HOOKLINE_ARCHIVE": "off",
            "HOOKLINE_ARCHIVE_RETRY_SCHEDULE": "1,2.5",
        }
    ).upstream
    assert up.submit_backoff == (0.5, 2.0) and up.interval == 0.05
    assert up.archive is False and up.archive_retry_schedule == (1.0, 2.5)
    assert Config.from_env({"HOOKLINE_SUBMIT_BACKOFF": "15"}).upstream.submit_backoff == (15.0, 15.0)


def test_every_bad_upstream_setting_is_reported_at_once() -> None:
    env = {
        "HOOKLINE_SUBMIT_BACKOFF": "30,10",
        "HOOKLINE_UPSTREAM_INTERVAL": "soon",
        "HOOKLINE_BLEND_IMAGE_MAX_BYTES": "12",
        "HOOKLINE_ARCHIVE": "maybe",
        "HOOKLINE_USEAPI_TOKEN": "",
        "HOOKLINE_USEAPI_DISCORD": " ",
        "HOOKLINE_MJPROXY_URL": "mj.example",
    }
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    problems = "\n".join(caught.value.problems)
    for key in ("SUBMIT_BACKOFF", "UPSTREAM_INTERVAL", "BLEND_IMAGE_MAX_BYTES", "ARCHIVE=", "MJPROXY_URL"):
        assert f"HOOKLINE_{key}" in problems
    assert len(caught.value.problems) == 5


def test_secrets_stay_out_of_repr() -> None:
    config = Config.from_env({"HOOKLINE_USEAPI_TOKEN": "user:1-secret-token", "HOOKLINE_USEAPI_DISCORD": "discord-x"})
    assert "secret-token" not in repr(config) and "discord-x" not in repr(config)


def test_submit_give_up_and_max_jobs() -> None:
    up = Config.from_env({}).upstream
    assert up.submit_give_up == 1800.0 and up.useapi_max_jobs_set is False
    up = Config.from_env({"HOOKLINE_SUBMIT_GIVE_UP": "90.5", "HOOKLINE_USEAPI_MAX_JOBS": "7"}).upstream
    assert up.submit_give_up == 90.5 and up.useapi_max_jobs == 7 and up.useapi_max_jobs_set is True
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"HOOKLINE_SUBMIT_GIVE_UP": "soon", "HOOKLINE_USEAPI_MAX_JOBS": "0"})
    assert len(caught.value.problems) == 2


def test_the_new_settings_are_flags_too() -> None:
    from hookline.cli import build_parser, load_config

    args = build_parser().parse_args(["serve", "--submit-give-up", "60", "--useapi-max-jobs", "4"])
    up = load_config(args, environ={}).upstream
    assert (up.submit_give_up, up.useapi_max_jobs, up.useapi_max_jobs_set) == (60.0, 4, True)
