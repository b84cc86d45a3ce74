"""``/catalogs``: create, get, list, update (comment, rename), delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from federate.server import wire
from federate.server.endpoints import API, Call, endpoint
from federate.server.roots import given_root

#: the most catalogs one page lists
PAGE_CAP = 1000


def create_catalog(call: Call) -> dict[str, Any]:
    a = call.args
    name = a.text("name", required=True) or ""
    return wire.catalog_info(call.unity.create_catalog(name, a.text("comment"), given_root(call)))


def list_catalogs(call: Call) -> dict[str, Any]:
    found, token = call.unity.list_catalogs(
        call.args.page_size(PAGE_CAP), call.args.text("page_token")
    )
    answer: dict[str, Any] = {"catalogs": [wire.catalog_info(c) for c in found]}
    if token:
        answer["next_page_token"] = token
    return answer


def get_catalog(call: Call) -> dict[str, Any]:
    return wire.catalog_info(call.unity.get_catalog(call.args.text("name", required=True) or ""))


def update_catalog(call: Call) -> dict[str, Any]:
    a = call.args
    updated = call.unity.update_catalog(
        a.text("name", required=True) or "",
        a.body_text("comment"),
        "comment" in a.body,
        a.body_text("new_name"),
    )
    return wire.catalog_info(updated)


def delete_catalog(call: Call) -> dict[str, Any]:
    call.unity.delete_catalog(call.args.text("name", required=True) or "", call.args.flag("force"))
    return {}


ROUTES = [
    Route(f"{API}/catalogs", endpoint(create_catalog), methods=["POST"]),
    Route(f"{API}/catalogs", endpoint(list_catalogs), methods=["GET"]),
    Route(f"{API}/catalogs/{{name}}", endpoint(get_catalog), methods=["GET"]),
    Route(f"{API}/catalogs/{{name}}", endpoint(update_catalog), methods=["PATCH"]),
    Route(f"{API}/catalogs/{{name}}", endpoint(delete_catalog), methods=["DELETE"]),
]
