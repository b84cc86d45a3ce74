"""The Unity Catalog registry over MLflow's default dialect, ``/api/2.0/mlflow/unity-catalog``,
or for reads and credentials the native one (``FEDERATE_UC_NATIVE``, :mod:`.native`).

Reads: versions by number, by ``@alias`` and ``latest`` (the highest READY version, found
by paging the version search: MLflow refuses ``latest`` for Unity Catalog, which has no
ordering guarantee, so every page is read), and scoped read credentials per version
(``generate-temporary-credentials``), renewed through this registry by the repository
(:class:`federate.credentials.CredentialKeeper`).

Writes, as :func:`federate.register` drives them: create the model, create a version (the
workspace makes it ``PENDING_REGISTRATION`` and chooses its storage location), upload with
``READ_WRITE`` credentials vended for it, finalize (``READY``); a failed upload deletes
the version. Aliases, tags, descriptions, renames and deletes go through the API too.
What the API cannot do (stages, a version created READY without an upload) is
NOT_IMPLEMENTED saying so.
"""

from __future__ import annotations

import threading
from typing import Any

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
from federate.registry.base import as_version, check_name
from federate.registry.uc import files_api, native, wire
from federate.registry.uc.modes import native_dialect
from federate.registry.uc.names import full_name
from federate.registry.uc.paging import every_item
from federate.registry.uc.resolution import UnityCatalogResolution
from federate.registry.uc.rest import UcRestClient
from federate.registry.uc.workspace import Workspace, workspace_for

API = "/api/2.0/mlflow/unity-catalog"
#: versions asked for per page of the version search (servers may answer fewer)
SEARCH_PAGE_SIZE = 1000


class UcRegistry(UnityCatalogResolution):
    """A Databricks workspace's Unity Catalog models, read through its REST API."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self._client = UcRestClient(workspace_for(config.uri))
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"UcRegistry({self._client.workspace!r})"

    @property
    def workspace(self) -> Workspace:
        return self.client.workspace

    @property
    def client(self) -> UcRestClient:
        """The client for the workspace the URI means now: the variables and profiles are
        read on every call (an opened registry is reused for the process), so a changed
        ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` or profile is never answered by the
        workspace read before, whose versions would be cached under the new one's key."""
        workspace = workspace_for(self.config.uri)
        client = self._client
        if client.workspace != workspace:
            with self._client_lock:
                if self._client.workspace != workspace:
                    self._client = UcRestClient(workspace)
                client = self._client
        return client

    def _not_implemented(self, op: str) -> FederateError:
        return FederateError(
            f"The Unity Catalog registry does not support {op} (not in the API federate "
            "speaks to Databricks)",
            NOT_IMPLEMENTED,
        )

    # -- resolution --------------------------------------------------------------------

    def get_registered_model(self, name: str) -> RegisteredModel:
        if native_dialect():
            return native.get_registered_model(self.client, name, aliases=True)
        answer = self.client.get(f"{API}/registered-models/get", {"name": full_name(name)})
        return wire.registered_model(answer.get("registered_model"), name)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        number = as_version(version)
        if native_dialect():
            return native.get_model_version(self.client, name, number, aliases=True)
        answer = self.client.get(
            f"{API}/model-versions/get", {"name": full_name(name), "version": str(number)}
        )
        return wire.model_version(answer.get("model_version"), name)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        check_alias(alias, lookup=True)
        if native_dialect():
            return native.get_model_version_by_alias(self.client, name, alias)
        answer = self.client.get(
            f"{API}/registered-models/alias", {"name": full_name(name), "alias": alias}
        )
        return wire.model_version(answer.get("model_version"), name)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        if native_dialect():  # no download-uri route: the version's storage_location
            return super().get_model_version_download_uri(name, version)
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
        if native_dialect():
            return native.list_versions(self.client, name)
        name = full_name(name)
        items = every_item(
            lambda token: self.client.get(
                f"{API}/model-versions/search",
                {"filter": f"name='{name}'", "max_results": SEARCH_PAGE_SIZE, "page_token": token},
            ),
            "model_versions",
            f"the version search of {name!r}",
        )
        return [wire.model_version(item, name) for item in items]

    # -- credentials -------------------------------------------------------------------

    def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Read-only credentials for the version's files, vended by the workspace for it;
        for a version in Databricks-managed default storage, a presigned URL per file
        from the Files API (:mod:`.default_storage`); in Files-API mode, a URL per file
        on the Files API itself (:mod:`.files_api`)."""
        what = f"{model_version.name!r} version {model_version.version}"
        if model_version.status != READY:
            raise FederateError(
                f"{what} is {model_version.status}, not READY: its files are not complete",
                INVALID_PARAMETER_VALUE,
            )
        if files_api.in_use(self.client):
            return files_api.read_credentials(
                self.client, full_name(model_version.name), model_version.version
            )
        vended = self._vend(model_version, write=False)
        if isinstance(vended, dict) and vended.get("storage_mode") == wire.DEFAULT_STORAGE:
            from federate.registry.uc.default_storage import presigned_files

            return presigned_files(
                self.client, full_name(model_version.name), model_version.version
            )
        return wire.credentials(vended, what)

    def upload_location(self, model_version: ModelVersion) -> str | None:
        """The location the workspace chose for the pending version's files."""
        location = (
            model_version.storage_location
            or self.get_model_version(model_version.name, model_version.version).storage_location
        )
        if not location:
            raise FederateError(
                f"The workspace gave {model_version.name!r} version {model_version.version} "
                "no storage location to upload to",
                INTERNAL_ERROR,
            )
        return location

    def write_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Credentials to upload a PENDING_REGISTRATION version's files (the workspace
        vends them only until the version is finalized)."""
        name = full_name(model_version.name)
        if files_api.in_use(self.client):
            return files_api.write_credentials(self.client, name, model_version.version)
        vended = self._vend(model_version, write=True)
        if isinstance(vended, dict) and vended.get("storage_mode") == wire.DEFAULT_STORAGE:
            # Databricks keeps the files itself: they go in through the Files API
            return files_api.write_credentials(self.client, name, model_version.version)
        what = f"uploading {model_version.name!r} version {model_version.version}"
        return wire.credentials(vended, what)

    def _vend(self, model_version: ModelVersion, write: bool) -> Any:
        """The ``TemporaryCredentials`` the workspace vends for the version, over the
        dialect in use (wrapped in ``credentials`` in MLflow's, flat in the native one)."""
        if native_dialect():
            return native.temporary_credentials(self.client, model_version, write)
        answer = self.client.post(
            f"{API}/model-versions/generate-temporary-credentials",
            {
                "name": full_name(model_version.name),
                "version": str(model_version.version),
                "operation": wire.OPERATION_READ_WRITE if write else wire.OPERATION_READ,
            },
        )
        return answer.get("credentials")

    # -- writes ------------------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        check_name(full_name(name))
        body: dict[str, Any] = {"name": name, "tags": wire.tag_list(tags)}
        if description is not None:
            body["description"] = description
        answer = self.client.post(f"{API}/registered-models/create", body)
        return wire.registered_model(answer.get("registered_model"), name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = {"name": full_name(name), "new_name": full_name(new_name)}
        answer = self.client.call("PATCH", f"{API}/registered-models/update", body)
        return wire.registered_model(answer.get("registered_model"), new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        body = {"name": full_name(name), "description": description or ""}
        answer = self.client.call("PATCH", f"{API}/registered-models/update", body)
        return wire.registered_model(answer.get("registered_model"), name)

    def delete_registered_model(self, name: str) -> None:
        self.client.call("DELETE", f"{API}/registered-models/delete", {"name": full_name(name)})

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
        """A new version, ``PENDING_REGISTRATION`` until its files are uploaded and it is
        finalized (:meth:`finish_model_version`). Unity Catalog keeps every version's files
        itself, so a version pointing at files elsewhere (``status=READY`` at once, as
        MlflowClient does for other registries) is NOT_IMPLEMENTED."""
        if status != PENDING_REGISTRATION:
            raise FederateError(
                "Unity Catalog versions cannot be created READY pointing at files elsewhere: "
                "the workspace stores each version's files itself. Use federate.register(src, "
                f"{name!r}, registry_uri=...) to upload a local copy",
                NOT_IMPLEMENTED,
            )
        body: dict[str, Any] = {"name": full_name(name), "source": source}
        body.update(
            (key, value)
            for key, value in (
                ("run_id", run_id),
                ("description", description),
                ("model_id", model_id),
            )
            if value
        )
        body["tags"] = wire.tag_list(tags)
        answer = self.client.post(f"{API}/model-versions/create", body)
        return wire.model_version(answer.get("model_version"), name)

    def finish_model_version(
        self, name: str, version: int | str, storage_location: str
    ) -> ModelVersion:
        """Finalize the version (READY); its files are at the location the workspace chose,
        which is what ``storage_location`` holds."""
        answer = self.client.post(
            f"{API}/model-versions/finalize",
            {"name": full_name(name), "version": str(as_version(version))},
        )
        return wire.model_version(answer.get("model_version"), name)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        body = {
            "name": full_name(name),
            "version": str(as_version(version)),
            "description": description or "",
        }
        answer = self.client.call("PATCH", f"{API}/model-versions/update", body)
        return wire.model_version(answer.get("model_version"), name)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.client.call(
            "DELETE",
            f"{API}/model-versions/delete",
            {"name": full_name(name), "version": str(as_version(version))},
        )

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        raise FederateError(
            "Unity Catalog has no stages: set an alias instead "
            f"(set_registered_model_alias({name!r}, 'champion', {version!r})) and load "
            f"models:/{name}@champion",
            NOT_IMPLEMENTED,
        )

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": full_name(name), "key": key, "value": value}
        self.client.post(f"{API}/registered-models/set-tag", body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        body = {"name": full_name(name), "key": key}
        self.client.call("DELETE", f"{API}/registered-models/delete-tag", body)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        body = {
            "name": full_name(name),
            "version": str(as_version(version)),
            "key": key,
            "value": value,
        }
        self.client.post(f"{API}/model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        body = {"name": full_name(name), "version": str(as_version(version)), "key": key}
        self.client.call("DELETE", f"{API}/model-versions/delete-tag", body)

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        body = {"name": full_name(name), "alias": alias, "version": str(as_version(version))}
        self.client.post(f"{API}/registered-models/alias", body)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        check_alias(alias, lookup=True)
        body = {"name": full_name(name), "alias": alias}
        self.client.call("DELETE", f"{API}/registered-models/alias", body)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        raise FederateError(
            "Unity Catalog stores each version's files itself, so a version cannot point at "
            "another's files: download the source and federate.register it",
            NOT_IMPLEMENTED,
        )
