"""What ``federate serve`` needs from a SQL registry beyond the Registry contract: Unity
Catalog's catalogs and schemas, listings paged by name or number, and placing a pending
version's files.

A model ``catalog.schema.model`` is the SQL registry's model row of that very name, so a
model registered through the served API is the row federate resolves, and back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, select, update

from federate.entities import ModelVersion
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.registry.sql import queries as q
from federate.registry.sql.kept import KeptReader
from federate.registry.sql.models import MODEL, SqlCatalog, SqlSchema
from federate.registry.sql.store import SqlRegistry

catalogs = cast(sa.Table, SqlCatalog.__table__)
schemas = cast(sa.Table, SqlSchema.__table__)


@dataclass(frozen=True)
class Securable:
    """A catalog (``catalog_name`` None) or a schema, as stored."""

    name: str
    uuid: str
    comment: str | None
    created_at: int
    updated_at: int
    catalog_name: str | None = None
    storage_root: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.catalog_name}.{self.name}" if self.catalog_name else self.name


@dataclass(frozen=True)
class ModelRow:
    """A registered model as Unity Catalog lists it."""

    full_name: str
    comment: str | None
    created_at: int
    updated_at: int


def check_part(value: str, what: str) -> str:
    """One level of a three-level name: non-empty, no dot, no slash, no surrounding space."""
    if (
        not isinstance(value, str)
        or not value
        or value != value.strip()
        or any(c in value for c in "./")
        or len(value) > 255
    ):
        raise FederateError(
            f"Invalid {what} {value!r}: a name of 1 to 255 characters without '.', '/' or "
            "surrounding spaces",
            INVALID_PARAMETER_VALUE,
        )
    return value


def split_full_name(full_name: str, levels: int, what: str) -> list[str]:
    parts = full_name.split(".") if isinstance(full_name, str) else []
    if len(parts) != levels:
        form = "catalog.schema" if levels == 2 else "catalog.schema.model"
        raise FederateError(
            f"Invalid {what} name {full_name!r}: expected {form}", INVALID_PARAMETER_VALUE
        )
    for part, level in zip(parts, ("catalog", "schema", "model")[:levels], strict=True):
        check_part(part, f"{level} name")
    return parts


def _securable(row: Any, catalog_name: str | None = None) -> Securable:
    return Securable(
        row.name,
        row.uuid,
        row.comment,
        row.creation_time,
        row.last_updated_time,
        catalog_name,
        row.storage_root,
    )


# one version with its aliases (a row per alias, one row if none) in a single statement:
# what the served API answers for a version (Unity Catalog has no version tags)
_VERSION_WITH_ALIASES = (
    select(*q.VERSION_COLUMNS, q.alias_t.c.alias)
    .select_from(
        q.mv.join(q.rm, q.rm.c.id == q.mv.c.registered_model_id).outerjoin(
            q.alias_t, q.alias_t.c.model_version_id == q.mv.c.id
        )
    )
    .where(
        q.rm.c.name == sa.bindparam("name"),
        q.rm.c.kind == MODEL,
        q.mv.c.version == sa.bindparam("version"),
    )
)


def _prefix_filter(prefix: str) -> Any:
    return sa.and_(q.rm.c.kind == MODEL, q.rm.c.name.startswith(prefix, autoescape=True))


class UnityCatalog:
    """Catalogs, schemas and paged listings of one SQL registry."""

    def __init__(self, registry: SqlRegistry) -> None:
        self.registry = registry
        self.session = registry.session
        self._kept = KeptReader(registry.session)

    # -- catalogs ----------------------------------------------------------------------

    def _catalog_id(self, conn: Any, name: str) -> int:
        found = conn.execute(select(catalogs.c.id).where(catalogs.c.name == name)).first()
        if found is None:
            raise FederateError(f"Catalog not found: {name}", RESOURCE_DOES_NOT_EXIST)
        return int(found.id)

    def create_catalog(
        self, name: str, comment: str | None, storage_root: str | None = None
    ) -> Securable:
        check_part(name, "catalog name")
        now = q.now_ms()
        with self.session.write(create=True) as conn:
            taken = conn.execute(select(catalogs.c.id).where(catalogs.c.name == name)).first()
            if taken is not None:
                raise FederateError(f"Catalog already exists: {name}", RESOURCE_ALREADY_EXISTS)
            conn.execute(
                insert(catalogs).values(
                    name=name,
                    uuid=str(uuid.uuid4()),
                    comment=comment,
                    storage_root=storage_root,
                    creation_time=now,
                    last_updated_time=now,
                )
            )
        return self.get_catalog(name)

    def get_catalog(self, name: str) -> Securable:
        with self.session.read() as conn:
            row = conn.execute(select(catalogs).where(catalogs.c.name == name)).first()
        if row is None:
            raise FederateError(f"Catalog not found: {name}", RESOURCE_DOES_NOT_EXIST)
        return _securable(row)

    def list_catalogs(self, limit: int, after: str | None) -> tuple[list[Securable], str | None]:
        stmt = select(catalogs).order_by(catalogs.c.name).limit(limit + 1)
        if after:
            stmt = stmt.where(catalogs.c.name > after)
        with self.session.read() as conn:
            rows = conn.execute(stmt).all()
        found = [_securable(r) for r in rows[:limit]]
        return found, (found[-1].name if len(rows) > limit else None)

    def delete_catalog(self, name: str, force: bool) -> None:
        with self.session.write() as conn:
            catalog_id = self._catalog_id(conn, name)
            held = conn.execute(
                select(func.count()).select_from(schemas).where(schemas.c.catalog_id == catalog_id)
            ).scalar_one()
            if held and not force:
                raise FederateError(
                    f"Catalog {name} is not empty ({held} schema{'s' if held > 1 else ''}): "
                    "delete them first, or pass force=true",
                    INVALID_PARAMETER_VALUE,
                )
        self._delete_models(name + ".")
        with self.session.write() as conn:
            conn.execute(delete(schemas).where(schemas.c.catalog_id == catalog_id))
            conn.execute(delete(catalogs).where(catalogs.c.id == catalog_id))

    def update_catalog(
        self, name: str, comment: str | None, set_comment: bool, new_name: str | None
    ) -> Securable:
        """Change a catalog's comment (when ``set_comment``) and/or name; renaming moves
        its models (``old.s.m`` becomes ``new.s.m``) in the same transaction."""
        with self.session.write() as conn:
            catalog_id = self._catalog_id(conn, name)
            values: dict[str, Any] = {"last_updated_time": q.now_ms()}
            if set_comment:
                values["comment"] = comment
            if new_name and new_name != name:
                check_part(new_name, "catalog name")
                taken = conn.execute(select(catalogs.c.id).where(catalogs.c.name == new_name))
                if taken.first() is not None:
                    raise FederateError(
                        f"Catalog already exists: {new_name}", RESOURCE_ALREADY_EXISTS
                    )
                self._move_models(conn, name + ".", new_name + ".")
                values["name"] = new_name
            conn.execute(update(catalogs).where(catalogs.c.id == catalog_id).values(**values))
        return self.get_catalog(values.get("name", name))

    def _move_models(self, conn: Any, old_prefix: str, new_prefix: str) -> None:
        """Rename every model under ``old_prefix`` to the same name under ``new_prefix``."""
        clash = conn.execute(select(q.rm.c.name).where(_prefix_filter(new_prefix))).first()
        if clash is not None:
            raise FederateError(
                f"Registered model {clash.name!r} already exists under {new_prefix[:-1]}",
                RESOURCE_ALREADY_EXISTS,
            )
        conn.execute(
            update(q.rm)
            .where(_prefix_filter(old_prefix))
            .values(name=sa.literal(new_prefix) + func.substr(q.rm.c.name, len(old_prefix) + 1))
        )

    # -- schemas -----------------------------------------------------------------------

    def _schema_row(self, conn: Any, catalog: str, name: str) -> Any:
        catalog_id = self._catalog_id(conn, catalog)
        row = conn.execute(
            select(schemas).where(schemas.c.catalog_id == catalog_id, schemas.c.name == name)
        ).first()
        if row is None:
            raise FederateError(f"Schema not found: {catalog}.{name}", RESOURCE_DOES_NOT_EXIST)
        return row

    def create_schema(
        self, catalog: str, name: str, comment: str | None, storage_root: str | None = None
    ) -> Securable:
        check_part(catalog, "catalog name")
        check_part(name, "schema name")
        now = q.now_ms()
        with self.session.write(create=True) as conn:
            catalog_id = self._catalog_id(conn, catalog)
            taken = conn.execute(
                select(schemas.c.id).where(
                    schemas.c.catalog_id == catalog_id, schemas.c.name == name
                )
            ).first()
            if taken is not None:
                raise FederateError(
                    f"Schema already exists: {catalog}.{name}", RESOURCE_ALREADY_EXISTS
                )
            conn.execute(
                insert(schemas).values(
                    catalog_id=catalog_id,
                    name=name,
                    uuid=str(uuid.uuid4()),
                    comment=comment,
                    storage_root=storage_root,
                    creation_time=now,
                    last_updated_time=now,
                )
            )
        return self.get_schema(catalog, name)

    def get_schema(self, catalog: str, name: str) -> Securable:
        with self.session.read() as conn:
            return _securable(self._schema_row(conn, catalog, name), catalog)

    def list_schemas(
        self, catalog: str, limit: int, after: str | None
    ) -> tuple[list[Securable], str | None]:
        with self.session.read() as conn:
            catalog_id = self._catalog_id(conn, catalog)
            stmt = (
                select(schemas)
                .where(schemas.c.catalog_id == catalog_id)
                .order_by(schemas.c.name)
                .limit(limit + 1)
            )
            if after:
                stmt = stmt.where(schemas.c.name > after)
            rows = conn.execute(stmt).all()
        found = [_securable(r, catalog) for r in rows[:limit]]
        return found, (found[-1].name if len(rows) > limit else None)

    def delete_schema(self, catalog: str, name: str, force: bool) -> None:
        prefix = f"{catalog}.{name}."
        with self.session.read() as conn:
            row = self._schema_row(conn, catalog, name)
            held = conn.execute(
                select(func.count()).select_from(q.rm).where(_prefix_filter(prefix))
            ).scalar_one()
        if held and not force:
            raise FederateError(
                f"Schema {catalog}.{name} is not empty ({held} model{'s' if held > 1 else ''}):"
                " delete them first, or pass force=true",
                INVALID_PARAMETER_VALUE,
            )
        self._delete_models(prefix)
        with self.session.write() as conn:
            conn.execute(delete(schemas).where(schemas.c.id == row.id))

    def update_schema(
        self,
        catalog: str,
        name: str,
        comment: str | None,
        set_comment: bool,
        new_name: str | None,
    ) -> Securable:
        """Change a schema's comment (when ``set_comment``) and/or name (within its
        catalog); renaming moves its models in the same transaction."""
        with self.session.write() as conn:
            row = self._schema_row(conn, catalog, name)
            values: dict[str, Any] = {"last_updated_time": q.now_ms()}
            if set_comment:
                values["comment"] = comment
            if new_name and new_name != name:
                check_part(new_name, "schema name")
                taken = conn.execute(
                    select(schemas.c.id).where(
                        schemas.c.catalog_id == row.catalog_id, schemas.c.name == new_name
                    )
                ).first()
                if taken is not None:
                    raise FederateError(
                        f"Schema already exists: {catalog}.{new_name}", RESOURCE_ALREADY_EXISTS
                    )
                self._move_models(conn, f"{catalog}.{name}.", f"{catalog}.{new_name}.")
                values["name"] = new_name
            conn.execute(update(schemas).where(schemas.c.id == row.id).values(**values))
        return self.get_schema(catalog, values.get("name", name))

    def _delete_models(self, prefix: str) -> None:
        with self.session.read() as conn:
            names = conn.execute(select(q.rm.c.name).where(_prefix_filter(prefix))).scalars()
            doomed = list(names)
        for name in doomed:
            self.registry.delete_registered_model(name)

    def storage_root(self, catalog: str, schema: str) -> str | None:
        """Where versions of models in ``catalog.schema`` go: the schema's storage root,
        else its catalog's, else None (the registry's artifact root)."""
        with self.session.read() as conn:
            row = self._schema_row(conn, catalog, schema)
            if row.storage_root:
                return str(row.storage_root)
            found = conn.execute(
                select(catalogs.c.storage_root).where(catalogs.c.id == row.catalog_id)
            ).scalar_one_or_none()
        return str(found) if found else None

    def require_schema(self, catalog: str, schema: str) -> None:
        """RESOURCE_DOES_NOT_EXIST naming the catalog or schema that is missing."""
        with self.session.read() as conn:
            self._schema_row(conn, catalog, schema)

    # -- models and versions -----------------------------------------------------------

    def list_models(
        self, prefix: str, limit: int, after: str | None
    ) -> tuple[list[ModelRow], str | None]:
        """Models whose names start with ``prefix`` (``c.s.`` or ``""``), by name."""
        stmt = select(q.rm).where(_prefix_filter(prefix)).order_by(q.rm.c.name).limit(limit + 1)
        if after:
            stmt = stmt.where(q.rm.c.name > after)
        with self.session.read() as conn:
            rows = conn.execute(stmt).all()
        found = [
            ModelRow(r.name, r.description, r.creation_time, r.last_updated_time)
            for r in rows[:limit]
        ]
        return found, (found[-1].full_name if len(rows) > limit else None)

    def list_versions(
        self, name: str, limit: int, after: int
    ) -> tuple[list[ModelVersion], str | None]:
        """Versions of ``name`` above number ``after``, ascending; the token is the last
        number returned, as the reference server's is."""
        with self.session.read() as conn:
            rm_id = q.model_pk(conn, name, MODEL)
            rows = conn.execute(
                select(*q.VERSION_COLUMNS)
                .where(q.mv.c.registered_model_id == rm_id, q.mv.c.version > after)
                .order_by(q.mv.c.version)
                .limit(limit + 1)
            ).all()
            versions = q.many_versions(conn, [(name, r) for r in rows[:limit]])
        return versions, (str(versions[-1].version) if len(rows) > limit else None)

    def get_version(self, name: str, version: int) -> ModelVersion:
        """A version as the API shows it (aliases, no tags), in one statement on a kept
        connection (:class:`KeptReader`): the hot path of the served API, called from the
        event loop's thread. A miss is told apart (model or version) by the registry's own
        lookup, with its messages."""
        rows = self._kept.rows(_VERSION_WITH_ALIASES, {"name": name, "version": version})
        if not rows:
            return self.registry.get_model_version(name, version)
        aliases = tuple(sorted(r.alias for r in rows if r.alias is not None))
        return q.to_model_version(name, rows[0], {}, aliases)

    def place_version(self, name: str, version: int, storage_location: str) -> ModelVersion:
        """Record where a pending version's files go (its status stays as it is)."""
        with self.session() as s:
            self.registry._lock_model(s, name)
            row = self.registry._version_row(s, name, version)
            s.execute(
                update(q.mv)
                .where(q.mv.c.id == row.id)
                .values(storage_location=storage_location, last_updated_time=q.now_ms())
            )
        return self.registry.get_model_version(name, version)
