"""The one way in: anything an upstream said becomes one frozen Inbound (the counting of what it
causes is tested with the workers that hear it, in ``tests/upstream/test_counted.py``)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from hookline import statemachine
from receiver import ingest
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes

TOKEN = "callback-token-for-tests-0123456789"


def test_a_callback_is_read_once_into_a_frozen_inbound() -> None:
    echo = f'"x":"http://h/callbacks/mjproxy/{TOKEN}","notifyHook":'.encode()  # the hook URL, echoed
    body = fixture_bytes(MJPROXY_LIFECYCLE[-1]).replace(b'"notifyHook":', echo, 1)
    assert TOKEN.encode() in body
    inbound = ingest.heard("mjproxy", "callback", body, 1.0, callback_token=TOKEN, headers={"user-agent": "Java"})
    assert inbound.snapshot is not None and inbound.snapshot.status == "succeeded" and inbound.reject_reason is None
    assert TOKEN.encode() not in inbound.body and inbound.headers == {"user-agent": "Java"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        inbound.reject_reason = "changed later"  # type: ignore[misc]


def test_an_unusable_callback_keeps_its_reason() -> None:
    inbound = ingest.heard("useapi", "callback", b"{nope", 1.0, callback_token=TOKEN)
    assert inbound.snapshot is None and (inbound.reject_reason or "").startswith("the body is not valid JSON")


def test_an_answer_that_is_not_json_is_replaced_by_its_snapshots_document() -> None:
    verdict = statemachine.own_verdict("T1", "job_1", statemachine.TIMEOUT, raw={"error": "timeout"})
    inbound = ingest.heard(
        "mjproxy", "timeout", b"<html>", 1.0, callback_token=TOKEN, snapshot=verdict, note="why", content_type="x/y"
    )
    assert orjson.loads(inbound.body) == {"error": "timeout"} and inbound.note == "why"
    assert inbound.source == "timeout" and inbound.headers == {"content-type": "x/y"}
