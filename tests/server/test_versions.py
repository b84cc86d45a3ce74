"""federate serve: model versions (create -> PENDING_REGISTRATION at a fresh location,
finalize -> READY), paging, credentials for file: roots, aliases."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

pytest.importorskip("uvicorn")

NEW = {"model_name": "m", "catalog_name": "main", "schema_name": "ml", "source": "runs:/r/model"}


def _create(s) -> dict:
    status, info = s.call("POST", "models/versions", NEW)
    assert status == 200
    return info


def test_create_finalize_and_the_registry_sees_it(federate_server, model, tmp_path):
    s = federate_server
    first, second = _create(s), _create(s)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["status"] == "PENDING_REGISTRATION"
    root = (tmp_path / "artifacts").resolve()
    location = Path(url2pathname(urlsplit(first["storage_location"]).path))
    assert first["storage_location"].startswith("file:")
    assert location.is_relative_to(root) and first["storage_location"] != second["storage_location"]
    location.mkdir(parents=True)
    (location / "model.bin").write_bytes(b"weights")
    status, done = s.call("PATCH", f"models/{model}/versions/1/finalize", {"full_name": model})
    assert (status, done["status"]) == (200, "READY")
    mv = s.registry.resolve("models:/main.ml.m/latest")
    assert (mv.version, mv.storage_location) == (1, first["storage_location"])
    status, error = s.call("PATCH", f"models/{model}/versions/1/finalize", {})
    assert status == 400 and "PENDING_REGISTRATION" in error["message"]


def test_list_pages_ascending_and_clamps(federate_server, model):
    s = federate_server
    for _ in range(5):
        _create(s)
    status, page = s.call("GET", f"models/{model}/versions?full_name={model}&max_results=2")
    assert status == 200 and [v["version"] for v in page["model_versions"]] == [1, 2]
    _, page = s.call(
        "GET", f"models/{model}/versions?max_results=2&page_token={page['next_page_token']}"
    )
    assert [v["version"] for v in page["model_versions"]] == [3, 4]
    _, everything = s.call("GET", f"models/{model}/versions?max_results=10000000")
    assert len(everything["model_versions"]) == 5 and "next_page_token" not in everything


def test_get_update_delete(federate_server, model):
    s = federate_server
    _create(s)
    status, info = s.call("PATCH", f"models/{model}/versions/1", {"comment": "first"})
    assert (status, info["comment"], info["version"]) == (200, "first", 1)
    assert s.call("GET", f"models/{model}/versions/1?version=1")[1]["comment"] == "first"
    assert s.call("DELETE", f"models/{model}/versions/1", {"version": 1}) == (200, {})
    status, error = s.call("GET", f"models/{model}/versions/1")
    assert status == 404 and "main.ml.m" in error["message"]
    status, error = s.call("GET", f"models/{model}/versions/one")
    assert status == 400 and "one" in error["message"]


def test_credentials_for_file_roots_carry_no_cloud_keys(federate_server, model):
    s = federate_server
    info = _create(s)
    ask = {"catalog_name": "main", "schema_name": "ml", "model_name": "m", "version": 1}
    status, creds = s.call(
        "POST",
        "temporary-model-version-credentials",
        {**ask, "operation": "READ_WRITE_MODEL_VERSION"},
    )
    assert (status, creds) == (200, {"url": info["storage_location"]})
    s.call("PATCH", f"models/{model}/versions/1/finalize", {})
    status, error = s.call(
        "POST",
        "temporary-model-version-credentials",
        {**ask, "operation": "READ_WRITE_MODEL_VERSION"},
    )
    assert status == 400 and "finalized" in error["message"]
    status, creds = s.call(
        "POST", "temporary-model-version-credentials", {**ask, "operation": "READ_MODEL_VERSION"}
    )
    assert (status, creds) == (200, {"url": info["storage_location"]})
    status, error = s.call(
        "POST", "temporary-model-version-credentials", {**ask, "operation": "DELETE"}
    )
    assert status == 400 and "READ_MODEL_VERSION" in error["message"]


def test_alias_routes(federate_server, model):
    s = federate_server
    _create(s)
    s.call("PATCH", f"models/{model}/versions/1/finalize", {})
    status, alias = s.call("PUT", f"models/{model}/aliases/champion", {"version_num": 1})
    assert status == 200 and (alias["alias_name"], alias["version_num"]) == ("champion", 1)
    status, mv = s.call("GET", f"models/{model}/aliases/champion?include_aliases=true")
    assert status == 200 and mv["version"] == 1
    assert mv["aliases"][0]["alias_name"] == "champion"
    assert s.registry.resolve("models:/main.ml.m@champion").version == 1
    assert s.call("DELETE", f"models/{model}/aliases/champion", {"alias": "champion"}) == (200, {})
    status, error = s.call("GET", f"models/{model}/aliases/champion")
    assert status == 404 and "champion" in error["message"]
