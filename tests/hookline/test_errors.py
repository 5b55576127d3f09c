"""Errors: the hierarchy is documented in full, and the store's database errors reach callers
wrapped once, as StoreError, whichever the backend."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import hookline.errors
from hookline.errors import HooklineError, StoreError
from hookline.store import Store
from tests.hookline.test_store import subscription

PACKAGES = ("hookline", "receiver", "dispatcher", "upstream", "simulator")


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_the_error_tree_in_the_docstring_lists_every_error_class() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not module.name.endswith("__main__"):  # that one runs the CLI
                importlib.import_module(module.name)
    doc = hookline.errors.__doc__ or ""
    missing = [cls.__qualname__ for cls in _subclasses(HooklineError) if f"── {cls.__qualname__} " not in doc]
    assert not missing, f"missing from the tree in hookline/errors.py: {missing}"


async def test_a_write_the_database_refuses_is_a_store_error(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    with pytest.raises(StoreError) as raised:
        await store.create_subscription(subscription(id=sub.id))  # the same primary key
    assert raised.value.__cause__ is not None
    assert await store.get_subscription(sub.id) == sub  # the first one stands
