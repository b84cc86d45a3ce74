"""CredentialKeeper: renew before expiry, renew once when the store says expired, never widen."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from federate.credentials import CredentialKeeper, ScopedCredentials
from federate.errors import PERMISSION_DENIED
from federate.testing.errors import raises_federate_error


class Expired(Exception):
    pass


def creds(token: str, ttl: float | None = 3600) -> ScopedCredentials:
    expires = None if ttl is None else time.time() + ttl
    return ScopedCredentials("test_token", {"token": token}, expires_at=expires)


def test_secrets_stay_out_of_repr():
    text = repr(creds("s3cr3t"))
    assert "s3cr3t" not in text and "token" in text


def test_credentials_about_to_expire_are_renewed_before_use():
    issued = []

    def refresh():
        issued.append(creds(f"fresh-{len(issued)}"))
        return issued[-1]

    keeper = CredentialKeeper(creds("old", ttl=5), refresh, margin_s=60)
    assert keeper.current().values["token"] == "fresh-0"
    assert keeper.current().values["token"] == "fresh-0"  # good for an hour: kept
    assert len(issued) == 1


def test_a_store_refusal_renews_once_and_retries_once():
    keeper = CredentialKeeper(creds("old"), lambda: creds("new"), margin_s=60)
    seen = []

    def request(c):
        seen.append(c.values["token"])
        if c.values["token"] == "old":
            raise Expired()
        return "bytes"

    assert keeper.call(request, lambda e: isinstance(e, Expired)) == "bytes"
    assert seen == ["old", "new"]

    always = CredentialKeeper(creds("a"), lambda: creds("b"), margin_s=0)
    with pytest.raises(Expired):
        always.call(lambda c: (_ for _ in ()).throw(Expired()), lambda e: True)


def test_other_errors_are_not_retried():
    calls = []
    keeper = CredentialKeeper(creds("old"), lambda: creds("new"))

    def request(c):
        calls.append(c)
        raise ValueError("not about credentials")

    with pytest.raises(ValueError):
        keeper.call(request, lambda e: isinstance(e, Expired))
    assert len(calls) == 1


def test_without_a_refresh_callback_an_expiry_is_permission_denied():
    keeper = CredentialKeeper(creds("old"), None)
    with raises_federate_error(PERMISSION_DENIED, "renew"):
        keeper.call(lambda c: (_ for _ in ()).throw(Expired()), lambda e: True)
    nothing = CredentialKeeper(creds("old"), lambda: None)
    with raises_federate_error(PERMISSION_DENIED, "no fresh credentials"):
        nothing.renew(nothing.current())


def test_concurrent_workers_share_one_renewal():
    count, gate = [], threading.Barrier(8)

    def refresh():
        count.append(1)
        time.sleep(0.05)
        return creds("new")

    keeper = CredentialKeeper(creds("old"), refresh)
    stale = keeper.current()

    def worker(_):
        gate.wait()
        return keeper.renew(stale).values["token"]

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(worker, range(8))) == {"new"}
    assert len(count) == 1
