"""``hookline listen``'s check of a delivery (:func:`hookline.manage.listen.verify`): it accepts
what the Standard Webhooks reference signs, and nothing forged, altered or stale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from hookline.manage.listen import describe, verify
from tests.support import fixture_json

VECTOR = fixture_json("standard-webhooks-vectors.json")["vectors"][0]
HEADERS = {
    "webhook-id": VECTOR["webhook_id"],
    "webhook-timestamp": str(VECTOR["webhook_timestamp"]),
    "webhook-signature": VECTOR["webhook_signature"],
}
BODY = VECTOR["body"].encode()
AT = VECTOR["webhook_timestamp"] + 10.0


def test_accepts_the_reference_vector() -> None:
    assert verify(VECTOR["secret"], HEADERS, BODY, AT) is None


def test_accepts_what_the_reference_library_signs_among_several_signatures() -> None:
    """During a secret rotation hookline sends one ``v1,`` token per secret: any one may match."""
    when = datetime.fromtimestamp(AT, tz=UTC)
    other = Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB").sign("msg_1", when, BODY.decode())
    mine = Webhook(VECTOR["secret"]).sign("msg_1", when, BODY.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(AT)), "webhook-signature": f"{other} {mine}"}
    assert verify(VECTOR["secret"], headers, BODY, AT) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"body": BODY + b" "}, "does not match"),
        ({"webhook-id": "msg_other"}, "does not match"),
        ({"webhook-signature": "v1,AAAA"}, "does not match"),
        ({"secret": "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}, "does not match"),
        ({"at": AT + 301}, "more than 5 minutes"),
        ({"at": AT - 400}, "more than 5 minutes"),
        ({"webhook-timestamp": "soon"}, "no webhook-id or webhook-timestamp"),
        ({"webhook-id": ""}, "no webhook-id or webhook-timestamp"),
    ],
)
def test_refuses_what_was_not_signed_with_the_secret_just_now(change: dict[str, object], why: str) -> None:
    headers = {**HEADERS, **{k: v for k, v in change.items() if k.startswith("webhook-")}}
    secret = str(change.get("secret", VECTOR["secret"]))
    body = change.get("body", BODY)
    at = change.get("at", AT)
    assert isinstance(body, bytes) and isinstance(at, float)
    problem = verify(secret, headers, body, at)
    assert problem is not None and why in problem


def test_describes_an_event_in_one_line() -> None:
    event = {
        "type": "job.progress",
        "data": {"job_id": "job_1", "provider": "useapi", "correlation_key": "order-1", "progress": 46},
    }
    line = describe(event, 0.0)
    assert "\n" not in line and line.split()[1:] == ["job.progress", "job_1", "useapi", "order-1", "46%"]
