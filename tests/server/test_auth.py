"""federate serve: FEDERATE_SERVER_TOKEN and FEDERATE_SERVER_READ_TOKEN."""

from __future__ import annotations

import logging

import pytest

from federate.server.auth import Tokens
from federate.testing.server import running_server

pytest.importorskip("uvicorn")

WRITE, READ = "write-secret-7f3a", "read-secret-91bc"


@pytest.fixture
def guarded(federate_server):
    with running_server(federate_server.registry, token=WRITE, read_token=READ) as served:
        yield served


def test_no_or_wrong_token_is_401_json(guarded):
    status, error = guarded.call("GET", "catalogs", token="")
    assert (status, error["error_code"]) == (401, "UNAUTHENTICATED")
    assert "bearer" in error["message"].lower()
    status, error = guarded.call("GET", "catalogs", token="nope")
    assert (status, error["error_code"]) == (401, "UNAUTHENTICATED")
    assert WRITE not in error["message"] and READ not in error["message"]


def test_write_token_may_write_read_token_only_read(guarded, caplog):
    caplog.set_level(logging.DEBUG)
    assert guarded.call("POST", "catalogs", {"name": "main"}, token=WRITE)[0] == 200
    assert (
        guarded.call("POST", "schemas", {"name": "ml", "catalog_name": "main"}, token=WRITE)[0]
        == 200
    )
    guarded.call(
        "POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"}, token=WRITE
    )
    new = {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "s"}
    assert guarded.call("POST", "models/versions", new, token=WRITE)[0] == 200
    assert guarded.call("GET", "catalogs/main", token=READ)[0] == 200
    status, error = guarded.call("POST", "catalogs", {"name": "other"}, token=READ)
    assert (status, error["error_code"]) == (403, "PERMISSION_DENIED")
    assert "read-only" in error["message"]
    assert guarded.call("DELETE", "catalogs/main?force=true", token=READ)[0] == 403
    ask = {"catalog_name": "main", "schema_name": "ml", "model_name": "m", "version": 1}
    status, _ = guarded.call(
        "POST",
        "temporary-model-version-credentials",
        {**ask, "operation": "READ_MODEL_VERSION"},
        token=READ,
    )
    assert status == 200
    status, error = guarded.call(
        "POST",
        "temporary-model-version-credentials",
        {**ask, "operation": "READ_WRITE_MODEL_VERSION"},
        token=READ,
    )
    assert (status, error["error_code"]) == (403, "PERMISSION_DENIED")
    assert WRITE not in caplog.text and READ not in caplog.text


def test_healthz_is_open(guarded):
    assert guarded.call("GET", "/healthz", token="") == (200, {"status": "ok"})


def test_tokens_compare_whole_values_and_hide_in_repr():
    tokens = Tokens(WRITE, READ)
    assert tokens.access(WRITE) == "write" and tokens.access(READ) == "read"
    assert tokens.access(WRITE[:-1]) is None and tokens.access(WRITE + "x") is None
    assert WRITE not in repr(tokens) and READ not in repr(tokens)
