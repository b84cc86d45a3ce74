"""The ``uc:`` registry: an open-source Unity Catalog server (``/api/2.1/unity-catalog``),
``federate serve`` or the reference server.

Reads: versions by number; ``latest``, the highest READY version, by reading every page
of the version list (the API promises no order); ``@alias`` through the native alias
routes, which the reference server lacks (then NOT_IMPLEMENTED, said as such). Files:
``file:`` locations are read and written in place (no credentials asked: the reference
server refuses them); other locations with the credentials the server vends for the
version. Writes: models, versions (create -> READ_WRITE credentials -> upload ->
finalize, as :func:`federate.register` does), aliases.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from federate.config import RegistryConfig
from federate.credentials import ScopedCredentials
from federate.entities import PENDING_REGISTRATION, READY, ModelVersion, RegisteredModel
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    FederateError,
)
from federate.names import check_alias
from federate.registry.base import as_version
from federate.registry.uc import native, oss_wire
from federate.registry.uc.names import full_name
from federate.registry.uc.native import API
from federate.registry.uc.oss_server import server_for
from federate.registry.uc.resolution import UnityCatalogResolution
from federate.registry.uc.rest import EndpointMissing, UcRestClient

_split = native.split_name
_model_path = native.model_path


class UcOssRegistry(UnityCatalogResolution):
    """Models of an open-source Unity Catalog server, read and registered over REST."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self.server = server_for(config.uri)
        self.client = UcRestClient(self.server)

    def __repr__(self) -> str:
        return f"UcOssRegistry({self.server!r})"

    def _not_implemented(self, op: str) -> FederateError:
        return FederateError(
            f"The uc: registry does not support {op} (the Unity Catalog API has no such call)",
            NOT_IMPLEMENTED,
        )

    # -- reads -------------------------------------------------------------------------

    def get_registered_model(self, name: str) -> RegisteredModel:
        return native.get_registered_model(self.client, name, aliases=False)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return native.get_model_version(self.client, name, as_version(version), aliases=False)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        check_alias(alias, lookup=True)
        try:
            answer = self.client.get(f"{_model_path(name)}/aliases/{quote(alias, safe='')}")
        except EndpointMissing:
            raise FederateError(
                f"models:/{name}@{alias}: the Unity Catalog server at {self.server.host} has "
                "no alias routes (the open-source API has none; federate serve and "
                "Databricks do): load a version by number or models:/<name>/latest",
                NOT_IMPLEMENTED,
            ) from None
        return oss_wire.model_version(answer, name)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, all pages read."""
        return native.list_versions(self.client, name)

    # -- credentials -------------------------------------------------------------------

    def _credentials(self, mv: ModelVersion, operation: str) -> ScopedCredentials | None:
        if (mv.storage_location or "").startswith("file:"):
            return None  # read and written in place; the reference server refuses to vend
        answer = native.temporary_credentials(self.client, mv, write=operation == native.READ_WRITE)
        return oss_wire.credentials(answer, f"{mv.name!r} version {mv.version}")

    def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        if model_version.status != READY:
            raise FederateError(
                f"{model_version.name!r} version {model_version.version} is "
                f"{model_version.status}, not READY: its files are not complete",
                INVALID_PARAMETER_VALUE,
            )
        return self._credentials(model_version, oss_wire.READ)

    def upload_location(self, model_version: ModelVersion) -> str | None:
        """The location the server chose for the pending version's files."""
        if not model_version.storage_location:
            raise FederateError(
                f"The Unity Catalog server gave {model_version.name!r} version "
                f"{model_version.version} no storage_location",
                INTERNAL_ERROR,
            )
        return model_version.storage_location

    def write_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """READ_WRITE credentials for the pending version (none for a file: location)."""
        return self._credentials(model_version, oss_wire.READ_WRITE)

    # -- writes ------------------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        if tags:
            raise self._not_implemented("tags on models")
        parts = _split(name)
        body: dict[str, Any] = {
            "name": parts["model_name"],
            "catalog_name": parts["catalog_name"],
            "schema_name": parts["schema_name"],
        }
        if description:
            body["comment"] = description
        return oss_wire.registered_model(self.client.post(f"{API}/models", body), name)

    def delete_registered_model(self, name: str) -> None:
        self.client.call("DELETE", _model_path(name), None)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        *,
        status: str = READY,
        **kwargs: Any,
    ) -> ModelVersion:
        """A new version, PENDING_REGISTRATION at the location the server chose;
        ``status=READY`` (the default, as MLflow's) finalizes it at once."""
        if tags:
            raise self._not_implemented("tags on model versions")
        body: dict[str, Any] = {**_split(name), "source": source}
        if run_id:
            body["run_id"] = run_id
        if description:
            body["comment"] = description
        mv = oss_wire.model_version(self.client.post(f"{API}/models/versions", body), name)
        if status != PENDING_REGISTRATION:
            return self.finish_model_version(name, mv.version, mv.storage_location or "")
        return mv

    def finish_model_version(
        self, name: str, version: int | str, storage_location: str
    ) -> ModelVersion:
        number = as_version(version)
        answer = self.client.call(
            "PATCH",
            f"{_model_path(name)}/versions/{number}/finalize",
            {"full_name": full_name(name), "version": number},
        )
        return oss_wire.model_version(answer, name)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.client.call("DELETE", f"{_model_path(name)}/versions/{as_version(version)}", None)

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        number = as_version(version)
        try:
            self.client.call(
                "PUT",
                f"{_model_path(name)}/aliases/{quote(alias, safe='')}",
                {"full_name": full_name(name), "alias": alias, "version_num": number},
            )
        except EndpointMissing:
            raise FederateError(
                f"The Unity Catalog server at {self.server.host} has no alias routes",
                NOT_IMPLEMENTED,
            ) from None

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.client.call("DELETE", f"{_model_path(name)}/aliases/{quote(alias, safe='')}", None)
