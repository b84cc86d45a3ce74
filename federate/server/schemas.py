"""``/schemas``: create, get, list, update (comment, rename within the catalog), delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from federate.registry.sql.unity import split_full_name
from federate.server import wire
from federate.server.endpoints import API, Call, endpoint
from federate.server.roots import given_root

PAGE_CAP = 1000


def create_schema(call: Call) -> dict[str, Any]:
    a = call.args
    schema = call.unity.create_schema(
        a.text("catalog_name", required=True) or "",
        a.text("name", required=True) or "",
        a.text("comment"),
        given_root(call),
    )
    return wire.schema_info(schema)


def list_schemas(call: Call) -> dict[str, Any]:
    a = call.args
    found, token = call.unity.list_schemas(
        a.text("catalog_name", required=True) or "", a.page_size(PAGE_CAP), a.text("page_token")
    )
    answer: dict[str, Any] = {"schemas": [wire.schema_info(s) for s in found]}
    if token:
        answer["next_page_token"] = token
    return answer


def get_schema(call: Call) -> dict[str, Any]:
    catalog, name = split_full_name(call.args.text("full_name", required=True) or "", 2, "schema")
    return wire.schema_info(call.unity.get_schema(catalog, name))


def update_schema(call: Call) -> dict[str, Any]:
    a = call.args
    catalog, name = split_full_name(a.text("full_name", required=True) or "", 2, "schema")
    updated = call.unity.update_schema(
        catalog, name, a.body_text("comment"), "comment" in a.body, a.body_text("new_name")
    )
    return wire.schema_info(updated)


def delete_schema(call: Call) -> dict[str, Any]:
    catalog, name = split_full_name(call.args.text("full_name", required=True) or "", 2, "schema")
    call.unity.delete_schema(catalog, name, call.args.flag("force"))
    return {}


ROUTES = [
    Route(f"{API}/schemas", endpoint(create_schema), methods=["POST"]),
    Route(f"{API}/schemas", endpoint(list_schemas), methods=["GET"]),
    Route(f"{API}/schemas/{{full_name}}", endpoint(get_schema), methods=["GET"]),
    Route(f"{API}/schemas/{{full_name}}", endpoint(update_schema), methods=["PATCH"]),
    Route(f"{API}/schemas/{{full_name}}", endpoint(delete_schema), methods=["DELETE"]),
]
