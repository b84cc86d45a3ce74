"""Reads over the native Unity Catalog dialect, ``/api/2.1/unity-catalog``.

Databricks serves it beside MLflow's dialect (MLflow speaks it with
``MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY``), and open-source servers serve only it: the
paths and flat messages are the same (``ModelVersionInfo`` with integer versions,
``RegisteredModelInfo``); a Databricks workspace also has the alias route and answers
``include_aliases``. Vended credentials come back flat, with Databricks' extra fields
(``r2_temp_credentials``, ``storage_mode``) when the workspace is Databricks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from federate.entities import ModelVersion, RegisteredModel
from federate.names import check_alias
from federate.registry.rest_client import RestClient
from federate.registry.uc import oss_wire
from federate.registry.uc.names import full_name
from federate.registry.uc.oss_wire import READ, READ_WRITE
from federate.registry.uc.paging import every_item

API = "/api/2.1/unity-catalog"
#: versions asked for per page (servers cap it: the reference server at 100)
PAGE_SIZE = 100


def model_path(name: str) -> str:
    return f"{API}/models/{quote(full_name(name), safe='')}"


def split_name(name: str) -> dict[str, str]:
    catalog, schema, model = full_name(name).split(".")
    return {"catalog_name": catalog, "schema_name": schema, "model_name": model}


def _with_aliases(aliases: bool) -> dict[str, str]:
    # a Databricks opt-in: without it a workspace leaves the aliases out
    return {"include_aliases": "true"} if aliases else {}


def get_registered_model(client: RestClient, name: str, aliases: bool) -> RegisteredModel:
    return oss_wire.registered_model(client.get(model_path(name), _with_aliases(aliases)), name)


def get_model_version(client: RestClient, name: str, number: int, aliases: bool) -> ModelVersion:
    answer = client.get(f"{model_path(name)}/versions/{number}", _with_aliases(aliases))
    return oss_wire.model_version(answer, name)


def get_model_version_by_alias(client: RestClient, name: str, alias: str) -> ModelVersion:
    check_alias(alias, lookup=True)
    answer = client.get(f"{model_path(name)}/aliases/{quote(alias, safe='')}", _with_aliases(True))
    return oss_wire.model_version(answer, name)


def list_versions(client: RestClient, name: str) -> list[ModelVersion]:
    """Every version of ``name``, all pages read."""
    path = f"{model_path(name)}/versions"
    items = every_item(
        lambda token: client.get(path, {"max_results": PAGE_SIZE, "page_token": token}),
        "model_versions",
        f"the version list of {name!r}",
    )
    return [oss_wire.model_version(item, name) for item in items]


def temporary_credentials(client: RestClient, mv: ModelVersion, write: bool) -> dict[str, Any]:
    """The flat ``TemporaryCredentials`` vended for the version (READ, or READ_WRITE)."""
    return client.post(
        f"{API}/temporary-model-version-credentials",
        {
            **split_name(mv.name),
            "version": mv.version,
            "operation": READ_WRITE if write else READ,
        },
    )
