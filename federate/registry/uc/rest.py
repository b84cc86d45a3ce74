"""The HTTP client a Unity Catalog registry talks to its workspace through.

The workspace token goes as a bearer token, and only to the workspace host. Retries and
the mapping of answers onto FederateErrors are those of every REST registry
(:mod:`federate.registry.rest_client`); messages name the workspace and where the token
came from, never the token.
"""

from __future__ import annotations

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
                credentials_source=f"the token from {workspace.token_source}",
                probe=f"is it a {workspace.kind} with Unity Catalog?",
                secrets=(workspace.token,) if workspace.token else (),
            )
        )

    def __repr__(self) -> str:
        return f"UcRestClient({self.workspace!r})"


__all__ = ["EndpointMissing", "UcRestClient"]
