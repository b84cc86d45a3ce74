"""How webhook signing secrets are kept in the registry database.

With ``FEDERATE_WEBHOOKS_SECRET_KEY`` set to a Fernet key (make one with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``),
secrets are stored encrypted (``fernet:<token>``), so a database dump or backup does not
hold them; every process that delivers events then needs the same key. Without it they
are stored as given (``plain:<secret>``). The tag says which, so stored values are never
ambiguous, and a database may hold both while a key is introduced. Changing the key
needs each secret set again (``update_webhook(id, secret=...)``).
"""

from __future__ import annotations

import os
from typing import Any

from federate.errors import INTERNAL_ERROR, FederateError

KEY_ENV = "FEDERATE_WEBHOOKS_SECRET_KEY"
_PLAIN = "plain:"
_FERNET = "fernet:"


def _fernet(key: str) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError as err:
        raise FederateError(
            f"{KEY_ENV} is set, which needs the 'cryptography' package: "
            "pip install 'federate[webhooks]'",
            INTERNAL_ERROR,
        ) from err
    try:
        return Fernet(key.encode())
    except ValueError as err:
        raise FederateError(
            f"{KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes)", INTERNAL_ERROR
        ) from err


def seal(secret: str | None) -> str | None:
    """What to store for ``secret``: encrypted when the key is set, tagged either way."""
    if secret is None:
        return None
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        return _PLAIN + secret
    return _FERNET + _fernet(key).encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(stored: str | None) -> str | None:
    """The secret a stored value holds; FederateError if it is encrypted and the key is
    missing or another one (the message never contains the secret or the key)."""
    if stored is None:
        return None
    if stored.startswith(_PLAIN):
        return stored[len(_PLAIN) :]
    if not stored.startswith(_FERNET):
        raise FederateError("A webhook secret is stored in an unknown format", INTERNAL_ERROR)
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise FederateError(
            f"This webhook's secret is encrypted: set {KEY_ENV} to the key it was stored with",
            INTERNAL_ERROR,
        )
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(key).decrypt(stored[len(_FERNET) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise FederateError(
            f"This webhook's secret was encrypted with another key than {KEY_ENV} holds; "
            "set it again with update_webhook(id, secret=...)",
            INTERNAL_ERROR,
        ) from None
