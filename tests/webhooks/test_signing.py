"""The signature scheme, checked against an independent computation of the documented one."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from federate.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    delivery_headers,
    signature,
    verify,
)

SECRET = "whsec-test-ünïcode"
BODY = b'{"data":{"name":"m","version":3},"event":"model_version.created"}'
NOW = 1_795_000_000.0


def test_signature_is_hmac_sha256_over_id_timestamp_and_body():
    expected = hmac.new(
        SECRET.encode("utf-8"), b"d-1." + b"1795000000." + BODY, hashlib.sha256
    ).hexdigest()
    assert signature(SECRET, "d-1", "1795000000", BODY) == f"v1={expected}"


def test_headers_carry_delivery_event_timestamp_and_signature():
    headers = delivery_headers("model_version.created", "d-1", BODY, SECRET, now=NOW)
    assert headers[DELIVERY_HEADER] == "d-1"
    assert headers[EVENT_HEADER] == "model_version.created"
    assert headers[TIMESTAMP_HEADER] == "1795000000"
    assert headers["Content-Type"] == "application/json"
    assert headers[SIGNATURE_HEADER] == signature(SECRET, "d-1", "1795000000", BODY)
    assert SECRET not in repr(headers)


def test_without_a_secret_deliveries_are_unsigned():
    assert SIGNATURE_HEADER not in delivery_headers("prompt.created", "d-1", BODY, None, now=NOW)


def test_verify_accepts_the_signed_request_with_any_header_case():
    headers = delivery_headers("model_version.created", "d-1", BODY, SECRET, now=NOW)
    assert verify(SECRET, headers, BODY, now=NOW + 10)
    assert verify(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=NOW)
    assert verify(SECRET, {k.upper(): v for k, v in headers.items()}, BODY, now=NOW)


@pytest.mark.parametrize(
    "change",
    [
        "body",
        "secret",
        "delivery id",
        "timestamp",
        "too old",
        "from the future",
        "no signature",
        "bad timestamp",
    ],
)
def test_verify_rejects_anything_altered(change):
    headers = delivery_headers("model_version.created", "d-1", BODY, SECRET, now=NOW)
    body, secret, now = BODY, SECRET, NOW
    if change == "body":
        body = BODY.replace(b"3", b"4")
    elif change == "secret":
        secret = "another secret"
    elif change == "delivery id":
        headers[DELIVERY_HEADER] = "d-2"
    elif change == "timestamp":
        headers[TIMESTAMP_HEADER] = "1795000001"
    elif change == "too old":
        now = NOW + 301
    elif change == "from the future":
        now = NOW - 301
    elif change == "no signature":
        del headers[SIGNATURE_HEADER]
    elif change == "bad timestamp":
        headers[TIMESTAMP_HEADER] = "soon"
    assert not verify(secret, headers, body, now=now)
