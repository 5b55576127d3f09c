"""The packages have one direction: the edges (receiver, dispatcher, upstream, simulator) import the
core (hookline), never the reverse, except the two modules that assemble the app."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EDGES = ("receiver", "dispatcher", "upstream", "simulator")
ASSEMBLY = {"hookline/app.py", "hookline/cli.py"}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names a module imports, wherever the import stands (functions too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_no_edge_package() -> None:
    offenders = {}
    for path in sorted((REPO / "hookline").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        if name in ASSEMBLY:
            continue
        edges = imported_packages(path) & set(EDGES)
        if edges:
            offenders[name] = sorted(edges)
    assert offenders == {}, f"core modules import edge packages: {offenders}"


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from upstream import blend\n    import dispatcher.worker\n")
    assert imported_packages(module) >= {"upstream", "dispatcher"}


# Where each HTTP client may be used: aiohttp for URLs from outside, through the one guarded session
# in hookline/egress.py (deliveries, image downloads) and in the simulator's callbacks; httpx for
# the upstream APIs the operator configures and for the CLI, never on the delivery path.
AIOHTTP_ALLOWED = ("hookline/egress.py", "dispatcher/", "upstream/images.py", "simulator/")
DELIVERY_PATH = ("hookline/egress.py", "dispatcher/", "upstream/images.py", "upstream/archiver.py")


def modules_importing(package: str) -> set[str]:
    found = set()
    for top in ("hookline", *EDGES):
        for path in sorted((REPO / top).rglob("*.py")):
            if package in imported_packages(path):
                found.add(path.relative_to(REPO).as_posix())
    return found


def test_aiohttp_is_used_only_behind_the_egress_guard_and_by_the_simulator() -> None:
    users = modules_importing("aiohttp")
    assert {m for m in users if not m.startswith(AIOHTTP_ALLOWED)} == set()
    assert {"hookline/egress.py", "dispatcher/sender.py", "upstream/images.py"} <= users


def test_httpx_is_not_on_the_delivery_path() -> None:
    assert {m for m in modules_importing("httpx") if m.startswith(DELIVERY_PATH)} == set()


def test_no_hand_written_http_client_is_left() -> None:
    assert modules_importing("httptools") == set()
    assert not (REPO / "dispatcher" / "http.py").exists()
