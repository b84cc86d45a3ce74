"""federate serve: every failure is {"error_code", "message"} JSON with the right status."""

from __future__ import annotations

import pytest

from federate.testing.server import running_server

pytest.importorskip("uvicorn")


@pytest.mark.parametrize(
    "raw, wanted",
    [(b"{not json", "Malformed JSON"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "Malformed")],
)
def test_bad_bodies_are_400(federate_server, raw, wanted):
    status, error = federate_server.call("POST", "catalogs", raw=raw)
    assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")
    assert wanted in error["message"]


def test_wrong_types_are_400_naming_the_field(federate_server):
    status, error = federate_server.call("POST", "catalogs", {"name": 3})
    assert status == 400 and "'name'" in error["message"]
    status, error = federate_server.call("POST", "catalogs", {})
    assert status == 400 and "'name'" in error["message"]
    status, error = federate_server.call("POST", "catalogs", {"name": "a.b"})
    assert status == 400 and "'a.b'" in error["message"]


def test_body_limit_is_413(federate_server):
    with running_server(federate_server.registry, max_body=64) as small:
        status, error = small.call("POST", "catalogs", {"name": "x", "comment": "y" * 100})
        assert (status, error["error_code"]) == (413, "RESOURCE_EXHAUSTED")
        assert "64 bytes" in error["message"]
        assert small.call("POST", "catalogs", {"name": "x"})[0] == 200


def test_unknown_route_and_method_are_json(federate_server):
    status, error = federate_server.call("GET", "volumes")
    assert (status, error["error_code"]) == (404, "NOT_FOUND")
    assert "/api/2.1/unity-catalog/volumes" in error["message"]
    status, error = federate_server.call("PUT", "catalogs")
    assert status == 405 and "PUT" in error["message"]


def test_unreachable_database_is_a_json_answer_not_a_traceback(federate_server, tmp_path):
    from federate.config import RegistryConfig
    from federate.registry.sql.store import SqlRegistry

    gone = SqlRegistry(RegistryConfig(f"sqlite:///{tmp_path}/missing/x.db", str(tmp_path)))
    with running_server(gone) as served:
        status, error = served.call("GET", "/healthz")
        assert status == 503 and error["error_code"] == "UNAVAILABLE"
        status, error = served.call("GET", "catalogs")
        assert status in (404, 503) and "Traceback" not in error["message"]
        assert "x.db" in error["message"]
