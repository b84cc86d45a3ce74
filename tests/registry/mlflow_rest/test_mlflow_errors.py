"""Credentials, refusals, retries and wrong URLs, against a real ``mlflow server`` behind
a fault proxy (federate/testing/faults.py) that checks bearer tokens and refuses as told."""

from __future__ import annotations

import base64
import functools
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import federate
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.testing.faults import FaultProxy

from .conftest import BIG, Populated, tree_files

pytestmark = pytest.mark.usefixtures("mlflow_env")

TOKEN = "s3cr3t-tracking-token-7f1e"


@pytest.fixture
def guarded(populated: Populated, fault_proxy: Callable[[str], FaultProxy]) -> FaultProxy:
    """The populated server, reachable only with ``Bearer TOKEN``."""
    proxy = fault_proxy(populated.server.url)
    proxy.accepted_tokens = {TOKEN}
    return proxy


def test_the_token_goes_with_every_call_and_every_file_read(
    guarded: FaultProxy, populated: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", str(1024 * 1024))
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", str(1024 * 1024))
    ranges: list[str] = []
    guarded.on_request = lambda line, headers: ranges.append(headers.get("Range", ""))
    out = federate.download("models:/m@champion", tmp_path / "d", guarded.url, progress=False)
    assert tree_files(Path(out)) == tree_files(populated.trees[2])
    assert guarded.refusals == 0 and set(guarded.tokens_seen) == {TOKEN}
    assert any(line.startswith("GET /api/2.0/mlflow-artifacts/") for line in guarded.requests)
    # the big file came in ranges (the local artifact store honours Range), not whole
    wanted = {r for r in ranges if r and r != "bytes=0-0"}
    assert len(wanted) == -(-BIG // (1024 * 1024)), wanted


def test_a_refused_token_is_permission_denied_without_the_token(
    guarded: FaultProxy, monkeypatch: pytest.MonkeyPatch
):
    wrong = "wrong-token-that-must-not-show-91c2"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", wrong)
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=guarded.url)
    assert err.value.error_code == PERMISSION_DENIED
    message = str(err.value)
    assert "HTTP 401" in message and "MLFLOW_TRACKING_TOKEN" in message and guarded.url in message
    assert wrong not in message and wrong not in repr(err.value)
    assert guarded.refusals == 1  # a refusal is not retried


def test_basic_auth_wins_over_the_token_as_in_mlflow(
    guarded: FaultProxy, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pa55-word-never-shown")
    seen: list[str] = []
    guarded.on_request = lambda line, headers: seen.append(headers.get("Authorization", ""))
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=guarded.url)
    pair = base64.b64encode(b"alice:pa55-word-never-shown").decode()
    assert guarded.tokens_seen == [None]  # no bearer token went out
    assert err.value.error_code == PERMISSION_DENIED
    assert "'alice'" in str(err.value) and "MLFLOW_TRACKING_PASSWORD" in str(err.value)
    assert "pa55-word-never-shown" not in str(err.value) and pair not in str(err.value)


def test_no_credentials_says_which_variables_to_set(guarded: FaultProxy):
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=guarded.url)
    assert err.value.error_code == PERMISSION_DENIED
    assert "without credentials" in str(err.value) and "MLFLOW_TRACKING_USERNAME" in str(err.value)


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_server_is_retried_then_temporarily_unavailable(
    guarded: FaultProxy, monkeypatch: pytest.MonkeyPatch, status: int
):
    guarded.refusal_status = status  # every request refused (no token): busy, for good
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "3")
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=guarded.url)
    assert err.value.error_code == TEMPORARILY_UNAVAILABLE
    assert f"HTTP {status}" in str(err.value) and "after 3 attempts" in str(err.value)
    assert guarded.refusals == 3


def test_a_server_that_is_down(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "2")
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=f"http://127.0.0.1:{port}")
    assert err.value.error_code == TEMPORARILY_UNAVAILABLE
    assert f"127.0.0.1:{port}" in str(err.value) and "after 2 attempts" in str(err.value)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[str]:
    """A plain file server: an http:// URL that is not an MLflow server."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_that_is_not_an_mlflow_server_says_so(static_server: str):
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=static_server)
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert "is it an MLflow tracking server" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize(
    "uri,words",
    [
        ("http://alice:hunter2-pass@127.0.0.1:5000", "MLFLOW_TRACKING_USERNAME"),
        ("http://127.0.0.1:5000?x=1", "query string"),
        ("http://:5000", "host"),
    ],
)
def test_malformed_server_uris(uri: str, words: str):
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri=uri)
    assert err.value.error_code == INVALID_PARAMETER_VALUE and words in str(err.value)
    assert "hunter2-pass" not in str(err.value)


def test_mlflows_tls_variables_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "maybe")
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri="https://127.0.0.1:1")
    assert err.value.error_code == INVALID_PARAMETER_VALUE
    assert "MLFLOW_TRACKING_INSECURE_TLS='maybe'" in str(err.value)
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(ca))
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri="https://127.0.0.1:2")
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in str(err.value) and "both" in str(err.value)
    monkeypatch.delenv("MLFLOW_TRACKING_INSECURE_TLS")
    monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(FederateError) as err:
        federate.resolve("models:/m/1", registry_uri="https://127.0.0.1:3")
    assert "MLFLOW_TRACKING_CLIENT_CERT_PATH names no file" in str(err.value)
