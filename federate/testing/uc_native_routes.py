"""The native Unity Catalog dialect (``/api/2.1/unity-catalog``) of the fake workspace.

The same models and versions as its MLflow dialect, answered flat as
``unity_catalog_messages.proto`` has them: ``RegisteredModelInfo`` and
``ModelVersionInfo`` (integer versions, ``comment``, ``created_at``, names split in
``catalog_name``/``schema_name``/``model_name``, aliases as ``alias_name``/``version_num``
when ``include_aliases`` is asked), the version list paged by the last version number,
the alias route, and ``temporary-model-version-credentials`` with the operation names
``READ_MODEL_VERSION``/``READ_WRITE_MODEL_VERSION`` and the credentials unwrapped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from federate.testing.uc_records import API, FakeModel, FakeVersion, Refusal

if TYPE_CHECKING:
    from federate.testing.uc_workspace import UcWorkspace

NATIVE_API = "/api/2.1/unity-catalog"
NATIVE_CREDENTIALS = f"{NATIVE_API}/temporary-model-version-credentials"
_OPERATIONS = {
    "READ_MODEL_VERSION": "MODEL_VERSION_OPERATION_READ",
    "READ_WRITE_MODEL_VERSION": "MODEL_VERSION_OPERATION_READ_WRITE",
}


def _aliases(model: FakeModel, version: int | None, asked: bool) -> dict[str, Any]:
    if not asked:
        return {}
    pairs = sorted((a, v) for a, v in model.aliases.items() if version in (None, v))
    return {"aliases": [{"alias_name": a, "version_num": v} for a, v in pairs]}


def version_info(model: FakeModel, version: FakeVersion, aliases: bool) -> dict[str, Any]:
    catalog, schema, name = model.name.split(".")
    return {
        "catalog_name": catalog,
        "schema_name": schema,
        "model_name": name,
        "version": version.version,
        "source": version.source,
        "status": version.status,
        "storage_location": version.storage_location,
        "comment": version.description,
        "created_at": version.created_ms,
        "updated_at": version.created_ms,
        "created_by": "fake@example.com",
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items())],
        **_aliases(model, version.version, aliases),
    }


def model_info(model: FakeModel, aliases: bool) -> dict[str, Any]:
    catalog, schema, name = model.name.split(".")
    return {
        "name": name,
        "catalog_name": catalog,
        "schema_name": schema,
        "full_name": model.name,
        "storage_location": model.storage_location,
        "comment": model.description,
        "created_at": model.created_ms,
        "updated_at": model.created_ms,
        **_aliases(model, None, aliases),
    }


def native_answer(
    workspace: UcWorkspace, method: str, path: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The answer to a native-dialect request (the caller holds the workspace's lock)."""
    rest = path[len(NATIVE_API) :]
    aliases = str(params.get("include_aliases", "")).lower() == "true"
    if (method, rest) == ("POST", "/temporary-model-version-credentials"):
        parts = [str(params.get(k) or "") for k in ("catalog_name", "schema_name", "model_name")]
        if not all(parts):
            raise Refusal(400, "catalog_name, schema_name and model_name are required")
        operation = _OPERATIONS.get(str(params.get("operation")), "unknown")
        legacy = {"name": ".".join(parts), "version": str(params.get("version") or ""),
                  "operation": operation}  # fmt: skip
        return dict(workspace._credentials(legacy)["credentials"])
    segments = [unquote(s) for s in rest.strip("/").split("/")]
    if method != "GET" or len(segments) < 2 or segments[0] != "models":
        raise Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")
    model = workspace._model({"name": segments[1]})
    tail = segments[2:]
    if not tail:
        return model_info(model, aliases)
    if tail == ["versions"]:
        return _list(workspace, model, params)
    if len(tail) == 2 and tail[0] == "versions":
        found = workspace._version({"name": model.name, "version": tail[1]})
        return version_info(model, found, aliases)
    if len(tail) == 2 and tail[0] == "aliases":
        if tail[1] not in model.aliases:
            raise Refusal(404, f"Alias '{tail[1]}' does not exist on '{model.name}'.")
        return version_info(model, model.versions[model.aliases[tail[1]]], aliases)
    raise Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")


def _list(workspace: UcWorkspace, model: FakeModel, params: dict[str, Any]) -> dict[str, Any]:
    """A page of versions after the ``page_token`` (the last version of the page before)."""
    after = int(str(params.get("page_token") or "0"))
    limit = min(int(params.get("max_results") or 100), workspace.page_size)
    versions = sorted(v for v in model.versions if v > after)
    page = versions[:limit]
    answer: dict[str, Any] = {
        "model_versions": [version_info(model, model.versions[v], False) for v in page]
    }
    if len(versions) > limit:
        answer["next_page_token"] = str(page[-1])
    return answer


def dialects_used(workspace: UcWorkspace) -> set[str]:
    """Which dialects the requests so far read versions or credentials over: ``"native"``,
    ``"mlflow"`` (MLflow's ``/model-versions/`` routes)."""
    used = set()
    for request in workspace.requests:
        if request.path.startswith(NATIVE_API + "/"):
            used.add("native")
        elif request.path.startswith(API + "/model-versions/"):
            used.add("mlflow")
    return used
