"""Secrets at rest: tagged plain without a key, Fernet-encrypted with one."""

from __future__ import annotations

from cryptography.fernet import Fernet

from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.webhooks.secrets import KEY_ENV, seal, unseal


def test_round_trips_with_and_without_a_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert seal(None) is None and unseal(None) is None
    assert unseal(seal("päss")) == "päss"
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    sealed = seal("päss")
    assert sealed.startswith("fernet:") and "päss" not in sealed
    assert unseal(sealed) == "päss"
    assert unseal("plain:old") == "old"  # stored before the key was introduced


def test_a_malformed_key_or_stored_value_is_an_error_without_the_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-a-key-0123")
    with raises_federate_error(INTERNAL_ERROR, f"{KEY_ENV} is not a Fernet key") as _:
        seal("s")
    with raises_federate_error(INTERNAL_ERROR, "unknown format"):
        unseal("rot13:f")
