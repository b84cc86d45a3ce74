"""A big tree through a real ``mlflow server``'s artifact proxy: a 40 MiB file with bytes
equal; a proxy that ignores ``Range`` (as MLflow's does over an S3 store, here made so on
the wire by a proxy dropping the header) costs one whole read of the file, never one per
range; an interrupted download resumes with what is missing; TLS with MLflow's variables
against a TLS-terminating proxy with a certificate made here (a certificate it does not
trust is a configuration error, said at once); a server whose artifacts are in S3
(moto), whose proxy really ignores ``Range``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import federate
from federate.api import clear_registry_cache
from federate.errors import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE, FederateError
from federate.testing.faults import FaultProxy
from federate.testing.mlflow_server import LOG_VERSION, MlflowOverS3
from federate.testing.tls import TlsProxy, self_signed, start_tls_proxy

from .conftest import Populated, tree_files, write_big_tree

pytestmark = pytest.mark.usefixtures("mlflow_env")

MiB = 1024 * 1024
SIZE = 40 * MiB + 5


@pytest.fixture(scope="module")
def big_tree(populated: Populated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = write_big_tree(tmp_path_factory.mktemp("big") / "tree", SIZE, 20)
    assert populated.server.run_client(LOG_VERSION, str(tree), "big")["version"] == 1
    return tree


@pytest.fixture
def ranged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", str(4 * MiB))
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", str(MiB))
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "4")


@pytest.fixture
def proxy(fault_proxy: Callable[[str], FaultProxy], populated: Populated) -> FaultProxy:
    return fault_proxy(populated.server.url)


def _ranges_of(seen: list[tuple[str, str | None]], name: str) -> list[str | None]:
    return [r for path, r in seen if path.split("?", 1)[0].endswith(f"/{name}")]


def _bytes_asked(ranges: list[str | None]) -> int:
    """The bytes of ``weights.bin`` that GETs with these Range headers ask for."""
    total = 0
    for header in ranges:
        if header is None:
            total += SIZE
            continue
        first, _, last = header.removeprefix("bytes=").partition("-")
        total += (int(last) if last else SIZE - 1) - int(first) + 1
    return total


def _watch(proxy: FaultProxy) -> list[tuple[str, str | None]]:
    """(request path, Range header) of every GET the proxy forwards."""
    seen: list[tuple[str, str | None]] = []

    def note(request: str, headers: dict[str, str]) -> None:
        method, path = request.split(" ", 1)
        if method == "GET":
            seen.append((path, headers.get("Range")))

    proxy.on_request = note
    return seen


def test_a_40_mib_tree_comes_through_the_proxy_in_ranges(
    populated: Populated, big_tree: Path, ranged: None, proxy: FaultProxy, tmp_path: Path
):
    seen = _watch(proxy)
    out = federate.download("models:/big/1", tmp_path / "dst", registry_uri=proxy.url)
    assert tree_files(Path(out)) == tree_files(big_tree)
    ranges = [r for r in _ranges_of(seen, "weights.bin") if r != "bytes=0-0"]
    assert len(ranges) == 41 and all(r and r.startswith("bytes=") for r in ranges)


def test_a_proxy_ignoring_range_sends_the_file_once_not_once_per_range(
    populated: Populated, big_tree: Path, ranged: None, proxy: FaultProxy, tmp_path: Path
):
    seen: list[tuple[str, str | None]] = []

    def drop_range(request: str, headers: dict[str, str]) -> None:
        method, path = request.split(" ", 1)
        if method == "GET":
            seen.append((path, headers.pop("Range", None)))

    proxy.on_request = drop_range
    out = federate.download("models:/big/1", tmp_path / "dst", registry_uri=proxy.url)
    assert tree_files(Path(out)) == tree_files(big_tree)
    # the one-byte probe (answered whole: that is how the server shows it ignores Range)
    # and one read of the whole file; nothing per range
    assert len(_ranges_of(seen, "weights.bin")) == 2


def test_an_interrupted_download_resumes_with_what_is_missing(
    populated: Populated,
    big_tree: Path,
    ranged: None,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "1")  # ranges in order: the first half lands
    seen = _watch(proxy)
    note = proxy.on_request
    assert note is not None

    def cut_second_half(request: str, headers: dict[str, str]) -> None:
        note(request, headers)
        start = headers.get("Range", "bytes=0-").split("=", 1)[1].split("-", 1)[0]
        if request.split("?", 1)[0].endswith("/weights.bin") and int(start) >= 20 * MiB:
            raise ConnectionAbortedError("the network went away")  # the proxy hangs up

    proxy.on_request = cut_second_half
    with pytest.raises(FederateError) as err:
        federate.download("models:/big/1", tmp_path / "dst", registry_uri=proxy.url)
    assert err.value.error_code == TEMPORARILY_UNAVAILABLE
    assert not (tmp_path / "dst").exists()
    seen.clear()
    proxy.on_request = note
    out = federate.download("models:/big/1", tmp_path / "dst", registry_uri=proxy.url)
    assert tree_files(Path(out)) == tree_files(big_tree)
    again = [r for r in _ranges_of(seen, "weights.bin") if r != "bytes=0-0"]
    assert again and f"bytes=0-{MiB - 1}" not in again  # what landed was not fetched again
    assert len(again) <= 21


@pytest.fixture(scope="module")
def s3_tree(mlflow_s3_server: MlflowOverS3, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models:/s3big/1`` on the server over S3, logged by MLflow's client."""
    tree = write_big_tree(tmp_path_factory.mktemp("s3big") / "tree", SIZE, 5)
    logged = mlflow_s3_server.server.run_client(LOG_VERSION, str(tree), "s3big")
    assert logged["source"].startswith("mlflow-artifacts:/"), logged
    return tree


def test_a_40_mib_file_over_an_s3_destination_is_read_whole_once(
    mlflow_s3_server: MlflowOverS3,
    s3_tree: Path,
    ranged: None,
    fault_proxy: Callable[[str], FaultProxy],
    tmp_path: Path,
):
    # MLflow's proxy takes the whole object from S3 for every GET, whatever its Range:
    # 1 MiB ranges would be 41 whole transfers of the file
    front = fault_proxy(mlflow_s3_server.server.url)
    asked = _watch(front)  # what federate asks the server for
    fetched = _watch(mlflow_s3_server.s3)  # what the server takes from the store
    try:
        out = federate.download("models:/s3big/1", tmp_path / "dst", registry_uri=front.url)
    finally:
        mlflow_s3_server.s3.on_request = None
    assert tree_files(Path(out)) == tree_files(s3_tree)
    # the one-byte probe, answered with the whole file (how federate learns the server
    # ignores Range), then one read of the whole file; no ranges
    assert _ranges_of(asked, "weights.bin") == ["bytes=0-0", f"bytes=0-{SIZE - 1}"]
    # the server took the file from S3 once for each (boto3 may read it in parts)
    assert _bytes_asked(_ranges_of(fetched, "weights.bin")) == 2 * SIZE


@pytest.fixture
def tls_proxy(populated: Populated, tmp_path: Path) -> Iterator[tuple[TlsProxy, Path]]:
    """A TLS proxy (``https://127.0.0.1:<port>``) in front of the server, and its
    certificate."""
    cert, key = self_signed(tmp_path)
    proxy, _url = start_tls_proxy(populated.server.url, cert, key)
    yield proxy, cert
    proxy.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_with_mlflows_variables(
    populated: Populated,
    big_tree: Path,
    tls_proxy: tuple[TlsProxy, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    proxy, cert = tls_proxy
    url = proxy.url
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "3")
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/big/1", registry_uri=url)
    # a configuration to fix, said at once: not retried, not "try again later"
    assert err.value.error_code == INVALID_PARAMETER_VALUE
    message = str(err.value)
    assert "certificate of 127.0.0.1:" in message and "failed verification" in message
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in message
    assert "MLFLOW_TRACKING_INSECURE_TLS" in message
    assert proxy.connections == 1
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
    clear_registry_cache()  # registries are opened once per process
    out = federate.download("models:/big/1", tmp_path / "checked", registry_uri=url)
    assert tree_files(Path(out)) == tree_files(big_tree)
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    clear_registry_cache()
    mv = federate.resolve("models:/m@champion", registry_uri=url)
    assert mv.version == 2
