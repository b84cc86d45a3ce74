"""federate's records as the open-source Unity Catalog API's JSON: versions and
timestamps are integers, unset fields are left out (never null)."""

from __future__ import annotations

from typing import Any

from federate.entities import ModelVersion
from federate.registry.sql.unity import ModelRow, Securable


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != []}


def catalog_info(c: Securable) -> dict[str, Any]:
    return _compact(
        {
            "name": c.name,
            "comment": c.comment,
            "id": c.uuid,
            "storage_root": c.storage_root,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }
    )


def schema_info(s: Securable) -> dict[str, Any]:
    return _compact(
        {
            "name": s.name,
            "catalog_name": s.catalog_name,
            "full_name": s.full_name,
            "comment": s.comment,
            "schema_id": s.uuid,
            "storage_root": s.storage_root,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
        }
    )


def model_info(m: ModelRow, aliases: dict[str, int] | None = None) -> dict[str, Any]:
    catalog, schema, name = m.full_name.split(".", 2)
    return _compact(
        {
            "name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "full_name": m.full_name,
            "comment": m.comment,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "aliases": [
                alias_info(m.full_name, alias, version)
                for alias, version in sorted((aliases or {}).items())
            ],
        }
    )


def alias_info(full_name: str, alias: str, version: int) -> dict[str, Any]:
    catalog, schema, name = full_name.split(".", 2)
    return {
        "alias_name": alias,
        "version_num": version,
        "catalog_name": catalog,
        "schema_name": schema,
        "model_name": name,
    }


def version_info(mv: ModelVersion) -> dict[str, Any]:
    catalog, schema, name = mv.name.split(".", 2)
    return _compact(
        {
            "model_name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "version": mv.version,
            "source": mv.source,
            "run_id": mv.run_id,
            "status": mv.status,
            "storage_location": mv.storage_location,
            "comment": mv.description,
            "created_at": mv.creation_timestamp,
            "updated_at": mv.last_updated_timestamp,
            "created_by": mv.user_id,
            "aliases": [alias_info(mv.name, a, mv.version) for a in mv.aliases],
        }
    )
