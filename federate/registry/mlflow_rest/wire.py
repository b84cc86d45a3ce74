"""The JSON of MLflow's registry REST API (``/api/2.0/mlflow``) as federate's records.

Field names are those of MLflow's ``model_registry.proto``: a version's ``aliases`` are
plain names, a registered model's ``{"alias", "version"}`` objects; ``status`` is the
enum's name (``READY``). MLflow's messages have no storage location: the store sets it
from ``get-download-uri``, the location MLflow's own client downloads from.
"""

from __future__ import annotations

from typing import Any

from federate.entities import ModelVersion, RegisteredModel
from federate.registry.rest_wire import int_field, message, tag_field, version_number


def model_version(data: Any, name: str, storage_location: str | None = None) -> ModelVersion:
    """A ``ModelVersion`` message as federate's record (``name`` for messages only)."""
    data = message(data, "model_version", name)
    aliases = data.get("aliases")
    return ModelVersion(
        name=str(data.get("name") or name),
        version=version_number(data.get("version"), name),
        creation_timestamp=int_field(data.get("creation_timestamp")),
        last_updated_timestamp=int_field(data.get("last_updated_timestamp")),
        current_stage=str(data.get("current_stage") or "None"),
        source=data.get("source") or None,
        storage_location=storage_location,
        description=data.get("description") or None,
        user_id=data.get("user_id") or None,
        run_id=data.get("run_id") or None,
        run_link=data.get("run_link") or None,
        model_id=data.get("model_id") or None,
        status=str(data.get("status") or "READY"),
        status_message=data.get("status_message") or None,
        tags=tag_field(data.get("tags")),
        aliases=tuple(str(a) for a in aliases if a) if isinstance(aliases, list) else (),
    )


def model_versions(items: Any, name: str) -> list[ModelVersion]:
    """A list of ``ModelVersion`` messages (absent: none, as MLflow omits empty lists)."""
    return [model_version(item, name) for item in items] if isinstance(items, list) else []


def registered_model(data: Any, name: str) -> RegisteredModel:
    data = message(data, "registered_model", name)
    aliases = data.get("aliases")
    return RegisteredModel(
        name=str(data.get("name") or name),
        creation_timestamp=int_field(data.get("creation_timestamp")),
        last_updated_timestamp=int_field(data.get("last_updated_timestamp")),
        description=data.get("description") or None,
        tags=tag_field(data.get("tags")),
        aliases={
            str(a["alias"]): int_field(a.get("version"))
            for a in (aliases if isinstance(aliases, list) else [])
            if isinstance(a, dict) and a.get("alias")
        },
        latest_versions=tuple(model_versions(data.get("latest_versions"), name)),
    )
