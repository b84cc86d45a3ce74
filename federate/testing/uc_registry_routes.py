"""MLflow's Unity Catalog dialect of the fake workspace (``/api/2.0/mlflow/unity-catalog``).

Registered models and versions read (get, alias, the paged version search, the download
URI) and written (created, updated, renamed, finalized, deleted; aliases and tags set and
deleted), lineage accepted and dropped, and credential requests handed to
:class:`~federate.testing.uc_vending.CredentialVending`. New models keep their versions
under the workspace's storage root (``storage_root``, else a moto bucket made once).
"""

from __future__ import annotations

import base64
import threading
import uuid
from typing import TYPE_CHECKING, Any

from federate.testing.uc_records import API, PENDING, READY, FakeModel, FakeVersion, Refusal

if TYPE_CHECKING:
    from federate.testing.s3 import MotoS3


class RegistryRoutes:
    """The MLflow-dialect routes of :class:`~federate.testing.uc_workspace.UcWorkspace`."""

    moto: MotoS3 | None
    page_size: int
    storage_root: str
    files_api: bool
    models: dict[str, FakeModel]
    _root_bucket: str | None
    _lock: threading.RLock

    if TYPE_CHECKING:

        def add_model(self, name: str) -> FakeModel: ...

        def add_version(
            self, name: str, storage_location: str, status: str = ..., source: str | None = ...
        ) -> int: ...

        def _credentials(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def _model(self, params: dict[str, Any]) -> FakeModel:
        name = str(params.get("name") or "")
        if not name:
            raise Refusal(400, "Missing required field: name")
        model = self.models.get(name)
        if model is None:
            raise Refusal(404, f"Routine or Model '{name}' does not exist.")
        return model

    def _version(self, params: dict[str, Any]) -> FakeVersion:
        model = self._model(params)
        raw = str(params.get("version") or "")
        if not raw.isdigit():
            raise Refusal(400, f"Invalid version {raw!r}: must be a positive integer")
        found = model.versions.get(int(raw))
        if found is None:
            raise Refusal(404, f"Model Version '{model.name}' version {raw} does not exist.")
        return found

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("filter") or "")
        if not (text.startswith("name='") and text.endswith("'")):
            raise Refusal(400, f"Unsupported filter query: {text!r}; use name='<full name>'")
        model = self.models.get(text[6:-1])
        versions = sorted(model.versions.values(), key=lambda v: v.version) if model else []
        limit = min(int(params.get("max_results") or 10000), self.page_size)
        token = str(params.get("page_token") or "")
        start = int(base64.b64decode(token).decode()) if token else 0
        page = versions[start : start + limit]
        answer: dict[str, Any] = {"model_versions": [v.message([]) for v in page]}
        if start + limit < len(versions):
            answer["next_page_token"] = base64.b64encode(str(start + limit).encode()).decode()
        return answer

    def _storage_root(self) -> str:
        """Where models created through the API keep their versions: ``storage_root``
        if set, else a moto bucket (made once)."""
        if self.storage_root:
            return self.storage_root.rstrip("/")
        if self._root_bucket is None:
            if self.moto is None:
                raise Refusal(400, "This fake stores new versions in moto's S3 only")
            bucket = f"uc-root-{uuid.uuid4().hex[:16]}"
            self.moto.client().create_bucket(Bucket=bucket)
            self._root_bucket = bucket
        return f"s3://{self._root_bucket}"

    def _registry_answer(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """The answer to a request in MLflow's dialect (``API`` prefix) or to no dialect."""
        route = (method, path[len(API) :] if path.startswith(API) else path)
        with self._lock:
            if route == ("GET", "/registered-models/get"):
                return {"registered_model": self._model(params).message()}
            written = self._write(route, params)
            if written is not None:
                return written
            if route == ("GET", "/model-versions/get"):
                version = self._version(params)
                aliases = self.models[version.name].aliases_of(version.version)
                return {"model_version": version.message(aliases)}
            if route == ("GET", "/model-versions/get-download-uri"):
                return {"artifact_uri": self._version(params).storage_location}
            if route == ("GET", "/registered-models/alias"):
                model = self._model(params)
                alias = str(params.get("alias") or "")
                if alias not in model.aliases:
                    raise Refusal(404, f"Alias '{alias}' does not exist on '{model.name}'.")
                found = model.versions[model.aliases[alias]]
                return {"model_version": found.message(model.aliases_of(found.version))}
            if route == ("GET", "/model-versions/search"):
                return self._search(params)
            if route == (
                "GET",
                "/registered-models:is-databricks-sdk-models-artifact-repository-enabled",
            ):
                return {"is_databricks_sdk_models_artifact_repository_enabled": self.files_api}
        if route == ("POST", "/model-versions/emit-lineage"):
            self._version(params)
            return {}  # lineage is not kept here
        if route == ("POST", "/model-versions/generate-temporary-credentials"):
            return self._credentials(params)
        raise Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")

    def _write(self, route: tuple[str, str], params: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a write endpoint, None for any other (the caller holds the lock)."""
        method, endpoint = route
        if route == ("POST", "/registered-models/create"):
            name = str(params.get("name") or "")
            if name.count(".") != 2:
                raise Refusal(400, f"Invalid name {name!r}: expected catalog.schema.model")
            if name in self.models:
                raise Refusal(
                    400, f"Registered model '{name}' already exists.", "RESOURCE_ALREADY_EXISTS"
                )
            model = self.add_model(name)
            model.description = str(params.get("description") or "")
            model.tags = {t["key"]: t.get("value", "") for t in params.get("tags") or []}
            model.storage_location = f"{self._storage_root()}/models/{uuid.uuid4()}"
            return {"registered_model": model.message()}
        if route == ("PATCH", "/registered-models/update"):
            model = self._model(params)
            if params.get("description") is not None:
                model.description = str(params["description"])
            new_name = params.get("new_name")
            if new_name and new_name != model.name:
                if new_name in self.models:
                    raise Refusal(400, f"'{new_name}' already exists.", "RESOURCE_ALREADY_EXISTS")
                del self.models[model.name]
                model.name = str(new_name)
                for v in model.versions.values():
                    v.name = model.name
                self.models[model.name] = model
            return {"registered_model": model.message()}
        if route == ("DELETE", "/registered-models/delete"):
            del self.models[self._model(params).name]
            return {}
        if route == ("POST", "/model-versions/create"):
            model = self._model(params)
            if not model.storage_location:
                model.storage_location = f"{self._storage_root()}/models/{uuid.uuid4()}"
            number = self.add_version(
                model.name,
                f"{model.storage_location}/versions/{uuid.uuid4()}",
                PENDING,
                str(params.get("source") or ""),
            )
            version = model.versions[number]
            version.description = str(params.get("description") or "")
            version.tags = {t["key"]: t.get("value", "") for t in params.get("tags") or []}
            return {"model_version": version.message([])}
        if route == ("POST", "/model-versions/finalize"):
            version = self._version(params)
            if version.status != PENDING:
                raise Refusal(400, f"Model version {version.version} is {version.status}")
            version.status = READY
            aliases = self.models[version.name].aliases_of(version.version)
            return {"model_version": version.message(aliases)}
        if route == ("PATCH", "/model-versions/update"):
            version = self._version(params)
            if params.get("description") is not None:
                version.description = str(params["description"])
            aliases = self.models[version.name].aliases_of(version.version)
            return {"model_version": version.message(aliases)}
        if route == ("DELETE", "/model-versions/delete"):
            version = self._version(params)
            model = self.models[version.name]
            del model.versions[version.version]
            model.aliases = {a: v for a, v in model.aliases.items() if v != version.version}
            return {}
        if route == ("POST", "/registered-models/alias"):
            version = self._version(params)
            alias = str(params.get("alias") or "")
            self.models[version.name].aliases[alias] = version.version
            return {}
        if route == ("DELETE", "/registered-models/alias"):
            model = self._model(params)
            model.aliases.pop(str(params.get("alias") or ""), None)
            return {}
        if endpoint in ("/registered-models/set-tag", "/registered-models/delete-tag"):
            tags = self._model(params).tags
        elif endpoint in ("/model-versions/set-tag", "/model-versions/delete-tag"):
            tags = self._version(params).tags
        else:
            return None
        key = str(params.get("key") or "")
        if method == "POST" and endpoint.endswith("/set-tag"):
            tags[key] = str(params.get("value") or "")
            return {}
        if method == "DELETE" and endpoint.endswith("/delete-tag"):
            if key not in tags:
                raise Refusal(404, f"Tag '{key}' does not exist.")
            del tags[key]
            return {}
        return None
