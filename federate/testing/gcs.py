"""Fixtures for Google Cloud Storage: the gcp-storage-emulator server and ``store_gcs``.

``gcs_emulator`` starts one emulator per test session (in memory, 127.0.0.1, a port the
OS picks) in a child process and stops it at the end. ``store_gcs`` gives each test a
fresh bucket in it and points ``STORAGE_EMULATOR_HOST`` at the emulator, which is how
google-cloud-storage (and so federate) is sent there with anonymous access.
``gcs_registry`` is the embedded registry with its artifact root in that bucket.

What the emulator (2026.7.19) does differently from GCS, as far as federate cares:

- listings come back in one piece (no ``maxResults``/``pageToken``): the launcher
  :mod:`federate.testing.gcs_emulator` pages them the way GCS does (and skips the
  emulator's rewrite of its whole index after each upload, which made writes O(n));
- preconditions (``ifGenerationMatch``) and ``generation=`` are ignored on reads, so an
  object replaced during a download is served new, where GCS would answer 412;
- a range starting at or past the end is answered 206 with no bytes, where GCS says 416;
- OAuth tokens are not checked; :mod:`federate.testing.faults` puts a checking proxy in
  front when a test needs a refusal.
"""

from __future__ import annotations

import importlib.util
import selectors
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from federate.testing import gcs_emulator as launcher
from federate.testing.stores import StoreUnderTest, server_unavailable, unique_prefix

#: How long the emulator may take to print its port and answer its health check.
START_TIMEOUT_S = 30.0
EMULATOR_HOST_ENV = "STORAGE_EMULATOR_HOST"
HOW_TO_GET_IT = "pip install gcp-storage-emulator google-cloud-storage (both in federate[dev])"


@dataclass
class GcsEmulator:
    """A running emulator: ``url`` is what ``STORAGE_EMULATOR_HOST`` should hold."""

    url: str
    process: subprocess.Popen[str]

    def client(self):  # type: ignore[no-untyped-def]
        """A google-cloud-storage client of the emulator, independent of the environment."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="federate-tests",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
        )


def _read_port(process: subprocess.Popen[str], deadline: float) -> int:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=max(deadline - time.monotonic(), 0)):
            raise TimeoutError("the emulator printed no port")
    line = process.stdout.readline().strip()
    if not line.isdigit():
        raise RuntimeError(f"the emulator printed {line!r} instead of its port")
    return int(line)


def _wait_healthy(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{url}/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the launcher's signal to shut down
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


_RUN_SCRIPT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


def start_gcs_emulator() -> GcsEmulator:
    """Start an emulator; the caller stops it with :func:`stop_gcs_emulator`."""
    # run_path, not `python <file>`: a script's own folder goes first on sys.path, and this
    # folder holds federate.testing.http, which would shadow the standard library's http
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_SCRIPT, launcher.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        url = f"http://127.0.0.1:{_read_port(process, deadline)}"
        _wait_healthy(url, deadline)
    except BaseException:
        _stop(process)
        raise
    return GcsEmulator(url, process)


def stop_gcs_emulator(emulator: GcsEmulator) -> None:
    _stop(emulator.process)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """One gcp-storage-emulator for the session; skips (or fails, in CI) if it cannot run."""
    for module in ("gcp_storage_emulator", "google.cloud.storage"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            server_unavailable(f"the GCS emulator (no module {module})", HOW_TO_GET_IT)
    try:
        emulator = start_gcs_emulator()
    except (OSError, RuntimeError) as err:
        server_unavailable(f"the GCS emulator ({type(err).__name__}: {err})", HOW_TO_GET_IT)
    yield emulator
    stop_gcs_emulator(emulator)


@pytest.fixture
def store_gcs(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> StoreUnderTest:
    """A fresh, empty bucket prefix in the emulator; ``STORAGE_EMULATOR_HOST`` points there."""
    client = gcs_emulator.client()
    bucket = client.create_bucket(f"federate-{uuid.uuid4().hex[:16]}")
    prefix = unique_prefix()
    env = {EMULATOR_HOST_ENV: gcs_emulator.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def put(path: str, data: bytes) -> None:
        bucket.blob(f"{prefix}/{path}").upload_from_string(data)

    return StoreUnderTest("gcs", f"gs://{bucket.name}/{prefix}", put, env)


@pytest.fixture
def gcs_registry(store_gcs: StoreUnderTest, federate_home, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The embedded registry (SQLite under ``federate_home``) storing versions in GCS.

    Its artifact root is ``store_gcs.root``, so ``federate.register`` writes to the emulator.
    """
    import federate

    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", store_gcs.root)
    return federate.get_registry()
