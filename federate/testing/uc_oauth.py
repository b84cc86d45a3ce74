"""OAuth M2M as a Databricks workspace serves it, for the fake workspace.

``GET /.well-known/databricks-config`` names the OIDC root and
``GET /oidc/.well-known/oauth-authorization-server`` the endpoints under it (the
Databricks SDK reads both before asking for a token); ``POST /oidc/v1/token`` takes
``grant_type=client_credentials`` with a registered client's id and secret as HTTP basic
authentication and issues a bearer token that lives ``ttl_s`` seconds. Errors are OAuth's
``{"error", "error_description"}`` with 400 or 401. Only tokens issued and not expired
(nor revoked with :meth:`OAuthIssuer.revoke_all`) are accepted.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

#: what a workspace says about itself (the Databricks SDK reads its ``oidc_endpoint``)
HOST_METADATA_PATH = "/.well-known/databricks-config"
DISCOVERY_PATH = "/oidc/.well-known/oauth-authorization-server"
TOKEN_PATH = "/oidc/v1/token"


class OAuthIssuer:
    """Service principals (client id -> secret) and the tokens issued to them."""

    def __init__(self, ttl_s: float = 3600.0) -> None:
        self.clients: dict[str, str] = {}
        #: seconds an issued token lives
        self.ttl_s = ttl_s
        #: token -> when it stops being accepted
        self.issued: dict[str, float] = {}
        #: the form fields of every token request, in order
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def add_client(self) -> tuple[str, str]:
        """A new service principal: its (client id, client secret)."""
        client_id = f"sp-{secrets.token_hex(6)}"
        secret = "dose" + secrets.token_hex(16)
        self.clients[client_id] = secret
        return client_id, secret

    def accepts(self, token: str) -> bool:
        with self._lock:
            expires = self.issued.get(token)
        return expires is not None and time.time() < expires

    def revoke_all(self) -> None:
        with self._lock:
            self.issued.clear()

    def host_metadata(self, base_url: str) -> dict[str, Any]:
        return {"oidc_endpoint": f"{base_url}/oidc", "workspace_id": "1234567890123456"}

    def discovery(self, base_url: str) -> dict[str, Any]:
        return {
            "issuer": f"{base_url}/oidc",
            "authorization_endpoint": f"{base_url}/oidc/v1/authorize",
            "token_endpoint": f"{base_url}{TOKEN_PATH}",
        }

    def token(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) to a token request."""
        form = dict(parse_qsl(body.decode("latin-1")))
        with self._lock:
            self.requests.append(form)
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant_type"}
        client_id, secret = _basic(authorization)
        if not client_id or self.clients.get(client_id) != secret:
            refused = "Client authentication failed"
            return 401, {"error": "invalid_client", "error_description": refused}
        if "all-apis" not in form.get("scope", "").split():
            return 400, {"error": "invalid_scope", "error_description": "scope must hold all-apis"}
        token = "eyJfake." + secrets.token_urlsafe(24)
        with self._lock:
            self.issued[token] = time.time() + self.ttl_s
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "scope": "all-apis",
            "expires_in": int(self.ttl_s),
        }


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return "", ""
    return client_id, secret
