"""The HTTP client a Unity Catalog registry talks to its workspace through.

The workspace token goes as a bearer token, and only to the workspace host. Retries and
the mapping of answers onto FederateErrors are those of every REST registry
(:mod:`federate.registry.rest_client`); messages name the workspace and where the token
came from, never the token.
"""

from __future__ import annotations

from federate.registry.rest_client import RestClient, RestServer
from federate.registry.uc.workspace import Workspace


class UcRestClient(RestClient):
    """JSON over HTTP to one workspace; thread-safe (one urllib3 pool)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        super().__init__(
            RestServer(
                base_url=workspace.host,
                kind="Databricks workspace",
                headers={"Authorization": f"Bearer {workspace.token}"},
                credentials_source=f"the token from {workspace.token_source}",
                probe="is it a Databricks workspace with Unity Catalog?",
                secrets=(workspace.token,),
            )
        )

    def __repr__(self) -> str:
        return f"UcRestClient({self.workspace!r})"
