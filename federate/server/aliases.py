"""``/models/{full_name}/aliases/{alias}`` (GET, PUT, DELETE): the native Unity Catalog
alias routes MLflow's native dialect uses; the OSS API has none."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from federate.server import wire
from federate.server.endpoints import API, Call, endpoint
from federate.server.errors import bad_request
from federate.server.models import path_model


def _alias(call: Call) -> str:
    return call.args.text("alias", required=True) or ""


def get_alias(call: Call) -> dict[str, Any]:
    mv = call.registry.get_model_version_by_alias(path_model(call), _alias(call))
    return wire.version_info(mv)


def set_alias(call: Call) -> dict[str, Any]:
    full_name, alias = path_model(call), _alias(call)
    version = call.args.integer("version_num")
    if version is None:
        raise bad_request("Missing required parameter 'version_num'")
    call.registry.set_registered_model_alias(full_name, alias, version)
    return wire.alias_info(full_name, alias, version)


def delete_alias(call: Call) -> dict[str, Any]:
    call.registry.delete_registered_model_alias(path_model(call), _alias(call))
    return {}


_ALIAS = f"{API}/models/{{full_name}}/aliases/{{alias}}"
ROUTES = [
    Route(_ALIAS, endpoint(get_alias), methods=["GET"]),
    Route(_ALIAS, endpoint(set_alias), methods=["PUT"]),
    Route(_ALIAS, endpoint(delete_alias), methods=["DELETE"]),
]
