"""The HTTP client a Unity Catalog registry talks to its workspace through.

The workspace token goes as a bearer token, and only to the workspace host: a personal
access token as configured, or an OAuth token fetched and renewed for the configured
client credentials (:mod:`.oauth`). Retries and the mapping of answers onto FederateErrors
are those of every REST registry (:mod:`federate.registry.rest_client`); messages name
the workspace and where the token came from, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federate.errors import PERMISSION_DENIED, FederateError
from federate.registry.rest_client import EndpointMissing, RestClient, RestServer
from federate.registry.uc.workspace import Workspace


class UcRestClient(RestClient):
    """JSON over HTTP to one workspace; thread-safe (one urllib3 pool)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        super().__init__(
            RestServer(
                base_url=workspace.host,
                kind=workspace.kind,
                # an OSS Unity Catalog server may run without authentication
                headers={"Authorization": f"Bearer {workspace.token}"} if workspace.token else {},
                credentials_source=(
                    f"an OAuth token for {workspace.token_source}"
                    if workspace.oauth
                    else f"the token from {workspace.token_source}"
                ),
                probe=f"is it a {workspace.kind} with Unity Catalog?",
                secrets=tuple(s for s in (workspace.token, workspace.client_secret) if s),
            )
        )

    def __repr__(self) -> str:
        return f"UcRestClient({self.workspace!r})"

    def auth_headers(self) -> Mapping[str, str]:
        if not self.workspace.oauth:
            return self.server.headers
        from federate.registry.uc.oauth import TOKENS

        return {"Authorization": f"Bearer {TOKENS.bearer(self.workspace)}"}

    def call(self, method: str, path: str, body: Mapping[str, object] | None) -> dict[str, Any]:
        if not self.workspace.oauth:
            return super().call(method, path, body)
        from federate.registry.uc.oauth import TOKENS

        sent = TOKENS.bearer(self.workspace)
        try:
            return super().call(method, path, body)
        except FederateError as err:
            if err.error_code != PERMISSION_DENIED or "(HTTP 401" not in err.message:
                raise
        # the workspace refused a token it issued (revoked before its expiry): once more
        # with a fresh one
        TOKENS.forget(self.workspace, sent)
        return super().call(method, path, body)


__all__ = ["EndpointMissing", "UcRestClient"]
