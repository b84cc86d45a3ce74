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

Pieces of it live beside it: its models, versions and request log
(:mod:`.uc_records`), HTTP handling, authentication and scripted faults
(:mod:`.uc_request_handling`), MLflow's dialect (:mod:`.uc_registry_routes`), credential
vending (:mod:`.uc_vending`), the native ``/api/2.1/unity-catalog`` dialect
(:mod:`.uc_native_routes`), default storage and the Files API's ``/api/2.0/fs``
(:mod:`.uc_default_storage`, :mod:`.uc_files_api`) and OAuth M2M (:mod:`.uc_oauth`).

``uc_workspace`` (fixture) starts one per test, with a fresh ``federate_home``, moto's
environment and ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` pointing at it; plugin authors
start their own with :func:`start_uc_workspace` and :func:`stop_uc_workspace`.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.azure import DEV_ACCOUNT, Azurite
from federate.testing.s3 import MotoS3
from federate.testing.uc_default_storage import FS_API, DefaultStorage
from federate.testing.uc_native_routes import NATIVE_CREDENTIALS
from federate.testing.uc_oauth import OAuthIssuer
from federate.testing.uc_records import (
    API,
    FAILED,
    PENDING,
    READY,
    FakeModel,
    FakeVersion,
    Request,
)
from federate.testing.uc_registry_routes import RegistryRoutes
from federate.testing.uc_request_handling import RequestHandling, ScriptedFault
from federate.testing.uc_vending import CredentialVending

if TYPE_CHECKING:
    from federate.testing.faults import FaultProxy
    from federate.testing.gcs import GcsEmulator
    from federate.testing.presigned import UrlSigner

__all__ = [
    "API",
    "FAILED",
    "FS_API",
    "PENDING",
    "R2_ACCOUNT",
    "READY",
    "FakeModel",
    "FakeVersion",
    "Request",
    "UcWorkspace",
    "start_uc_workspace",
    "stop_uc_workspace",
    "uc_workspace",
    "uc_workspace_azure",
    "uc_workspace_gcs",
]

#: the Cloudflare account of ``r2://`` locations
R2_ACCOUNT = "0123456789abcdef0123456789abcdef"


class UcWorkspace(RequestHandling, RegistryRoutes, DefaultStorage, CredentialVending):
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
        self._script: list[ScriptedFault] = []
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

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._lock:
            self.models[name].aliases[alias] = version

    # -- faults --------------------------------------------------------------------------

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
