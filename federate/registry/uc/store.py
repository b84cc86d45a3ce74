"""The Unity Catalog registry over MLflow's default dialect, ``/api/2.0/mlflow/unity-catalog``.

Read side so far: versions by number, by ``@alias`` and ``latest`` (the highest READY
version, found by paging the version search: MLflow refuses ``latest`` for Unity Catalog,
which has no ordering guarantee, so every page is read), and scoped read credentials per
version (``generate-temporary-credentials``), renewed through this registry by the
repository (:class:`federate.credentials.CredentialKeeper`). Writes are NOT_IMPLEMENTED.
"""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.credentials import ScopedCredentials
from federate.entities import READY, ModelVersion, RegisteredModel
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    FederateError,
)
from federate.names import check_alias
from federate.registry.base import as_version
from federate.registry.uc import wire
from federate.registry.uc.names import full_name
from federate.registry.uc.resolution import UnityCatalogResolution
from federate.registry.uc.rest import UcRestClient
from federate.registry.uc.workspace import workspace_for

API = "/api/2.0/mlflow/unity-catalog"
#: versions asked for per page of the version search (servers may answer fewer)
SEARCH_PAGE_SIZE = 1000
#: pages read before a search is called endless (a server repeating its page token)
MAX_SEARCH_PAGES = 10_000


class UcRegistry(UnityCatalogResolution):
    """A Databricks workspace's Unity Catalog models, read through its REST API."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self.workspace = workspace_for(config.uri)
        self.client = UcRestClient(self.workspace)

    def __repr__(self) -> str:
        return f"UcRegistry({self.workspace!r})"

    def _not_implemented(self, op: str) -> FederateError:
        from federate.errors import NOT_IMPLEMENTED

        return FederateError(
            f"The Unity Catalog registry reads models only so far: {op} is not supported yet",
            NOT_IMPLEMENTED,
        )

    # -- resolution --------------------------------------------------------------------

    def get_registered_model(self, name: str) -> RegisteredModel:
        answer = self.client.get(f"{API}/registered-models/get", {"name": full_name(name)})
        return wire.registered_model(answer.get("registered_model"), name)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        number = as_version(version)
        answer = self.client.get(
            f"{API}/model-versions/get", {"name": full_name(name), "version": str(number)}
        )
        return wire.model_version(answer.get("model_version"), name)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        check_alias(alias, lookup=True)
        answer = self.client.get(
            f"{API}/registered-models/alias", {"name": full_name(name), "alias": alias}
        )
        return wire.model_version(answer.get("model_version"), name)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        answer = self.client.get(
            f"{API}/model-versions/get-download-uri",
            {"name": full_name(name), "version": str(as_version(version))},
        )
        uri = answer.get("artifact_uri")
        if not isinstance(uri, str) or not uri:
            raise FederateError(
                f"The workspace gave no storage location for {name!r} version {version}",
                INTERNAL_ERROR,
            )
        return uri

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, all pages of the search read."""
        name = full_name(name)
        found: list[ModelVersion] = []
        token: str | None = None
        for _ in range(MAX_SEARCH_PAGES):
            answer = self.client.get(
                f"{API}/model-versions/search",
                {"filter": f"name='{name}'", "max_results": SEARCH_PAGE_SIZE, "page_token": token},
            )
            page = answer.get("model_versions") or []
            if not isinstance(page, list):
                raise FederateError(
                    f"The workspace answered a version search of {name!r} without a list",
                    INTERNAL_ERROR,
                )
            found.extend(wire.model_version(item, name) for item in page)
            token = answer.get("next_page_token") or None
            if token is None:
                return found
        raise FederateError(
            f"The version search of {name!r} did not end after {MAX_SEARCH_PAGES} pages",
            INTERNAL_ERROR,
        )

    # -- credentials -------------------------------------------------------------------

    def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Read-only credentials for the version's files, vended by the workspace for it."""
        what = f"{model_version.name!r} version {model_version.version}"
        if model_version.status != READY:
            raise FederateError(
                f"{what} is {model_version.status}, not READY: its files are not complete",
                INVALID_PARAMETER_VALUE,
            )
        answer = self.client.post(
            f"{API}/model-versions/generate-temporary-credentials",
            {
                "name": full_name(model_version.name),
                "version": str(model_version.version),
                "operation": wire.OPERATION_READ,
            },
        )
        return wire.read_credentials(answer.get("credentials"), what)
