"""What a workspace's refusals become: FederateErrors with the code a caller branches on,
the words a person reads, and never the token (message, repr, DEBUG logs)."""

from __future__ import annotations

import socket
import time

import pytest

import federate
from federate.errors import (
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.testing.logs import debug_logs
from federate.testing.uc_workspace import UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"
URI = f"models:/{NAME}/1"


@pytest.fixture
def ws(uc_workspace: UcWorkspace, monkeypatch) -> UcWorkspace:
    uc_workspace.add_version(NAME, "s3://bucket/x")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
    return uc_workspace


def _error_of(uri: str = URI) -> FederateError:
    with debug_logs() as logs, pytest.raises(FederateError) as caught:
        federate.resolve(uri, registry_uri=UC)
    err = caught.value
    secret = _token()
    assert secret not in str(err) and secret not in repr(err)
    logs.assert_hidden([secret])
    assert logs.records  # the check saw what was logged
    return err


def _token() -> str:
    import os

    return os.environ["DATABRICKS_TOKEN"]


def test_wrong_token_is_permission_denied_naming_host_and_source(ws: UcWorkspace, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong-0123456789abcdef")
    err = _error_of()
    assert err.error_code == PERMISSION_DENIED
    assert ws.url in str(err) and "DATABRICKS_TOKEN" in str(err) and "401" in str(err)
    assert [r.status for r in ws.requests] == [401]  # not retried


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_are_permission_denied(ws: UcWorkspace, status):
    ws.fail_next(status, message="User does not have EXECUTE on Routine or Model")
    err = _error_of()
    assert err.error_code == PERMISSION_DENIED
    assert f"HTTP {status}" in str(err) and "does not have EXECUTE" in str(err)
    assert ws.url in str(err) and "from DATABRICKS_TOKEN" in str(err)


def test_404_carries_the_servers_message(ws: UcWorkspace):
    err = _error_of(f"models:/{NAME}/5")
    assert err.error_code == RESOURCE_DOES_NOT_EXIST
    assert str(err) == f"Model Version '{NAME}' version 5 does not exist."


def test_unknown_endpoint_says_so(ws: UcWorkspace):
    ws.fail_next(404, message="No API found for 'GET /x'")
    assert "No API found" in str(_error_of())


def test_429_is_retried_after_what_retry_after_asks(ws: UcWorkspace):
    ws.fail_next(429, 2, retry_after=0.4)
    started = time.monotonic()
    assert federate.resolve(URI, registry_uri=UC).version == 1
    assert time.monotonic() - started >= 0.8
    assert [r.status for r in ws.requests] == [429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(ws: UcWorkspace, status):
    ws.fail_next(status, 2)
    assert federate.resolve(URI, registry_uri=UC).version == 1
    assert [r.status for r in ws.requests] == [status, status, 200]


def test_still_busy_after_the_attempts_is_temporarily_unavailable(ws: UcWorkspace, monkeypatch):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "3")
    ws.fail_next(429, 5, retry_after=0)
    err = _error_of()
    assert err.error_code == TEMPORARILY_UNAVAILABLE
    assert "after 3 attempts" in str(err) and "HTTP 429" in str(err) and ws.url in str(err)
    assert len(ws.requests) == 3


def test_retry_after_beyond_the_limit_gives_up_at_once(ws: UcWorkspace):
    ws.fail_next(503, 5, retry_after=3600)
    err = _error_of()
    assert err.error_code == TEMPORARILY_UNAVAILABLE and "retry after 3600s" in str(err)
    assert len(ws.requests) == 1


def test_unreachable_workspace_is_temporarily_unavailable(ws: UcWorkspace, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "2")
    err = _error_of()
    assert err.error_code == TEMPORARILY_UNAVAILABLE
    assert f"127.0.0.1:{port}" in str(err) and "after 2 attempts" in str(err)


def test_registry_repr_hides_the_token(ws: UcWorkspace):
    registry = federate.get_registry(UC)
    assert _token() not in repr(registry) and "DATABRICKS_TOKEN" in repr(registry)
