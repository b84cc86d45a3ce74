"""federate serve: registered models are the SQL registry's rows of the same name."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")


def test_model_created_through_the_api_is_the_registry_row(federate_server, model):
    s = federate_server
    status, info = s.call("GET", f"models/{model}?full_name={model}")  # MLflow repeats it
    assert status == 200
    assert (info["full_name"], info["name"], info["catalog_name"], info["schema_name"]) == (
        "main.ml.m",
        "m",
        "main",
        "ml",
    )
    assert s.registry.get_registered_model("main.ml.m").creation_timestamp == info["created_at"]


def test_model_needs_its_schema(federate_server, model):
    status, error = federate_server.call(
        "POST", "models", {"name": "x", "catalog_name": "main", "schema_name": "nope"}
    )
    assert (status, error) == (
        404,
        {"error_code": "NOT_FOUND", "message": "Schema not found: main.nope"},
    )
    status, error = federate_server.call("POST", "models", {"name": "x", "catalog_name": "main"})
    assert status == 400 and "schema_name" in error["message"]


def test_list_update_rename_delete(federate_server, model):
    s = federate_server
    s.call("POST", "models", {"name": "n", "catalog_name": "main", "schema_name": "ml"})
    s.registry.create_registered_model("not-uc")  # a row that is not catalog.schema.model
    status, listed = s.call("GET", "models", {})  # unitycatalog-client: a JSON body on GET
    assert status == 200
    assert [m["full_name"] for m in listed["registered_models"]] == ["main.ml.m", "main.ml.n"]
    _, page = s.call("GET", "models?catalog_name=main&schema_name=ml&max_results=1")
    assert [m["name"] for m in page["registered_models"]] == ["m"] and page["next_page_token"]
    status, info = s.call("PATCH", f"models/{model}", {"comment": "fraud"})
    assert (status, info["comment"]) == (200, "fraud")
    status, info = s.call("PATCH", f"models/{model}", {"new_name": "renamed"})
    assert (status, info["full_name"]) == (200, "main.ml.renamed")
    assert s.registry.get_registered_model("main.ml.renamed").description == "fraud"
    status, error = s.call("PATCH", "models/main.ml.renamed", {"new_name": "n"})
    assert (status, error["error_code"]) == (409, "ALREADY_EXISTS")
    assert s.call("DELETE", "models/main.ml.renamed", {"full_name": "main.ml.renamed"}) == (200, {})
    status, error = s.call("GET", "models/main.ml.renamed")
    assert status == 404 and "main.ml.renamed" in error["message"]


def test_two_level_name_is_400(federate_server):
    status, error = federate_server.call("GET", "models/main.m")
    assert status == 400 and "catalog.schema.model" in error["message"]
