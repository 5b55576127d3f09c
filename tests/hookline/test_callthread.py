"""The SQLite writer's commit thread: results and errors come back to the caller, calls run in
order, and closing finishes what was queued."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

import pytest

from hookline.callthread import CallThread


async def test_a_call_runs_on_the_thread_and_returns_its_result() -> None:
    thread = CallThread("test-calls")
    try:
        name = await thread.run(lambda: threading.current_thread().name)
    finally:
        thread.close()
    assert name == "test-calls"


async def test_a_call_that_raises_raises_in_the_caller() -> None:
    thread = CallThread("test-calls")

    def fail() -> None:
        raise ValueError("no")

    try:
        with pytest.raises(ValueError, match="no"):
            await thread.run(fail)
        assert await thread.run(lambda: 2) == 2  # the thread goes on after an error
    finally:
        thread.close()


async def test_calls_run_one_at_a_time_in_order() -> None:
    thread = CallThread("test-calls")
    done: list[int] = []

    def record(n: int) -> int:
        done.append(n)
        return n

    try:
        results = await asyncio.gather(*(thread.run(partial(record, n)) for n in range(50)))
    finally:
        thread.close()
    assert results == list(range(50))
    assert done == list(range(50))


async def test_close_finishes_the_calls_already_queued() -> None:
    thread = CallThread("test-calls")
    started = threading.Event()
    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        done.append("slow")

    first = asyncio.ensure_future(thread.run(slow))
    second = asyncio.ensure_future(thread.run(lambda: done.append("next")))
    await asyncio.sleep(0)  # both queued
    assert await asyncio.to_thread(started.wait, 5)
    release.set()
    await asyncio.to_thread(thread.close)
    await asyncio.gather(first, second)
    assert done == ["slow", "next"]
