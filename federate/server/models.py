"""``/models``: create, get, list, update (comment, rename), delete. A model
``catalog.schema.model`` is the SQL registry's model of that name."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from federate.registry.sql.unity import ModelRow, check_part, split_full_name
from federate.server import wire
from federate.server.endpoints import API, Call, endpoint
from federate.server.errors import bad_request

PAGE_CAP = 1000


def model_answer(call: Call, full_name: str) -> dict[str, Any]:
    rm = call.registry.get_registered_model(full_name)
    row = ModelRow(rm.name, rm.description, rm.creation_timestamp, rm.last_updated_timestamp)
    return wire.model_info(row, rm.aliases)


def path_model(call: Call) -> str:
    """The model the path names, checked to be ``catalog.schema.model``."""
    full_name = call.args.text("full_name", required=True) or ""
    split_full_name(full_name, 3, "model")
    return full_name


def create_model(call: Call) -> dict[str, Any]:
    a = call.args
    catalog = check_part(a.text("catalog_name", required=True) or "", "catalog name")
    schema = check_part(a.text("schema_name", required=True) or "", "schema name")
    name = check_part(a.text("name", required=True) or "", "model name")
    call.unity.require_schema(catalog, schema)
    full_name = f"{catalog}.{schema}.{name}"
    call.registry.create_registered_model(full_name, description=a.text("comment"))
    return model_answer(call, full_name)


def list_models(call: Call) -> dict[str, Any]:
    a = call.args
    catalog, schema = a.text("catalog_name"), a.text("schema_name")
    if schema and not catalog:
        raise bad_request("schema_name needs catalog_name")
    prefix = ""
    if catalog:
        check_part(catalog, "catalog name")
        prefix = catalog + "."
        if schema:
            call.unity.require_schema(catalog, check_part(schema, "schema name"))
            prefix += schema + "."
        else:
            call.unity.get_catalog(catalog)
    found, token = call.unity.list_models(prefix, a.page_size(PAGE_CAP), a.text("page_token"))
    # rows of the SQL registry that are not catalog.schema.model are not Unity Catalog's
    models = [wire.model_info(m) for m in found if m.full_name.count(".") == 2]
    answer: dict[str, Any] = {"registered_models": models}
    if token:
        answer["next_page_token"] = token
    return answer


def get_model(call: Call) -> dict[str, Any]:
    return model_answer(call, path_model(call))


def update_model(call: Call) -> dict[str, Any]:
    full_name = path_model(call)
    a = call.args
    if "comment" in a.body:
        call.registry.update_registered_model(full_name, description=a.text("comment"))
    new_name = a.text("new_name")
    if new_name:
        if "." in new_name:
            catalog, schema, _ = split_full_name(new_name, 3, "model")
        else:
            catalog, schema, _ = full_name.split(".", 2)
            new_name = f"{catalog}.{schema}.{check_part(new_name, 'model name')}"
        call.unity.require_schema(catalog, schema)
        if new_name != full_name:
            call.registry.rename_registered_model(full_name, new_name)
        full_name = new_name
    return model_answer(call, full_name)


def delete_model(call: Call) -> dict[str, Any]:
    call.registry.delete_registered_model(path_model(call))
    return {}


ROUTES = [
    Route(f"{API}/models", endpoint(create_model), methods=["POST"]),
    Route(f"{API}/models", endpoint(list_models), methods=["GET"]),
    Route(f"{API}/models/{{full_name}}", endpoint(get_model), methods=["GET"]),
    Route(f"{API}/models/{{full_name}}", endpoint(update_model), methods=["PATCH"]),
    Route(f"{API}/models/{{full_name}}", endpoint(delete_model), methods=["DELETE"]),
]
