"""A fake Databricks workspace speaking MLflow's Unity Catalog dialect, for tests.

:class:`UcWorkspace` is a real HTTP server on 127.0.0.1 (a free port) answering the
``/api/2.0/mlflow/unity-catalog`` endpoints MLflow's client uses, with the wire shapes of
``databricks_uc_registry_{service,messages}.proto``: registered models, versions as
strings with statuses ``READY``, ``PENDING_REGISTRATION`` and ``FAILED_REGISTRATION``,
aliases, a paged version search (pages of at most ``page_size``, opaque page tokens), the
download URI, and ``generate-temporary-credentials``, which vends session credentials of
moto's read-only role (:mod:`federate.testing.s3`) for versions stored in S3 (``READ``), or
of a read-write role for versions still ``PENDING_REGISTRATION`` (``READ_WRITE``). Writes:
models and versions created (new versions ``PENDING_REGISTRATION`` in a bucket the
workspace chose, until finalized), updated, renamed and deleted, aliases and tags set and
deleted.

Like a workspace it checks the bearer token on every request (401 otherwise) and answers
errors as ``{"error_code": ..., "message": ...}``. Faults are scripted with
:meth:`UcWorkspace.fail_next` (401, 403, 404, 429 with ``Retry-After``, 5xx). Vended
credentials expire: ``credential_ttl_s`` after vending the workspace tells moto to forget
them (:meth:`MotoS3.revoke`), and :meth:`expire_credentials` does so at once, so S3 itself
refuses them (inside :meth:`MotoS3.enforcing_auth`). Every request lands in ``requests``.

Pieces of it live beside it: credential vending (:mod:`.uc_vending`), the native
``/api/2.1/unity-catalog`` dialect (:mod:`.uc_native_routes`), the Files API's
``/api/2.0/fs/files`` (:mod:`.uc_files_api`) and OAuth M2M (:mod:`.uc_oauth`).

``uc_workspace`` (fixture) starts one per test, with a fresh ``federate_home``, moto's
environment and ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` pointing at it; plugin authors
start their own with :func:`start_uc_workspace` and :func:`stop_uc_workspace`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.azure import DEV_ACCOUNT, Azurite
from federate.testing.presigned import SCOPE_HEADER
from federate.testing.s3 import MotoS3
from federate.testing.uc_files_api import FILES_PREFIX, FilesRefusal, serve_file
from federate.testing.uc_native_routes import NATIVE_API, NATIVE_CREDENTIALS, native_answer
from federate.testing.uc_oauth import HOST_METADATA_PATH, OAuthIssuer
from federate.testing.uc_vending import PENDING, READY, CredentialVending

if TYPE_CHECKING:
    from federate.testing.faults import FaultProxy
    from federate.testing.gcs import GcsEmulator
    from federate.testing.presigned import UrlSigner

API = "/api/2.0/mlflow/unity-catalog"
FS_API = "/api/2.0/fs"
#: the Cloudflare account of ``r2://`` locations
R2_ACCOUNT = "0123456789abcdef0123456789abcdef"
FAILED = "FAILED_REGISTRATION"

#: the ``error_code`` a workspace sends with each scripted status
_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


class _Refusal(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _CODES.get(status, "INTERNAL_ERROR")


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _files_path(name: str, version: int) -> str:
    """The Files API directory of a version: ``/Models/<c>/<s>/<m>/<version>``."""
    return "/Models/" + "/".join(name.split(".")) + f"/{version}"


@dataclass
class FakeVersion:
    name: str
    version: int
    status: str
    storage_location: str
    source: str
    created_ms: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def message(self, aliases: list[str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.created_ms,
            "last_updated_timestamp": self.created_ms,
            "user_id": "fake@example.com",
            "source": self.source,
            "status": self.status,
            "storage_location": self.storage_location,
            "description": self.description,
            "aliases": [{"alias": a, "version": str(self.version)} for a in aliases],
            "tags": _tag_list(self.tags),
        }


@dataclass
class FakeModel:
    name: str
    created_ms: int
    versions: dict[int, FakeVersion] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: where new versions' files go (``<storage root>/models/<uuid>``)
    storage_location: str = ""
    #: versions ever created: numbers are not reused after a delete
    last_version: int = 0

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def message(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "creation_timestamp": self.created_ms,
            "last_updated_timestamp": self.created_ms,
            "description": self.description,
            "storage_location": self.storage_location,
            "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(self.aliases.items())],
            "tags": _tag_list(self.tags),
        }


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any]
    status: int


@dataclass
class _Scripted:
    status: int
    retry_after: str | None
    endpoint: str | None
    message: str


class UcWorkspace(CredentialVending):
    """The fake workspace; ``url`` and ``token`` are what ``DATABRICKS_HOST`` and
    ``DATABRICKS_TOKEN`` should hold."""

    def __init__(
        self, moto: MotoS3 | None = None, *, page_size: int = 100, azurite: Azurite | None = None
    ) -> None:
        self.moto = moto
        #: where ``abfss://`` versions live; SAS tokens for them are signed with its key
        self.azurite = azurite
        #: where ``gs://`` versions live, and the proxy in front of it that accepts only
        #: the tokens this workspace vended (the emulator checks none)
        self.gcs: GcsEmulator | None = None
        self.gcs_proxy: FaultProxy | None = None
        self.token = "dapi" + secrets.token_hex(16)
        #: OAuth M2M: service principals (:meth:`OAuthIssuer.add_client`) and their tokens
        self.oauth = OAuthIssuer()
        self.page_size = page_size
        #: seconds vended credentials live (the workspace revokes them then)
        self.credential_ttl_s = 900.0
        #: a ``TemporaryCredentials`` message to vend instead of moto's (other clouds,
        #: ``storage_mode: DEFAULT_STORAGE``), None for moto's
        self.vend_as: dict[str, Any] | None = None
        #: False: READ_WRITE credentials are the read-only role's, so S3 refuses uploads
        #: (inside :meth:`MotoS3.enforcing_auth`)
        self.grant_writes = True
        #: where models created through the API keep their versions (an ``abfss://``
        #: container of ``azurite``, say); unset: a bucket of ``moto``
        self.storage_root = ""
        self._writer_role_arn: str | None = None
        #: what the workspace answers MLflow's question whether models are read and
        #: written through the Files API (``/api/2.0/fs/files``, no vended credentials)
        self.files_api = False
        #: default storage's signed-URL file server (:meth:`use_default_storage`)
        self.default_storage: UrlSigner | None = None
        #: seconds a default-storage download URL lives
        self.url_ttl_s = 900.0
        #: whether a request to default storage carried an Authorization header
        self.storage_saw_authorization = False
        self._in_default_storage: set[tuple[str, int]] = set()
        self._root_bucket: str | None = None
        self.models: dict[str, FakeModel] = {}
        self.requests: list[Request] = []
        self.vended: list[ScopedCredentials] = []
        self._script: list[_Scripted] = []
        self._timers: list[threading.Timer] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="uc-workspace",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"UcWorkspace(url={self.url!r})"

    # -- content -------------------------------------------------------------------------

    def add_model(self, name: str) -> FakeModel:
        with self._lock:
            return self.models.setdefault(name, FakeModel(name, int(time.time() * 1000)))

    def add_version(
        self, name: str, storage_location: str, status: str = READY, source: str | None = None
    ) -> int:
        """A new version of ``name`` (created if missing) stored at ``storage_location``."""
        with self._lock:
            model = self.add_model(name)
            model.last_version = number = max(model.last_version, *model.versions, 0) + 1
            model.versions[number] = FakeVersion(
                name,
                number,
                status,
                storage_location,
                source or f"models:/m-{uuid.uuid4().hex}",
                int(time.time() * 1000),
            )
            return number

    def publish(
        self, name: str, files: dict[str, bytes], status: str = READY, prefix: str = ""
    ) -> int:
        """Store ``files`` in a fresh moto bucket (under ``prefix``) and add a version there."""
        if self.moto is None:
            raise RuntimeError("publish needs a moto server: UcWorkspace(moto)")
        client = self.moto.client()
        bucket = f"uc-{uuid.uuid4().hex[:20]}"
        client.create_bucket(Bucket=bucket)
        root = prefix.strip("/")
        for path, data in files.items():
            client.put_object(Bucket=bucket, Key=f"{root}/{path}" if root else path, Body=data)
        location = f"s3://{bucket}/{root}" if root else f"s3://{bucket}"
        return self.add_version(name, location, status)

    def publish_r2(self, name: str, files: dict[str, bytes], prefix: str = "") -> int:
        """:meth:`publish`, the version's location given as R2's
        ``r2://<bucket>@<account>.r2.cloudflarestorage.com/<prefix>`` (the bucket is moto's)."""
        number = self.publish(name, files, prefix=prefix)
        with self._lock:
            version = self.models[name].versions[number]
            bucket, _, root = version.storage_location[len("s3://") :].partition("/")
            version.storage_location = f"r2://{bucket}@{R2_ACCOUNT}.r2.cloudflarestorage.com"
            version.storage_location += f"/{root}" if root else ""
        return number

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._lock:
            self.models[name].aliases[alias] = version

    # -- faults --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: float | None = None,
        endpoint: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``endpoint``, a path after the API prefix
        such as ``/model-versions/get`` or a whole path, or any) with ``status``."""
        after = None if retry_after is None else f"{retry_after:g}"
        text = message or f"Scripted failure {status}"
        with self._lock:
            self._script.extend(_Scripted(status, after, endpoint, text) for _ in range(times))

    def calls(self, endpoint: str) -> list[Request]:
        return [r for r in self.requests if r.path == API + endpoint]

    def credential_calls(self) -> list[Request]:
        """The requests for temporary credentials, over either dialect."""
        paths = (API + "/model-versions/generate-temporary-credentials", NATIVE_CREDENTIALS)
        return [r for r in self.requests if r.path in paths]

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self.default_storage is not None:
            self.default_storage.server.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- the API -------------------------------------------------------------------------

    def _model(self, params: dict[str, Any]) -> FakeModel:
        name = str(params.get("name") or "")
        if not name:
            raise _Refusal(400, "Missing required field: name")
        model = self.models.get(name)
        if model is None:
            raise _Refusal(404, f"Routine or Model '{name}' does not exist.")
        return model

    def _version(self, params: dict[str, Any]) -> FakeVersion:
        model = self._model(params)
        raw = str(params.get("version") or "")
        if not raw.isdigit():
            raise _Refusal(400, f"Invalid version {raw!r}: must be a positive integer")
        found = model.versions.get(int(raw))
        if found is None:
            raise _Refusal(404, f"Model Version '{model.name}' version {raw} does not exist.")
        return found

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("filter") or "")
        if not (text.startswith("name='") and text.endswith("'")):
            raise _Refusal(400, f"Unsupported filter query: {text!r}; use name='<full name>'")
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
                raise _Refusal(400, "This fake stores new versions in moto's S3 only")
            bucket = f"uc-root-{uuid.uuid4().hex[:16]}"
            self.moto.client().create_bucket(Bucket=bucket)
            self._root_bucket = bucket
        return f"s3://{self._root_bucket}"

    def use_default_storage(self, directory: Path) -> UrlSigner:
        """Serve default storage from ``directory`` through HMAC-signed URLs that expire
        ``url_ttl_s`` after they are made (403 then; move the signer's clock with
        :meth:`UrlSigner.advance`); stopped with the workspace."""
        from federate.testing.http import FileServer
        from federate.testing.presigned import UrlSigner

        directory.mkdir(parents=True, exist_ok=True)
        signer = UrlSigner(FileServer(directory).start())
        check = signer.server.gate

        def gate(method: str, path: str, query: str, headers: Mapping[str, str]) -> Any:
            if "authorization" in {h.lower() for h in headers}:
                self.storage_saw_authorization = True
            return check(method, path, query, headers) if check else None

        signer.server.gate = gate
        self.default_storage = signer
        return signer

    def publish_default(self, name: str, files: dict[str, bytes], status: str = READY) -> int:
        """Add a version of ``name`` kept in default storage, with ``files``."""
        if self.default_storage is None:
            raise RuntimeError("publish_default needs use_default_storage(directory) first")
        number = self.add_version(name, f"s3://databricks-default-storage/{uuid.uuid4()}", status)
        root = self.default_storage.server.directory / _files_path(name, number).lstrip("/")
        root.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        with self._lock:
            self._in_default_storage.add((name, number))
        return number

    def _files_api(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /api/2.0/fs/directories<path>`` and ``POST /api/2.0/fs/create-download-url``."""
        signer = self.default_storage
        if signer is None:
            raise _Refusal(404, "No default storage in this workspace", "NOT_FOUND")
        base = signer.server.directory
        if method in ("GET", "HEAD") and path.startswith(FS_API + "/directories/"):
            virtual = unquote(path[len(FS_API + "/directories") :]).rstrip("/")
            local = base / virtual.lstrip("/")
            if ".." in virtual.split("/") or not local.is_dir():
                raise _Refusal(404, f"The directory {virtual} does not exist.", "NOT_FOUND")
            entries = sorted(local.iterdir())
            start = int(params.get("page_token") or 0)
            page = entries[start : start + self.page_size]
            answer: dict[str, Any] = {
                "contents": [
                    {
                        "path": f"{virtual}/{e.name}",
                        "name": e.name,
                        "is_directory": e.is_dir(),
                        **({} if e.is_dir() else {"file_size": e.stat().st_size}),
                        "last_modified": int(e.stat().st_mtime * 1000),
                    }
                    for e in page
                ]
            }
            if start + self.page_size < len(entries):
                answer["next_page_token"] = str(start + self.page_size)
            return answer
        if (method, path) == ("POST", FS_API + "/create-download-url"):
            virtual = str(params.get("path") or "")
            if ".." in virtual.split("/") or not (base / virtual.lstrip("/")).is_file():
                raise _Refusal(404, f"The file {virtual} does not exist.", "NOT_FOUND")
            url, _ = signer.sign(virtual.lstrip("/"), self.url_ttl_s)
            return {"url": url, "headers": [{"name": SCOPE_HEADER, "value": "read"}]}
        raise _Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")

    def publish_gcs(
        self, name: str, files: dict[str, bytes], status: str = READY, prefix: str = ""
    ) -> int:
        """Store ``files`` in a fresh bucket of the GCS emulator (under ``prefix``) and add
        a version there."""
        if self.gcs is None:
            raise RuntimeError("publish_gcs needs the GCS emulator: use uc_workspace_gcs")
        bucket = self.gcs.client().create_bucket(f"uc-{uuid.uuid4().hex[:20]}")
        root = prefix.strip("/")
        for path, data in files.items():
            bucket.blob(f"{root}/{path}" if root else path).upload_from_string(data)
        location = f"gs://{bucket.name}/{root}" if root else f"gs://{bucket.name}"
        return self.add_version(name, location, status)

    def publish_azure(
        self, name: str, files: dict[str, bytes], status: str = READY, prefix: str = ""
    ) -> int:
        """Store ``files`` in a fresh Azurite container (under ``prefix``) and add a version
        there, at its ``abfss://`` location."""
        if self.azurite is None:
            raise RuntimeError("publish_azure needs Azurite: UcWorkspace(azurite=...)")
        container = f"uc{uuid.uuid4().hex[:20]}"
        client = self.azurite.service_client().create_container(container)
        root = prefix.strip("/")
        for path, data in files.items():
            client.upload_blob(f"{root}/{path}" if root else path, data)
        location = f"abfss://{container}@{DEV_ACCOUNT}.dfs.core.windows.net"
        return self.add_version(name, f"{location}/{root}" if root else location, status)

    def _answer(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if path.startswith(FS_API + "/"):
            return self._files_api(method, path, params)
        if path.startswith(NATIVE_API + "/"):
            with self._lock:
                return native_answer(self, method, path, params)
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
                    raise _Refusal(404, f"Alias '{alias}' does not exist on '{model.name}'.")
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
        raise _Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")

    def _write(self, route: tuple[str, str], params: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a write endpoint, None for any other (the caller holds the lock)."""
        method, endpoint = route
        if route == ("POST", "/registered-models/create"):
            name = str(params.get("name") or "")
            if name.count(".") != 2:
                raise _Refusal(400, f"Invalid name {name!r}: expected catalog.schema.model")
            if name in self.models:
                raise _Refusal(
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
                    raise _Refusal(400, f"'{new_name}' already exists.", "RESOURCE_ALREADY_EXISTS")
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
                raise _Refusal(400, f"Model version {version.version} is {version.status}")
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
                raise _Refusal(404, f"Tag '{key}' does not exist.")
            del tags[key]
            return {}
        return None

    def _scripted(self, path: str) -> _Scripted | None:
        with self._lock:
            for i, item in enumerate(self._script):
                if item.endpoint in (None, path) or API + item.endpoint == path:
                    return self._script.pop(i)
        return None

    def _authorized(self, header: str | None) -> bool:
        """The workspace's personal access token, or an OAuth token it issued and that
        has not expired."""
        scheme, _, token = (header or "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        return secrets.compare_digest(token, self.token) or self.oauth.accepts(token)

    def _oidc(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        from federate.testing.uc_oauth import DISCOVERY_PATH, TOKEN_PATH

        if (method, path) == ("GET", HOST_METADATA_PATH):
            return 200, self.oauth.host_metadata(self.url)
        if (method, path) == ("GET", DISCOVERY_PATH):
            return 200, self.oauth.discovery(self.url)
        if (method, path) == ("POST", TOKEN_PATH):
            return self.oauth.token(authorization, body)
        return 404, {"error": "not_found", "error_description": f"No OIDC endpoint {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                params: dict[str, Any] = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                if parts.path.startswith("/oidc/") or parts.path == HOST_METADATA_PATH:
                    status, answer = workspace._oidc(
                        method, parts.path, self.headers.get("Authorization"), raw
                    )
                    self._reply(status, answer, headers)
                    return
                files = parts.path.startswith(FILES_PREFIX + "/")
                try:
                    if raw and not files:
                        body = json.loads(raw)
                        if isinstance(body, dict):
                            params.update(body)
                    if not parts.path.startswith("/api/"):
                        # what a workspace's web app answers (the Databricks SDK probes
                        # /.well-known/databricks-config before it authenticates)
                        raise _Refusal(404, f"No page at {parts.path}", "ENDPOINT_NOT_FOUND")
                    if not workspace._authorized(self.headers.get("Authorization")):
                        raise _Refusal(
                            401,
                            "Credential was not sent or was of an unsupported type for this API.",
                        )
                    scripted = workspace._scripted(parts.path)
                    if scripted is not None:
                        if scripted.retry_after is not None:
                            headers["Retry-After"] = scripted.retry_after
                        raise _Refusal(scripted.status, scripted.message)
                    if files:
                        self._file(method, parts.path, raw)
                        return
                    status, answer = 200, workspace._answer(method, parts.path, params)
                except _Refusal as refusal:
                    status = refusal.status
                    answer = {"error_code": refusal.code, "message": refusal.message}
                with workspace._lock:
                    workspace.requests.append(Request(method, parts.path, params, status))
                self._reply(status, answer, headers)

            def _file(self, method: str, path: str, raw: bytes) -> None:
                signer = workspace.default_storage
                try:
                    if signer is None:
                        raise FilesRefusal(404, "No Files API storage here", "NOT_FOUND")
                    status = serve_file(self, signer.server.directory, method, raw)
                except FilesRefusal as refusal:
                    status = refusal.status
                    answer = {"error_code": refusal.code, "message": refusal.message}
                    self._reply(status, answer, {})
                with workspace._lock:
                    workspace.requests.append(Request(method, path, {}, status))

            def _reply(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_HEAD(self) -> None:
                self._serve("HEAD")

        return Handler


def start_uc_workspace(
    moto: MotoS3 | None = None, *, page_size: int = 100, azurite: Azurite | None = None
) -> UcWorkspace:
    """A fake workspace on 127.0.0.1:<free port>, vending credentials from ``moto`` (and
    SAS tokens for ``azurite``); the caller stops it with :func:`stop_uc_workspace`."""
    return UcWorkspace(moto, page_size=page_size, azurite=azurite)


def stop_uc_workspace(workspace: UcWorkspace) -> None:
    workspace.stop()


@pytest.fixture
def uc_workspace(
    federate_home: Path, s3_env: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UcWorkspace]:
    """A fake workspace for this test, credentials vended from the session's moto server;
    ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` point at it (no ~/.databrickscfg is read)."""
    workspace = start_uc_workspace(s3_env)
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", workspace.token)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(federate_home / "no-databrickscfg"))
    try:
        yield workspace
    finally:
        stop_uc_workspace(workspace)


@pytest.fixture
def uc_workspace_azure(
    uc_workspace: UcWorkspace, azurite_blob: Azurite, monkeypatch: pytest.MonkeyPatch
) -> UcWorkspace:
    """``uc_workspace`` with Azurite for ``abfss://`` versions (:meth:`UcWorkspace.publish_azure`):
    ``FEDERATE_AZURE_BLOB_ENDPOINT`` points at Azurite (an endpoint, not a credential: only
    the vended SAS is used), and no Azure keys of the caller are set."""
    uc_workspace.azurite = azurite_blob
    monkeypatch.setenv("FEDERATE_AZURE_BLOB_ENDPOINT", azurite_blob.blob_endpoint)
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    return uc_workspace


@pytest.fixture
def uc_workspace_gcs(
    uc_workspace: UcWorkspace,
    gcs_emulator: GcsEmulator,
    fault_proxy: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> UcWorkspace:
    """``uc_workspace`` with the GCS emulator for ``gs://`` versions
    (:meth:`UcWorkspace.publish_gcs`), reached through a proxy that refuses (401) every
    token the workspace did not vend or that expired; ``STORAGE_EMULATOR_HOST`` points
    at the proxy."""
    proxy = fault_proxy(gcs_emulator.url)
    proxy.accepted_tokens = set()
    uc_workspace.gcs, uc_workspace.gcs_proxy = gcs_emulator, proxy
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    return uc_workspace
