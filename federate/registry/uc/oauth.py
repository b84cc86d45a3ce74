"""OAuth M2M for a Databricks workspace: a service principal's client id and secret
exchanged for short-lived bearer tokens.

The exchange is the one the Databricks SDK makes: ``POST <host>/oidc/v1/token``, form
fields ``grant_type=client_credentials`` and ``scope=all-apis``, the client id and secret
as HTTP basic authentication; the answer's ``access_token`` lives ``expires_in`` seconds.
Tokens are held per workspace, client and secret for the whole process (every registry
opened on the same workspace shares one) and renewed before they expire: once less than
half their life, or :data:`RENEW_MARGIN_S`, remains (whichever is less), as the SDK does.
A workspace that refuses a token anyway (revoked early) gets one fresh token, once
(:meth:`OAuthTokens.forget`). The secret and the tokens are registered as secrets: no
message, repr or log record shows them.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass, field

from federate.errors import INTERNAL_ERROR, FederateError
from federate.redaction import register_secret
from federate.registry.rest_client import RestClient, RestServer
from federate.registry.uc.workspace import Workspace

TOKEN_PATH = "/oidc/v1/token"
SCOPE = "all-apis"
#: the most time before its expiry a token is renewed (the SDK's 20 minutes)
RENEW_MARGIN_S = 20 * 60.0


@dataclass
class _Held:
    access_token: str = field(repr=False)
    renew_at: float


def _key(workspace: Workspace) -> tuple[str, str, str]:
    digest = hashlib.sha256(workspace.client_secret.encode()).hexdigest()
    return (workspace.host, workspace.client_id, digest)


def token_client(workspace: Workspace) -> RestClient:
    """A client for the workspace's token endpoint, sending the client credentials as
    basic authentication (and nowhere else)."""
    pair = f"{workspace.client_id}:{workspace.client_secret}".encode()
    basic = base64.b64encode(pair).decode()
    register_secret(basic)
    return RestClient(
        RestServer(
            base_url=workspace.host,
            kind=workspace.kind,
            headers={"Authorization": f"Basic {basic}"},
            credentials_source=f"the client secret of {workspace.token_source}",
            auth_hint=(
                "check the service principal's client id and secret (an OAuth secret "
                "of that principal, not a personal access token)"
            ),
            probe="is it a Databricks workspace with OAuth (/oidc/v1/token)?",
            secrets=(workspace.client_secret, basic),
        )
    )


class OAuthTokens:
    """Bearer tokens per (workspace, client, secret), fetched when missing or due for
    renewal; thread-safe (one fetch at a time per client)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str, str], _Held] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def bearer(self, workspace: Workspace) -> str:
        key = _key(workspace)
        held = self._held.get(key)
        if held is not None and time.time() < held.renew_at:
            return held.access_token
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            held = self._held.get(key)
            if held is None or time.time() >= held.renew_at:
                held = self._held[key] = self._fetch(workspace)
            return held.access_token

    def forget(self, workspace: Workspace, token: str) -> None:
        """Drop ``token`` (the workspace refused it): the next call fetches another."""
        key = _key(workspace)
        with self._guard:
            held = self._held.get(key)
            if held is not None and held.access_token == token:
                del self._held[key]

    def _fetch(self, workspace: Workspace) -> _Held:
        asked = time.time()
        answer = token_client(workspace).post_form(
            TOKEN_PATH, {"grant_type": "client_credentials", "scope": SCOPE}
        )
        token = answer.get("access_token")
        try:
            lifetime = float(answer.get("expires_in"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            lifetime = -1.0
        if not isinstance(token, str) or not token or lifetime <= 0:
            raise FederateError(
                f"{workspace.kind} {workspace.host} answered the OAuth token request for "
                f"{workspace.token_source} without an access_token and expires_in",
                INTERNAL_ERROR,
            )
        register_secret(token)
        return _Held(token, asked + lifetime - min(lifetime / 2, RENEW_MARGIN_S))


#: the process's tokens (registries reopened for a changed configuration share them)
TOKENS = OAuthTokens()
