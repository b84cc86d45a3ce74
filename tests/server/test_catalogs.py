"""federate serve: catalogs and schemas over HTTP (create, get, list with paging, delete)."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")


def test_catalog_and_schema_lifecycle(federate_server):
    s = federate_server
    status, catalog = s.call("POST", "catalogs", {"name": "main", "comment": "prod"})
    assert status == 200
    assert catalog["name"] == "main" and catalog["comment"] == "prod"
    assert isinstance(catalog["created_at"], int) and catalog["id"]
    assert s.call("GET", "catalogs/main")[1] == catalog
    status, schema = s.call("POST", "schemas", {"name": "fraud", "catalog_name": "main"})
    assert status == 200
    assert schema["full_name"] == "main.fraud" and "comment" not in schema  # unset: omitted
    assert s.call("GET", "schemas/main.fraud")[1] == schema
    assert s.call("GET", "schemas?catalog_name=main")[1] == {"schemas": [schema]}
    assert s.call("DELETE", "schemas/main.fraud") == (200, {})
    assert s.call("DELETE", "catalogs/main") == (200, {})
    assert s.call("GET", "catalogs/main") == (
        404,
        {"error_code": "NOT_FOUND", "message": "Catalog not found: main"},
    )


def test_duplicates_are_409_and_missing_parents_404(federate_server):
    s = federate_server
    s.call("POST", "catalogs", {"name": "main"})
    status, error = s.call("POST", "catalogs", {"name": "main"})
    assert (status, error["error_code"]) == (409, "ALREADY_EXISTS")
    assert "main" in error["message"]
    status, error = s.call("POST", "schemas", {"name": "x", "catalog_name": "nope"})
    assert (status, error) == (
        404,
        {"error_code": "NOT_FOUND", "message": "Catalog not found: nope"},
    )
    status, error = s.call("GET", "schemas/main.nope")
    assert (status, error["message"]) == (404, "Schema not found: main.nope")


def test_catalog_list_pages_and_clamps_max_results(federate_server):
    s = federate_server
    for name in ("a", "b", "c"):
        s.call("POST", "catalogs", {"name": name})
    status, page = s.call("GET", "catalogs?max_results=2")
    assert status == 200
    assert [c["name"] for c in page["catalogs"]] == ["a", "b"]
    _, rest = s.call("GET", f"catalogs?max_results=2&page_token={page['next_page_token']}")
    assert [c["name"] for c in rest["catalogs"]] == ["c"] and "next_page_token" not in rest
    status, everything = s.call("GET", "catalogs?max_results=100000000")
    assert status == 200 and len(everything["catalogs"]) == 3
    status, error = s.call("GET", "catalogs?max_results=-1")
    assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")
    assert "max_results" in error["message"]


def test_non_empty_schema_and_catalog_need_force(federate_server):
    s = federate_server
    s.call("POST", "catalogs", {"name": "main"})
    s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
    s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    status, error = s.call("DELETE", "schemas/main.ml")
    assert status == 400 and "not empty" in error["message"] and "force" in error["message"]
    status, error = s.call("DELETE", "catalogs/main")
    assert status == 400 and "not empty" in error["message"]
    assert s.call("DELETE", "catalogs/main?force=true") == (200, {})
    assert s.call("GET", "models/main.ml.m")[0] == 404
    assert s.call("GET", "schemas/main.ml")[0] == 404


def test_catalog_and_schema_patch_change_the_comment_and_rename_with_their_models(
    federate_server,
):
    s = federate_server
    s.call("POST", "catalogs", {"name": "main", "comment": "old"})
    s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
    s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    version = {"catalog_name": "main", "schema_name": "ml", "model_name": "m", "source": "s"}
    assert s.call("POST", "models/versions", version)[0] == 200
    status, catalog = s.call("PATCH", "catalogs/main", {"comment": "new"})
    assert (status, catalog["name"], catalog["comment"]) == (200, "main", "new")
    status, catalog = s.call("PATCH", "catalogs/main", {"new_name": "prod"})
    assert (status, catalog["name"], catalog["comment"]) == (200, "prod", "new")
    assert s.call("GET", "catalogs/main")[0] == 404
    status, schema = s.call("PATCH", "schemas/prod.ml", {"new_name": "fraud", "comment": "c"})
    assert status == 200
    assert (schema["full_name"], schema["comment"]) == ("prod.fraud", "c")
    # the model and its version moved with them: the same row, resolved by its new name
    _, mv = s.call("GET", "models/prod.fraud.m/versions/1")
    assert (mv["catalog_name"], mv["schema_name"], mv["version"]) == ("prod", "fraud", 1)
    assert s.registry.get_model_version("prod.fraud.m", 1).version == 1
    assert s.call("GET", "models/main.ml.m")[0] == 404


def test_catalog_and_schema_renames_refuse_taken_names_and_bad_ones(federate_server):
    s = federate_server
    for name in ("a", "b"):
        s.call("POST", "catalogs", {"name": name})
        s.call("POST", "schemas", {"name": "x", "catalog_name": name})
    s.call("POST", "schemas", {"name": "y", "catalog_name": "a"})
    status, error = s.call("PATCH", "catalogs/a", {"new_name": "b"})
    assert (status, error) == (
        409,
        {"error_code": "ALREADY_EXISTS", "message": "Catalog already exists: b"},
    )
    status, error = s.call("PATCH", "schemas/a.x", {"new_name": "y"})
    assert (status, error["message"]) == (409, "Schema already exists: a.y")
    status, error = s.call("PATCH", "catalogs/a", {"new_name": "a.b"})
    assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")
    assert "Invalid catalog name 'a.b'" in error["message"]
    status, error = s.call("PATCH", "catalogs/a", {"comment": 3})
    assert (status, error["message"]) == (400, "Parameter 'comment' must be a string, got 3")
    assert s.call("PATCH", "catalogs/nope", {"comment": "c"})[0] == 404
    assert s.call("GET", "catalogs/a")[1]["name"] == "a"  # nothing changed


def test_a_rename_onto_a_model_of_the_sql_registry_is_refused_whole(federate_server):
    s = federate_server
    s.call("POST", "catalogs", {"name": "a"})
    s.call("POST", "schemas", {"name": "x", "catalog_name": "a"})
    s.call("POST", "models", {"name": "m", "catalog_name": "a", "schema_name": "x"})
    s.registry.create_registered_model("b.x.m")  # registered by federate, not through UC
    status, error = s.call("PATCH", "catalogs/a", {"new_name": "b"})
    assert (status, error["error_code"]) == (409, "ALREADY_EXISTS")
    assert "b.x.m" in error["message"]
    assert s.call("GET", "catalogs/a")[0] == 200 and s.call("GET", "models/a.x.m")[0] == 200


def test_versions_live_under_their_schema_root_else_their_catalog_root(federate_server, tmp_path):
    s = federate_server
    catalog_root, schema_root = tmp_path / "catalog-root", tmp_path / "schema-root"
    status, catalog = s.call("POST", "catalogs", {"name": "c", "storage_root": str(catalog_root)})
    assert (status, catalog["storage_root"]) == (200, catalog_root.as_uri())
    assert s.call("GET", "catalogs/c")[1]["storage_root"] == catalog_root.as_uri()
    s.call("POST", "schemas", {"name": "plain", "catalog_name": "c"})
    body = {"name": "own", "catalog_name": "c", "storage_root": schema_root.as_uri() + "/"}
    status, schema = s.call("POST", "schemas", body)
    assert (status, schema["storage_root"]) == (200, schema_root.as_uri())
    placed = {}
    for schema_name in ("plain", "own"):
        s.call("POST", "models", {"name": "m", "catalog_name": "c", "schema_name": schema_name})
        new = {"catalog_name": "c", "schema_name": schema_name, "model_name": "m", "source": "s"}
        placed[schema_name] = s.call("POST", "models/versions", new)[1]["storage_location"]
    assert placed == {
        "plain": f"{catalog_root.as_uri()}/models/c.plain.m/1",
        "own": f"{schema_root.as_uri()}/models/c.own.m/1",
    }
    # a schema without roots anywhere: the registry's artifact root, as before
    s.call("POST", "catalogs", {"name": "d"})
    s.call("POST", "schemas", {"name": "x", "catalog_name": "d"})
    s.call("POST", "models", {"name": "m", "catalog_name": "d", "schema_name": "x"})
    new = {"catalog_name": "d", "schema_name": "x", "model_name": "m", "source": "s"}
    location = s.call("POST", "models/versions", new)[1]["storage_location"]
    assert location == f"{(tmp_path / 'artifacts').resolve().as_uri()}/models/d.x.m/1"


def test_a_storage_root_federate_cannot_open_is_refused_naming_it(federate_server):
    s = federate_server
    for relative in ("relative/dir", "~nosuchuser/dir"):  # found by schemathesis: a 500
        status, error = s.call("POST", "catalogs", {"name": "c", "storage_root": relative})
        assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")
        assert "relative path" in error["message"]
    status, error = s.call("POST", "catalogs", {"name": "c", "storage_root": "nope://x/y"})
    assert (status, error["error_code"]) == (400, "INVALID_ARGUMENT")
    assert "nope" in error["message"]
    assert s.call("GET", "catalogs/c")[0] == 404  # nothing created
