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

