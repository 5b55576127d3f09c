"""Standard Webhooks signing: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

The signature is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the base64
part of a ``whsec_`` secret; during a rotation there is one ``v1,`` token per active secret,
separated by single spaces. Verifiable with the ``standardwebhooks`` and ``svix`` packages.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    """A new ``whsec_`` secret with 24 random bytes (as Svix makes them)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret. Raises ValueError for a malformed one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a secret starts with 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret starts with 'whsec_' followed by base64") from None
    if not 16 <= len(key) <= 64:
        raise ValueError("a secret must hold 16 to 64 bytes (24 is usual)")
    return key


@functools.lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    # Every attempt signs: decode and check each secret once, not per attempt.
    return secret_key(secret)


def sign(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1,`` token per secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(_key(secret), signed, hashlib.sha256)).decode() for secret in secrets
    )


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header a delivery attempt carries."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }
