"""Named SQL: the store's statements live in ``sql/common.sql`` under ``-- name: <name>`` headers
(comment lines right after a header say what it is for); ``sql/<dialect>.sql`` overrides a name,
or adds one, only where the databases truly differ.

Statements are written once in PostgreSQL's syntax with named parameters (``:job_id``). For
SQLite the loader rewrites the two forms it lacks: array membership ``= ANY(:ids)`` / ``<>
ALL(:ids)`` becomes a ``json_each`` subquery (the SQLite driver passes lists as JSON), and row
locks (``FOR UPDATE [OF t] [SKIP LOCKED]``) are dropped: one writer needs none. Then ``:name``
becomes ``?n`` (SQLite) or ``$n`` (PostgreSQL), ``::type`` casts left alone, and the driver binds a
tuple: binding by name cost SQLite's executemany twice the time. Keep ``:`` out of string literals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_ANY = re.compile(r"=\s*ANY\(:(\w+)\)")
_ALL = re.compile(r"<>\s*ALL\(:(\w+)\)")
_LOCK = re.compile(r"\s+FOR UPDATE(?: OF \w+)?(?: SKIP LOCKED)?")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement in a dialect's form; ``names`` are its parameters, in ``?n``/``$n`` order."""

    text: str
    names: tuple[str, ...]


def parse(script: str) -> dict[str, str]:
    """``{name: statement}`` from a ``.sql`` file: comment lines dropped, text before the first
    header ignored."""
    parts = _HEADER.split(script)
    found = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        found[name] = "\n".join(lines).strip()
    return found


def compile_sql(text: str, dialect: str) -> Statement:
    """``text`` (named parameters, PostgreSQL syntax) in ``dialect``'s form."""
    mark = "$"
    if dialect == "sqlite":
        text = _ANY.sub(r"IN (SELECT value FROM json_each(:\1))", text)
        text = _ALL.sub(r"NOT IN (SELECT value FROM json_each(:\1))", text)
        text, mark = _LOCK.sub("", text), "?"
    names = tuple(dict.fromkeys(_PARAM.findall(text)))
    numbers = {name: f"{mark}{i}" for i, name in enumerate(names, 1)}
    return Statement(_PARAM.sub(lambda m: numbers[m.group(1)], text), names)


@cache
def load(dialect: str) -> dict[str, Statement]:
    """Every named statement for ``dialect`` (``sqlite`` or ``postgres``)."""
    files = resources.files("hookline.store").joinpath("sql")
    named = parse(files.joinpath("common.sql").read_text("utf-8"))
    named.update(parse(files.joinpath(f"{dialect}.sql").read_text("utf-8")))
    return {name: compile_sql(text, dialect) for name, text in named.items()}


def resolver(dialect: str) -> Callable[[str], Statement]:
    """``statement(query)``: the named statement ``query``, or ``query`` itself compiled when it is
    SQL text in the named form (a list page's filters), cached."""
    named = load(dialect)

    @lru_cache(maxsize=256)
    def statement(query: str) -> Statement:
        return named.get(query) or compile_sql(query, dialect)

    return statement
