"""What the SQL registry's model and prompt methods share: the session, and row-level
steps that take the right locks.

Every write to a model's versions or aliases starts by updating the model's row, which
takes that row's lock (or SQLite's write lock) first, so concurrent writers queue
instead of colliding.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from federate.config import RegistryConfig, default_registry_uri
from federate.entities import READY, ModelVersion, RegisteredModel
from federate.errors import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.base import Registry, as_version, check_alias, check_name
from federate.registry.sql import queries as q
from federate.registry.sql.db import SessionFactory, engine_for, prepare
from federate.registry.sql.models import MODEL

# create_model_version's statements, built once so each call only binds values
_BY_NAME = (q.rm.c.name == bindparam("rm_name"), q.rm.c.kind == bindparam("rm_kind"))
_TAKE_VERSION = (
    update(q.rm)
    .where(*_BY_NAME)
    .values(next_version=q.rm.c.next_version + 1, last_updated_time=bindparam("now"))
)
_TAKE_VERSION_RETURNING = _TAKE_VERSION.returning(q.rm.c.id, q.rm.c.name, q.rm.c.next_version)
_TAKEN = select(q.rm.c.id, q.rm.c.name, q.rm.c.next_version).where(*_BY_NAME)
_INSERT_VERSION = insert(q.mv)
_INSERT_VERSION_TAG = insert(q.mv_tag)
#: Every column a new version row gets, so one compiled INSERT fits all calls.
_VERSION_DEFAULTS: dict[str, Any] = {
    c.name: None for c in q.mv.columns if c.nullable and not c.primary_key
} | {"current_stage": "None", "status": READY}


class SqlRegistryCore(Registry):
    """Connection handling and locked row operations of the SQL registry."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        # a SQLite file that is not there yet is created by the first call that adds
        # something (create=True below), never by a read: a mistyped path must not become
        # a new, empty registry. The embedded default under FEDERATE_HOME is the exception:
        # nobody typed it, and a new user's first command finds an empty registry there.
        self.engine = engine_for(config.uri, create=False)
        if config.source == "default" and config.uri == default_registry_uri():
            self.session = SessionFactory(self.engine, lambda _create: prepare(config.uri, True))
        else:
            self.session = SessionFactory(self.engine, functools.partial(prepare, config.uri))

    def _lock_model(self, s: Any, name: str, kind: str = MODEL) -> int:
        """Touch the model's row (taking its write lock) and return its id."""
        res = s.execute(
            update(q.rm)
            .where(q.rm.c.name == name, q.rm.c.kind == kind)
            .values(last_updated_time=q.now_ms())
        )
        if q.affected(res) == 0:
            q.model_pk(s, name, kind)  # raises the precise not-found error
        return q.model_pk(s, name, kind)

    def _version_row(self, conn: Any, name: str, version: int | str, kind: str = MODEL) -> Any:
        number = as_version(version)
        row = conn.execute(q.VERSION_BY_NUMBER[kind], {"name": name, "version": number}).first()
        if row is None:
            q.model_pk(conn, name, kind)
            what = "Prompt" if kind != MODEL else "Model"
            raise FederateError(f"{what} {name!r} has no version {number}", RESOURCE_DOES_NOT_EXIST)
        return row

    def _create_model(
        self, name: str, kind: str, tags: dict[str, str] | None, description: str | None
    ) -> RegisteredModel:
        check_name(name, "prompt" if kind != MODEL else "registered model")
        now = q.now_ms()
        with self.session(create=True) as s:
            if s.execute(q.MODEL_ID, {"name": name}).first() is not None:
                raise FederateError(
                    f"Registered model or prompt {name!r} already exists", RESOURCE_ALREADY_EXISTS
                )
            rm_id = s.execute(
                insert(q.rm).values(
                    name=name,
                    kind=kind,
                    description=description,
                    creation_time=now,
                    last_updated_time=now,
                    next_version=1,
                )
            ).inserted_primary_key[0]  # type: ignore[attr-defined]
            for key, value in (tags or {}).items():
                s.execute(
                    insert(q.rm_tag).values(registered_model_id=rm_id, key=key, value=str(value))
                )
        return RegisteredModel(name, now, now, description, dict(tags or {}))

    @staticmethod
    def _delete_model_rows(s: Any, rm_id: int) -> None:
        # explicit child deletes: correct even where a connection has FKs off
        versions = select(q.mv.c.id).where(q.mv.c.registered_model_id == rm_id)
        s.execute(delete(q.alias_t).where(q.alias_t.c.registered_model_id == rm_id))
        s.execute(delete(q.mv_tag).where(q.mv_tag.c.model_version_id.in_(versions)))
        s.execute(delete(q.mv).where(q.mv.c.registered_model_id == rm_id))
        s.execute(delete(q.rm_tag).where(q.rm_tag.c.registered_model_id == rm_id))
        s.execute(delete(q.rm).where(q.rm.c.id == rm_id))

    def _insert_version(
        self, s: Any, name: str, kind: str, tags: dict[str, str] | None, **values: Any
    ) -> ModelVersion:
        """Take the model's next version number (locking its row) and insert the version:
        two statements where the database can return the number from the UPDATE, and
        the entity is built from what was written rather than read back."""
        now = q.now_ms()
        key = {"rm_name": name, "rm_kind": kind, "now": now}
        if self.engine.dialect.update_returning:
            taken = s.execute(_TAKE_VERSION_RETURNING, key).first()
        else:  # MySQL/MariaDB: UPDATE has no RETURNING
            taken = s.execute(_TAKE_VERSION, key).rowcount and s.execute(_TAKEN, key).first()
        if not taken or taken.name != name:  # MySQL's PAD SPACE: 'iris ' matches 'iris'
            q.model_pk(s, name, kind)  # raises the precise not-found error (and rolls back)
            raise FederateError(
                f"{name!r} vanished while adding a version", RESOURCE_DOES_NOT_EXIST
            )
        row = {
            **_VERSION_DEFAULTS,
            **values,
            "registered_model_id": taken.id,
            "version": taken.next_version - 1,
            "creation_time": now,
            "last_updated_time": now,
        }
        mv_id = s.execute(_INSERT_VERSION, row).inserted_primary_key[0]
        if tags:
            s.execute(
                _INSERT_VERSION_TAG,
                [{"model_version_id": mv_id, "key": k, "value": str(v)} for k, v in tags.items()],
            )
        return q.to_model_version(name, SimpleNamespace(**row), dict(tags or {}), ())

    @staticmethod
    def _delete_version_row(s: Any, mv_id: int) -> None:
        s.execute(delete(q.alias_t).where(q.alias_t.c.model_version_id == mv_id))
        s.execute(delete(q.mv_tag).where(q.mv_tag.c.model_version_id == mv_id))
        s.execute(delete(q.mv).where(q.mv.c.id == mv_id))

    def _set_alias(self, name: str, kind: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        with self.session() as s:
            rm_id = self._lock_model(s, name, kind)
            mv_id = self._version_row(s, name, version, kind).id
            res = s.execute(
                update(q.alias_t)
                .where(q.alias_t.c.registered_model_id == rm_id, q.alias_t.c.alias == alias)
                .values(model_version_id=mv_id)
            )
            if q.affected(res) == 0:
                s.execute(
                    insert(q.alias_t).values(
                        registered_model_id=rm_id, alias=alias, model_version_id=mv_id
                    )
                )

    def _delete_alias(self, name: str, kind: str, alias: str) -> None:
        """Remove ``alias`` if it is set. As in MLflow, an alias that is not set is no
        error, but a model that does not exist is (RESOURCE_DOES_NOT_EXIST)."""
        check_alias(alias)
        with self.session() as s:
            rm_id = self._lock_model(s, name, kind)
            s.execute(
                delete(q.alias_t).where(
                    q.alias_t.c.registered_model_id == rm_id, q.alias_t.c.alias == alias
                )
            )
