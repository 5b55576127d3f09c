"""Versioned migrations: ``NNNN_name.sql`` files beside each backend, applied in order, recorded in
``schema_migrations``. A database at a newer version than the code knows is refused."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from hookline.errors import SchemaTooNew


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover(package: str) -> list[Migration]:
    """Every migration shipped in ``<package>/migrations``, oldest first."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def check_not_newer(current: int, migrations: list[Migration], where: str) -> None:
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise SchemaTooNew(
            f"the database at {where} is at schema version {current}, but this hookline only knows "
            f"versions up to {latest}: upgrade hookline (or point it at another database)"
        )


def pending(current: int, migrations: list[Migration]) -> list[Migration]:
    return [m for m in migrations if m.version > current]
