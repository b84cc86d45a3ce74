"""``/temporary-model-version-credentials``: who may ask for what, for which version
(what is vended: :mod:`federate.server.vending`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from federate.entities import PENDING_REGISTRATION, READY
from federate.registry.base import as_version
from federate.registry.sql.unity import check_part
from federate.server.endpoints import API, Call, endpoint
from federate.server.errors import ApiError, bad_request
from federate.server.vending import vend

READ = "READ_MODEL_VERSION"
READ_WRITE = "READ_WRITE_MODEL_VERSION"


def temporary_credentials(call: Call) -> dict[str, Any]:
    a = call.args
    catalog = check_part(a.text("catalog_name", required=True) or "", "catalog name")
    schema = check_part(a.text("schema_name", required=True) or "", "schema name")
    name = check_part(a.text("model_name", required=True) or "", "model name")
    version = as_version(a.integer("version", required=True) or 0)
    operation = a.text("operation", required=True)
    if operation not in (READ, READ_WRITE):
        raise bad_request(f"Invalid operation {operation!r}: {READ} or {READ_WRITE}")
    if operation == READ_WRITE and not call.may_write:
        raise ApiError(403, "PERMISSION_DENIED", "This token is read-only: READ credentials only")
    full_name = f"{catalog}.{schema}.{name}"
    mv = call.registry.get_model_version(full_name, version)
    if operation == READ_WRITE and mv.status != PENDING_REGISTRATION:
        raise bad_request(
            f"Model version {full_name}/{version} has been finalized ({mv.status}): "
            "no write credentials for it"
        )
    if operation == READ and mv.status not in (READY, PENDING_REGISTRATION):
        raise bad_request(f"Model version {full_name}/{version} is {mv.status}: nothing to read")
    return vend(mv.storage_location or "", writable=operation == READ_WRITE)


ROUTES = [
    Route(
        f"{API}/temporary-model-version-credentials",
        endpoint(temporary_credentials),
        methods=["POST"],
    )
]
