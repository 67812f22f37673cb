"""Standard Webhooks signatures (https://www.standardwebhooks.com/): what receivers verify.

The secret is ``whsec_`` and the base64 of 32 random bytes; the HMAC key is those bytes.
Each request carries ``webhook-id`` (the CloudEvent id: stable across retries and
re-sends, so a receiver drops repeats), ``webhook-timestamp`` (Unix seconds when this
try was signed: receivers refuse old ones, which stops replays) and
``webhook-signature: v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh endpoint secret, shown to the admin once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value of one request."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one request."""
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, webhook_id, timestamp, body)}
