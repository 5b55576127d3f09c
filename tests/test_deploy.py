"""``deploy/``: the Dockerfile, the systemd unit and the Kubernetes manifests, checked as far as a
machine without a Docker daemon or a cluster allows: they name the real command, use settings
hookline knows, probe the right paths on the right ports, and parse (with ``systemd-analyze`` and
``kubectl kustomize`` when those tools are installed)."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookline.config import Config
from tests.conftest import Hookline
from tests.support import REPO, free_port

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SCRIPT = next(iter(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]))
KNOWN_SETTINGS = set(re.findall(r'r\.get\("([A-Z_]+)"', (REPO / "hookline" / "config.py").read_text()))


# --- Dockerfile -----------------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def docker_env(final: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, args in final:
        if name == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(args) if "=" in part)
    return env


def test_dockerfile_runs_the_console_script_as_a_non_root_user() -> None:
    final = dockerfile()
    assert final[0] == ("FROM", "python:3.11-slim")
    named = dict(final)
    command = [*_exec_form(named["ENTRYPOINT"]), *_exec_form(named["CMD"])]
    assert command == [SCRIPT, "serve"]
    assert named["USER"] not in ("root", "0")
    assert any(name == "RUN" and "pip install" in args for name, args in final)
    assert "/data" in named["VOLUME"] and docker_env(final)["HOOKLINE_DATA_DIR"] == "/data"


def test_dockerfile_listens_on_every_interface_at_the_exposed_port_with_a_healthcheck() -> None:
    final = dockerfile()
    named = dict(final)
    env = docker_env(final)
    assert env["HOOKLINE_HOST"] == "0.0.0.0"  # the default, 127.0.0.1, is unreachable from outside
    assert named["EXPOSE"] == env["HOOKLINE_PORT"] == "8080"
    assert "/healthz" in named["HEALTHCHECK"] and env["HOOKLINE_LOG_FORMAT"] == "json"
    assert set(env) - {
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
    } <= {f"HOOKLINE_{k}" for k in KNOWN_SETTINGS}


async def test_the_dockerfile_healthcheck_command_works(hookline: Hookline) -> None:
    """Run the HEALTHCHECK's command here, against a live hookline, up and then down."""
    command = _exec_form(dict(dockerfile())["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert command[0] == "python"

    async def check(port: str) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command[1:], env={"HOOKLINE_PORT": port}, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), 10)

    assert await check(hookline.url.rsplit(":", 1)[1]) == 0
    assert await check(str(free_port())) != 0


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git", "hookline-data", "test-artifacts"} <= set(ignored)


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), "use the exec form (a JSON list) so signals reach hookline"
    return [str(v) for v in value]


# --- systemd --------------------------------------------------------------------------------------
def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "hookline.service").read_text())
    return parser


def test_the_unit_runs_hookline_serve_from_an_env_file_and_restarts() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == SCRIPT and argv[1:] == ["serve"]
    assert service["EnvironmentFile"] == "/etc/hookline/hookline.env"
    assert service["Restart"] in ("on-failure", "always") and service["User"] != "root"
    assert service["StateDirectory"] == "hookline"
    for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[setting] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_example_env_file_is_a_valid_configuration(tmp_path: Path) -> None:
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "hookline.env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert {k.removeprefix("HOOKLINE_") for k in env} <= KNOWN_SETTINGS
    Config.from_env({**env, "HOOKLINE_DATA_DIR": str(tmp_path)})  # raises ConfigError if not


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # verify insists the command exists: point it at this checkout's console script.
    text = (DEPLOY / "hookline.service").read_text()
    text = text.replace("/opt/hookline/bin/hookline", str(Path(sys.executable).parent / SCRIPT))
    text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    copy = tmp_path / "hookline.service"
    copy.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


# --- Kubernetes -----------------------------------------------------------------------------------
def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def deployments() -> dict[str, dict[str, Any]]:
    """The Deployments by the role their hookline runs."""
    found: dict[str, dict[str, Any]] = {}
    for doc in manifests():
        if doc["kind"] != "Deployment":
            continue
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        found[args[args.index("--role") + 1]] = doc
    return found


def test_one_deployment_per_role() -> None:
    found = deployments()
    assert set(found) == {"receiver", "dispatcher"}
    for role, doc in found.items():
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["args"][0] == "serve"
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] == role


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_probes_hit_health_and_readiness_on_the_container_port(role: str) -> None:
    (container,) = deployments()[role]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")["data"]
    assert set(ports.values()) == {int(config["HOOKLINE_PORT"])} and config["HOOKLINE_HOST"] == "0.0.0.0"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == int(config["HOOKLINE_PORT"])


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_secrets_come_from_a_secret_and_resources_are_bounded(role: str) -> None:
    spec = deployments()[role]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert from_secret == {
        "HOOKLINE_DATABASE_URL": "hookline",
        "HOOKLINE_ADMIN_TOKEN": "hookline",
        "HOOKLINE_CALLBACK_TOKEN": "hookline",
    }
    assert not any("value" in e and "TOKEN" in e["name"] for e in container["env"])
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_service_routes_to_the_receiver_port() -> None:
    (service,) = [d for d in manifests() if d["kind"] == "Service"]
    receiver = deployments()["receiver"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= receiver["metadata"]["labels"].items()
    (container,) = receiver["spec"]["containers"]
    names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= names


def test_the_manifests_configure_hookline_validly(tmp_path: Path) -> None:
    """The ConfigMap plus the example Secret is a configuration Config accepts for each role."""
    docs = manifests()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    assert {k.removeprefix("HOOKLINE_") for k in {**config, **secret}} <= KNOWN_SETTINGS
    for role in deployments():
        Config.from_env({**config, **secret, "HOOKLINE_ROLE": role, "HOOKLINE_DATA_DIR": str(tmp_path)})


def test_the_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(listed) == present


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests() -> None:
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout))
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "PersistentVolumeClaim", "Service"]


def kustomize_images() -> dict[str, str]:
    """Image name in the manifests → the reference kustomize puts in its place."""
    images = yaml.safe_load((K8S / "kustomization.yaml").read_text()).get("images", [])
    return {i["name"]: f"{i.get('newName', i['name'])}:{i.get('newTag', 'latest')}" for i in images}


@pytest.mark.parametrize("role", ["receiver", "dispatcher"])
def test_the_deployments_image_is_one_kustomization_names(role: str) -> None:
    """Nobody publishes a hookline image: the manifests use a name the kustomization replaces with
    the image the operator built and pushed."""
    (container,) = deployments()[role]["spec"]["template"]["spec"]["containers"]
    assert container["image"] in kustomize_images()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_deploys_the_image_named_in_the_kustomization() -> None:
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc["kind"] == "Deployment"]
    images = {c["image"] for d in rendered for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {kustomize_images()["hookline"]}


# --- the README's deploy paths --------------------------------------------------------------------
def readme_section(title: str) -> str:
    """The README's paragraphs from ``**title**`` up to the next bold heading or section."""
    text = (REPO / "README.md").read_text()
    return re.split(r"\n\*\*[A-Z][\w ]*\.\*\*|\n## ", text.split(f"**{title}**", 1)[1], maxsplit=1)[0]


def shell_commands(section: str) -> list[list[str]]:
    """The commands of a section's ``sh`` blocks (``a && b`` is two), continuation lines joined,
    comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            command: list[str] = []
            for word in [*shlex.split(line, comments=True), "&&"]:
                if word == "&&":
                    if command:
                        commands.append(command)
                    command = []
                else:
                    command.append(word)
    return commands


def test_every_deploy_file_the_readme_names_is_in_the_repository() -> None:
    named = set(re.findall(r"\bdeploy/[\w./-]*[\w/]", (REPO / "README.md").read_text()))
    assert named >= {"deploy/Dockerfile", "deploy/compose.yaml", "deploy/hookline.service", "deploy/k8s"}
    assert [name for name in sorted(named) if not (REPO / name).exists()] == []


def test_the_readme_builds_and_pushes_the_image_the_kubernetes_manifests_deploy() -> None:
    commands = shell_commands(readme_section("Kubernetes."))
    build = next(c for c in commands if c[:2] == ["docker", "build"])
    assert build[build.index("-f") + 1] == "deploy/Dockerfile" and build[-1] == "."  # from the repository root
    image = build[build.index("-t") + 1]
    assert ["docker", "push", image] in commands
    assert image == kustomize_images()["hookline"]  # the example and the kustomization agree
    assert ["kubectl", "apply", "-k", "deploy/k8s"] in commands
    assert commands.index(["docker", "push", image]) < commands.index(["kubectl", "apply", "-k", "deploy/k8s"])


def test_systemd_installs_hookline_from_this_repository() -> None:
    """The README's steps and the unit file's: pip installs the clone (``.``), not a name from an
    index (hookline is not published), and the files they copy are in the repository."""
    header = "\n".join(
        line.removeprefix("#").strip()
        for line in (DEPLOY / "hookline.service").read_text().split("[Unit]", 1)[0].splitlines()
        if line.startswith("#   ")
    )
    readme = shell_commands(readme_section("systemd."))
    for commands in (readme, shell_commands(f"```sh\n{header}\n```")):
        installs = [c[c.index("install") + 1 :] for c in commands if "pip" in c[0] and "install" in c]
        assert installs == [["."]], installs
        copied = [word for c in commands if c[0] == "install" for word in c if word.startswith("deploy/")]
        assert copied and all((REPO / path).is_file() for path in copied)
    assert readme[:5] == shell_commands(f"```sh\n{header}\n```")[:5]  # one set of steps, said twice


@pytest.mark.slow
def test_pip_install_from_the_repository_gives_a_working_hookline(tmp_path: Path) -> None:
    """What the Dockerfile (``pip wheel .``) and the systemd steps (``pip install .``) install: a
    wheel built from the repository's files holds every package and the data files hookline reads
    at run time, and its ``hookline migrate`` creates a database."""
    clone = tmp_path / "clone"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(clone)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("hookline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for package in ("hookline", "receiver", "dispatcher", "upstream", "simulator"):
        assert f"{package}/__init__.py" in names
    for data in ("hookline/store/sqlite/migrations/", "hookline/store/postgres/migrations/", "hookline/dashboard/"):
        assert any(n.startswith(data) and not n.endswith(".py") for n in names), data
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)], check=True
    )
    # The installed copy, not this checkout: the dependencies come from this interpreter.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}, "PYTHONPATH": str(site)}
    migrated = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hookline, sys; print(hookline.__file__); sys.argv[1:] = ['migrate']; "
            "from hookline.cli import main; sys.exit(main())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith(str(site)) and "migrated from schema version 0" in migrated.stdout
