"""Masking the tokens: in paths that are logged or echoed, and in callback bodies however JSON
spells the token."""

from __future__ import annotations

import json

import pytest

from hookline.tokens import redact, redact_path

TOKEN = "callback-token-for-tests-0123456789"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/callbacks/mjproxy/{TOKEN}", "/callbacks/mjproxy/***"),
        (f"/callbacks/{TOKEN}", "/callbacks/***"),
        (f"//callbacks/mjproxy/{TOKEN}", "//callbacks/mjproxy/***"),
        (f"/callbacks/{TOKEN}/{TOKEN}", "/callbacks/***/***"),
        ("/callbacks/mjproxy/a-wrong-token-perhaps-an-old-one", "/callbacks/mjproxy/***"),
        (f"/v1/jobs/{TOKEN}", "/v1/jobs/***"),
        ("/v1/callbacks/cb_01JABCDEFGHJKMNPQRSTVWXYZ0", "/v1/callbacks/cb_01JABCDEFGHJKMNPQRSTVWXYZ0"),
    ],
)
def test_paths_never_show_a_token(path: str, shown: str) -> None:
    assert redact_path(path, (TOKEN, "")) == shown


@pytest.mark.parametrize("hex_digits", ["04x", "04X"])
def test_every_json_spelling_of_the_token_is_masked(hex_digits: str) -> None:
    spelled = "".join(f"\\u{ord(c):{hex_digits}}" if i % 2 else c for i, c in enumerate(TOKEN))
    body = f'{{"replyUrl": "https://h/callbacks/useapi/{spelled}", "prompt": "caf\\u00e9"}}'.encode()
    assert json.loads(redact(body, TOKEN)) == {"replyUrl": "https://h/callbacks/useapi/***", "prompt": "café"}


def test_a_body_without_the_token_is_left_as_it_is() -> None:
    body = b'{"prompt": "caf\\u00e9 \\u0063allback", "id": "1"}'
    assert redact(body, TOKEN) is body


def test_a_percent_encoded_token_is_masked() -> None:
    """An upstream that percent-encodes the callback URL it echoes still never shows the token."""
    spelled = "".join(f"%{ord(c):02X}" if i % 3 == 0 else c for i, c in enumerate(TOKEN))
    body = f'{{"notifyHook": "https://h/callbacks/mjproxy/{spelled}", "progress": "46%"}}'.encode()
    assert json.loads(redact(body, TOKEN)) == {"notifyHook": "https://h/callbacks/mjproxy/***", "progress": "46%"}


def test_a_progress_with_a_percent_sign_is_left_as_it_is() -> None:
    body = b'{"progress": "46%", "imageUrl": "https://cdn/a%20b.png"}'
    assert redact(body, TOKEN) == body
