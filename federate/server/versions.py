"""``/models/versions`` and ``/models/{full_name}/versions/...``: create (PENDING_REGISTRATION,
at a fresh location under its schema's storage root: :mod:`federate.server.roots`), get,
list (paged by number), update, delete, finalize (READY)."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.routing import Route

from federate.entities import PENDING_REGISTRATION
from federate.registry.base import as_version
from federate.registry.sql.unity import check_part
from federate.server import wire
from federate.server.endpoints import API, Call, endpoint
from federate.server.errors import bad_request
from federate.server.models import path_model
from federate.server.roots import storage_url

#: the most versions one page lists, as the reference server's
PAGE_CAP = 100


def path_version(call: Call) -> int:
    raw = call.args.raw("version")
    if raw is None:
        raise bad_request("Missing required parameter 'version'")
    return as_version(raw if isinstance(raw, (int, str)) and not isinstance(raw, bool) else "")


def create_version(call: Call) -> dict[str, Any]:
    from federate.api import _fresh_location

    a = call.args
    catalog = check_part(a.text("catalog_name", required=True) or "", "catalog name")
    schema = check_part(a.text("schema_name", required=True) or "", "schema name")
    name = check_part(a.text("model_name", required=True) or "", "model name")
    source = a.text("source", required=True) or ""
    full_name = f"{catalog}.{schema}.{name}"
    call.registry.get_registered_model(full_name)  # 404 naming the model first
    root = call.unity.storage_root(catalog, schema)
    pending = call.registry.create_model_version(
        full_name,
        source=source,
        run_id=a.text("run_id"),
        description=a.text("comment"),
        status=PENDING_REGISTRATION,
    )
    try:
        location, _repo = _fresh_location(call.registry, full_name, pending.version, root)
        placed = call.unity.place_version(full_name, pending.version, storage_url(location))
    except BaseException:
        # a version nobody can upload to is of no use: the client sees the error, not it
        with contextlib.suppress(Exception):
            call.registry.delete_model_version(full_name, pending.version)
        raise
    return wire.version_info(placed)


def list_versions(call: Call) -> dict[str, Any]:
    full_name = path_model(call)
    token = call.args.text("page_token")
    after = 0
    if token:
        if not token.isascii() or not token.isdigit():
            raise bad_request(f"Invalid page_token {token!r}")
        after = int(token)
    found, next_token = call.unity.list_versions(full_name, call.args.page_size(PAGE_CAP), after)
    answer: dict[str, Any] = {"model_versions": [wire.version_info(mv) for mv in found]}
    if next_token:
        answer["next_page_token"] = next_token
    return answer


def get_version(call: Call) -> dict[str, Any]:
    return wire.version_info(call.unity.get_version(path_model(call), path_version(call)))


def update_version(call: Call) -> dict[str, Any]:
    full_name, version = path_model(call), path_version(call)
    if "comment" in call.args.body:
        call.registry.update_model_version(full_name, version, call.args.text("comment"))
    return wire.version_info(call.registry.get_model_version(full_name, version))


def delete_version(call: Call) -> dict[str, Any]:
    call.registry.delete_model_version(path_model(call), path_version(call))
    return {}


def finalize_version(call: Call) -> dict[str, Any]:
    full_name, version = path_model(call), path_version(call)
    mv = call.registry.get_model_version(full_name, version)
    if mv.status != PENDING_REGISTRATION:
        raise bad_request(
            f"Model version {full_name}/{version} is {mv.status}, not {PENDING_REGISTRATION}: "
            "only a pending version can be finalized"
        )
    done = call.registry.finish_model_version(full_name, version, mv.storage_location or "")
    return wire.version_info(done)


_VERSION = f"{API}/models/{{full_name}}/versions/{{version}}"
ROUTES = [
    Route(f"{API}/models/versions", endpoint(create_version), methods=["POST"]),
    Route(f"{API}/models/{{full_name}}/versions", endpoint(list_versions), methods=["GET"]),
    Route(_VERSION, endpoint(get_version, hot=True), methods=["GET"]),
    Route(_VERSION, endpoint(update_version), methods=["PATCH"]),
    Route(_VERSION, endpoint(delete_version), methods=["DELETE"]),
    Route(f"{_VERSION}/finalize", endpoint(finalize_version), methods=["PATCH"]),
]
