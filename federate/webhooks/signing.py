"""How federate signs a webhook delivery, and how a receiver checks it.

A delivery is an HTTP POST whose body is a UTF-8 JSON document, with these headers:

``X-Federate-Delivery``
    The delivery's id: a 32-character hex string, the same on every retry of one
    delivery, so a receiver can drop duplicates.
``X-Federate-Event``
    The event name, e.g. ``model_version.created``.
``X-Federate-Timestamp``
    When this attempt was sent, in whole seconds since the Unix epoch (each retry
    carries its own).
``X-Federate-Signature``
    ``v1=<64 lowercase hex digits>``; present only when the webhook has a secret.

The signature is HMAC-SHA256 keyed with the webhook's secret (its UTF-8 bytes) over::

    <delivery id> "." <timestamp header, as sent> "." <raw request body bytes>

hex-encoded. To verify, a receiver recomputes it over the body exactly as received
(before any JSON parsing), compares it in constant time, and refuses a timestamp too far
from its own clock (300 s here), which stops replays of an old, validly signed request.
:func:`verify` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

DELIVERY_HEADER = "X-Federate-Delivery"
EVENT_HEADER = "X-Federate-Event"
TIMESTAMP_HEADER = "X-Federate-Timestamp"
SIGNATURE_HEADER = "X-Federate-Signature"
SIGNATURE_VERSION = "v1"
#: How far a delivery's timestamp may be from the receiver's clock, by default.
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-Federate-Signature`` value for one attempt of a delivery."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def delivery_headers(
    event: str, delivery_id: str, body: bytes, secret: str | None, now: float | None = None
) -> dict[str, str]:
    """The headers of one attempt (signed when ``secret`` is set)."""
    timestamp = str(int(time.time() if now is None else now))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, delivery_id, timestamp, body)
    return headers


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True if ``body`` with ``headers`` was signed with ``secret`` within ``tolerance_s``.

    ``headers`` may use any capitalisation (HTTP header names are case-insensitive).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    delivery_id = lowered.get(DELIVERY_HEADER.lower())
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if not (delivery_id and timestamp and given):
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    expected = signature(secret, delivery_id, timestamp, body)
    return hmac.compare_digest(expected.encode(), given.strip().encode())
