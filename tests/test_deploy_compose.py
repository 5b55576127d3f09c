"""``deploy/compose.yaml``: PostgreSQL with separate receiver and dispatcher services (parsed, as
Docker cannot run here; the image itself is ``deploy/Dockerfile``'s business)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with every variable unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Any] = parsed["services"]
    return found


def test_three_services_postgres_receiver_dispatcher(services: dict[str, Any]) -> None:
    assert {"postgres", "receiver", "dispatcher"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_each_role_runs_the_project_image_on_postgres(services: dict[str, Any], role: str) -> None:
    service = services[role]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    env = environment(service)
    assert env["HOOKLINE_ROLE"] == role
    url = urlsplit(env["HOOKLINE_DATABASE_URL"])
    postgres = environment(services["postgres"])
    assert url.scheme == "postgresql" and url.hostname == "postgres"
    assert (url.username, url.password, url.path) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "/" + postgres["POSTGRES_DB"],
    )
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert env["HOOKLINE_HOST"] == "0.0.0.0"  # reachable from outside its container


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_roles_are_healthy_only_when_ready(services: dict[str, Any], role: str) -> None:
    check = services[role]["healthcheck"]
    port = environment(services[role])["HOOKLINE_PORT"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(check["test"])


def test_postgres_is_healthy_when_it_accepts_connections(services: dict[str, Any]) -> None:
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_only_the_receiver_is_published_and_dispatchers_are_several(services: dict[str, Any]) -> None:
    assert [p.split(":")[-1] for p in services["receiver"]["ports"]] == ["8080"]
    assert "ports" not in services["dispatcher"]
    assert services["dispatcher"]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_data_lives_in_the_images_writable_volume(services: dict[str, Any], role: str) -> None:
    """The image prepares /data for its non-root user; a volume anywhere else would be created
    root-owned and the archive could not be written."""
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    volume = re.search(r'VOLUME \["([^"]+)"\]', dockerfile).group(1)  # type: ignore[union-attr]
    service = services[role]
    assert environment(service)["HOOKLINE_DATA_DIR"] == volume
    assert any(str(v).endswith(f":{volume}") for v in service["volumes"])
