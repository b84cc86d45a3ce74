"""Azurite, Microsoft's Azure Storage emulator, for tests: the blob service on a free port.

``azurite_blob`` starts one Azurite per test session (in memory, on 127.0.0.1) and stops
it at the end; ``store_azure`` yields a fresh container in it as a
:class:`~federate.testing.stores.StoreUnderTest`, with ``AZURE_STORAGE_CONNECTION_STRING``
set for the test, as a user reaching Azurite would set it.

Azurite is an npm package. The executable is found through ``FEDERATE_AZURITE`` (path of
``azurite-blob``), then ``PATH``, then ``node_modules/.bin`` in the working directory or
``.ci/node`` (where ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.stores import (
    ScopedAccess,
    StoreUnderTest,
    server_unavailable,
    unique_prefix,
)

AZURITE_ENV = "FEDERATE_AZURITE"
#: Azurite's fixed development account; its key is public, documented by Microsoft.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT_S = 30.0
INSTALL_HINT = (
    "install Azurite with `npm install --prefix .ci/node azurite` (or `npm install -g "
    f"azurite`), or set {AZURITE_ENV} to the path of its azurite-blob executable"
)


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service."""

    port: int
    #: the Azurite process, for :func:`stop_azurite`
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    def connection_string(self, key: str = DEV_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service_client(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())


def find_azurite() -> str | None:
    """Path of the ``azurite-blob`` executable, or None."""
    explicit = os.environ.get(AZURITE_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    on_path = shutil.which("azurite-blob")
    if on_path:
        return on_path
    for base in (Path.cwd(), Path.cwd() / ".ci" / "node"):
        candidate = base / "node_modules" / ".bin" / "azurite-blob"
        if candidate.is_file():
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Azurite exited with code {proc.returncode}: {log.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on port {port} within {START_TIMEOUT_S:.0f}s")


def start_azurite(workdir: Path, executable: str | None = None) -> Azurite:
    """Start Azurite's blob service in memory on 127.0.0.1:<free port>, logging to
    ``workdir``; the caller stops it with :func:`stop_azurite`.

    ``executable`` defaults to :func:`find_azurite`; raises FileNotFoundError naming how
    to install Azurite when there is none, RuntimeError when it does not come up.
    """
    executable = executable or find_azurite()
    if executable is None:
        raise FileNotFoundError(f"Azurite (npm package azurite) not found: {INSTALL_HINT}")
    log = workdir / "azurite.log"
    for _attempt in range(3):  # the free port may be taken before Azurite binds it
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    executable,
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(port),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--silent",
                    "--disableTelemetry",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
            )
        try:
            _wait_ready(proc, port, log)
        except BaseException as err:
            _stop(proc)
            if "EADDRINUSE" in str(err):
                continue
            raise
        return Azurite(port, proc)
    raise RuntimeError("Azurite could not bind a free port in 3 attempts")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_azurite(azurite: Azurite) -> None:
    if azurite.process is not None:
        _stop(azurite.process)


@pytest.fixture(scope="session")
def azurite_blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite blob service for the whole session, stopped at its end."""
    executable = find_azurite()
    if executable is None:
        explicit = os.environ.get(AZURITE_ENV)
        what = f"{AZURITE_ENV}={explicit} (no such file)" if explicit else "Azurite"
        server_unavailable(f"{what} (npm package azurite)", INSTALL_HINT)
    azurite = start_azurite(tmp_path_factory.mktemp("azurite"), executable)
    try:
        yield azurite
    finally:
        stop_azurite(azurite)


class ContainerSas:
    """Read-and-list SAS tokens for one container, each revocable on its own.

    Every token is bound to a stored access policy of its own; deleting the policy makes
    the store refuse the token, as it refuses one that expired. A container holds at most
    five policies, so revoked ones are dropped first.
    """

    def __init__(self, azurite: Azurite, container: str) -> None:
        self.container = container
        self._client = azurite.service_client().get_container_client(container)
        self._lock = threading.Lock()

    def mint(self) -> ScopedCredentials:
        from azure.storage.blob import AccessPolicy, ContainerSasPermissions, generate_container_sas

        policy_id = uuid.uuid4().hex[:16]
        expiry = datetime.now(timezone.utc) + timedelta(hours=1)
        with self._lock:
            policies = self._client.get_container_access_policy()["signed_identifiers"]
            current = {p.id: p.access_policy for p in policies}
            if len(current) >= 5:
                raise RuntimeError("a container holds at most 5 stored access policies")
            current[policy_id] = AccessPolicy(
                permission=ContainerSasPermissions(read=True, list=True),
                expiry=expiry,
                start=datetime.now(timezone.utc) - timedelta(minutes=5),
            )
            self._client.set_container_access_policy(signed_identifiers=current)
        sas = generate_container_sas(
            DEV_ACCOUNT, self.container, account_key=DEV_KEY, policy_id=policy_id
        )
        return ScopedCredentials("azure_sas", {"sas_token": sas}, expiry.timestamp())

    def revoke(self, credentials: ScopedCredentials) -> None:
        policy_id = parse_qs(credentials.values["sas_token"])["si"][0]
        with self._lock:
            policies = self._client.get_container_access_policy()["signed_identifiers"]
            kept = {p.id: p.access_policy for p in policies if p.id != policy_id}
            self._client.set_container_access_policy(signed_identifiers=kept)

    def wrong(self) -> ScopedCredentials:
        """A well-formed SAS signed with a key that is not the account's."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        sas = generate_container_sas(
            DEV_ACCOUNT,
            self.container,
            account_key="bm90LXRoZS1hY2NvdW50LWtleS1ub3QtdGhlLWFjY291bnQta2V5LW5vdA==",
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        return ScopedCredentials("azure_sas", {"sas_token": sas}, time.time() + 3600)

    def access(self) -> ScopedAccess:
        return ScopedAccess(mint=self.mint, revoke=self.revoke, wrong=self.wrong)


@pytest.fixture
def azure_container(azurite_blob: Azurite) -> Iterator[str]:
    """A fresh, empty container in Azurite; deleted afterwards."""
    name = f"c{uuid.uuid4().hex[:20]}"
    service = azurite_blob.service_client()
    service.create_container(name)
    yield name
    service.delete_container(name)


@pytest.fixture
def store_azure(
    azurite_blob: Azurite, azure_container: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoreUnderTest]:
    """A fresh prefix in a fresh Azurite container, addressed as ``wasbs://``."""
    prefix = unique_prefix()
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_blob.connection_string()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AZURE_STORAGE_ACCESS_KEY", "FEDERATE_AZURE_BLOB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    container = azurite_blob.service_client().get_container_client(azure_container)

    def put(path: str, data: bytes) -> None:
        container.upload_blob(f"{prefix}/{path}", data, overwrite=True)

    root = f"wasbs://{azure_container}@{DEV_ACCOUNT}.blob.core.windows.net/{prefix}"
    scoped = ContainerSas(azurite_blob, azure_container).access()
    yield StoreUnderTest("azure", root, put, env, scoped)
