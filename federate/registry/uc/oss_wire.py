"""The JSON of the open-source Unity Catalog API (``/api/2.1/unity-catalog``) as
federate's records: flat messages, versions and timestamps as integers, names split in
``catalog_name``/``schema_name``/``model_name``, vended credentials without a oneof."""

from __future__ import annotations

from typing import Any

from federate.credentials import ScopedCredentials
from federate.entities import ModelVersion, RegisteredModel
from federate.errors import INTERNAL_ERROR, FederateError
from federate.registry.rest_wire import tag_field
from federate.registry.uc.wire import AWS_SESSION, AZURE_SAS, GCP_OAUTH, version_number

READ = "READ_MODEL_VERSION"
READ_WRITE = "READ_WRITE_MODEL_VERSION"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise FederateError(
            f"The Unity Catalog server answered {what} with no object", INTERNAL_ERROR
        )
    return data


def _aliases(data: dict[str, Any]) -> list[tuple[str, int]]:
    items = data.get("aliases")
    if not isinstance(items, list):
        return []
    return [
        (str(a["alias_name"]), _int(a.get("version_num")))
        for a in items
        if isinstance(a, dict) and a.get("alias_name")
    ]


def full_name_of(data: dict[str, Any], name_field: str, fallback: str) -> str:
    parts = [data.get("catalog_name"), data.get("schema_name"), data.get(name_field)]
    if all(isinstance(p, str) and p for p in parts):
        return ".".join(str(p) for p in parts)
    return fallback


def model_version(data: Any, name: str) -> ModelVersion:
    """A ``ModelVersionInfo`` as federate's record."""
    data = _object(data, f"a version of {name!r}")
    return ModelVersion(
        name=full_name_of(data, "model_name", name),
        version=version_number(data.get("version"), name),
        creation_timestamp=_int(data.get("created_at")),
        last_updated_timestamp=_int(data.get("updated_at")),
        current_stage="None",  # Unity Catalog has no stages
        source=data.get("source") or None,
        storage_location=data.get("storage_location") or None,
        description=data.get("comment") or None,
        user_id=data.get("created_by") or None,
        run_id=data.get("run_id") or None,
        status=str(data.get("status") or "MODEL_VERSION_STATUS_UNKNOWN"),
        aliases=tuple(alias for alias, version in _aliases(data)),
        tags=tag_field(data.get("tags")),
    )


def registered_model(data: Any, name: str) -> RegisteredModel:
    """A ``RegisteredModelInfo`` as federate's record."""
    data = _object(data, f"the model {name!r}")
    return RegisteredModel(
        name=str(data.get("full_name") or full_name_of(data, "name", name)),
        creation_timestamp=_int(data.get("created_at")),
        last_updated_timestamp=_int(data.get("updated_at")),
        description=data.get("comment") or None,
        aliases=dict(_aliases(data)),
    )


def credentials(data: Any, what: str) -> ScopedCredentials | None:
    """``TemporaryCredentials`` as ScopedCredentials: S3 session credentials, an Azure SAS
    or a GCP OAuth token; None when no cloud block is filled (a ``file:`` location)."""
    data = _object(data, f"the credentials for {what}")
    expires = _int(data.get("expiration_time"))
    expires_at = expires / 1000.0 if expires else None
    aws = data.get("aws_temp_credentials")
    if isinstance(aws, dict) and aws.get("access_key_id"):
        values = {
            key: str(aws[key])
            for key in ("access_key_id", "secret_access_key", "session_token")
            if aws.get(key)
        }
        return ScopedCredentials(AWS_SESSION, values, expires_at)
    for block_name, key, kind in (
        ("azure_user_delegation_sas", "sas_token", AZURE_SAS),
        ("gcp_oauth_token", "oauth_token", GCP_OAUTH),
    ):
        block = data.get(block_name)
        if isinstance(block, dict) and block.get(key):
            return ScopedCredentials(kind, {key: str(block[key])}, expires_at)
    return None
