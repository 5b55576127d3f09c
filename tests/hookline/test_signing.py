"""Signing matches the Standard Webhooks test vectors and both reference verifiers."""

from __future__ import annotations

import time

import pytest
import standardwebhooks
import svix.webhooks

from hookline import signing
from tests.support import fixture_json


def test_matches_the_standard_webhooks_vector() -> None:
    vector = fixture_json("standard-webhooks-vectors.json")["vectors"][0]
    assert vector["name"] == "v1_hmac_sha256"
    signature = signing.sign(
        [vector["secret"]], vector["webhook_id"], vector["webhook_timestamp"], vector["body"].encode()
    )
    assert signature == vector["webhook_signature"]


def test_generated_secrets_verify_with_both_libraries() -> None:
    secret = signing.generate_secret()
    body = b'{"type":"job.succeeded","data":{}}'
    ts = int(time.time())
    headers = signing.headers([secret], "msg_1", ts, body)
    standardwebhooks.Webhook(secret).verify(body, headers)
    svix.webhooks.Webhook(secret).verify(body, headers)


def test_a_tampered_body_fails_verification() -> None:
    secret = signing.generate_secret()
    headers = signing.headers([secret], "msg_1", int(time.time()), b'{"a":1}')
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(secret).verify(b'{"a":2}', headers)


def test_one_token_per_secret_separated_by_single_spaces() -> None:
    secrets = [signing.generate_secret(), signing.generate_secret()]
    value = signing.sign(secrets, "msg_1", 1, b"{}")
    assert value.count(" ") == 1 and all(t.startswith("v1,") for t in value.split(" "))


@pytest.mark.parametrize("bad", ["nope", "whsec_", "whsec_!!!", "whsec_AAAA"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        signing.secret_key(bad)
