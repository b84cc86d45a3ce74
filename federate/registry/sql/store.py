"""The SQL registry: MLflow's model registry semantics on SQLite, PostgreSQL or MySQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from federate.entities import (
    PENDING_REGISTRATION,
    READY,
    ModelVersion,
    PagedList,
    RegisteredModel,
    WebhookEvent,
)
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.registry.base import (
    check_name,
    check_stage,
)
from federate.registry.sql import queries as q
from federate.registry.sql.models import MODEL
from federate.registry.sql.prompts import PromptMethods
from federate.registry.sql.search import MODEL_VERSIONS, REGISTERED_MODELS, compile_search
from federate.uri import STAGES

ACTIVE_STAGES = ("Staging", "Production")
#: MLflow's bounds for max_results
MAX_MODEL_RESULTS = 1000
MAX_VERSION_RESULTS = 200_000


class SqlRegistry(PromptMethods):
    """A registry kept in a SQL database reachable through SQLAlchemy."""

    # -- helpers ---------------------------------------------------------------------------

    def _registered_model(self, conn: Any, name: str, rm_id: int, row: Any) -> RegisteredModel:
        return RegisteredModel(
            name=name,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            description=row.description,
            tags=q.model_tags(conn, rm_id),
            aliases=q.model_aliases(conn, rm_id),
            latest_versions=tuple(self._latest_per_stage(conn, name, None)),
        )

    def _latest_per_stage(
        self, conn: Any, name: str, stages: list[str] | None
    ) -> list[ModelVersion]:
        wanted = (
            [check_stage(s) for s in stages] if stages else STAGES
        )  # [] means all, as in MLflow
        found = []
        for stage in dict.fromkeys(wanted):
            row = conn.execute(q.LATEST_IN_STAGE, {"name": name, "stage": stage}).first()
            if row is not None:
                found.append((name, row))
        return q.many_versions(conn, found)

    # -- registered models -----------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        rm = self._create_model(name, MODEL, tags, description)
        self._emit(
            WebhookEvent.REGISTERED_MODEL_CREATED, name=name, tags=rm.tags, description=description
        )
        return rm

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.session.read() as conn:
            rm_id = q.model_pk(conn, name, MODEL)
            row = conn.execute(select(q.rm).where(q.rm.c.id == rm_id)).one()
            return self._registered_model(conn, name, rm_id, row)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        check_name(new_name)
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            if s.execute(q.MODEL_ID, {"name": new_name}).first() is not None:
                raise FederateError(
                    f"Registered model or prompt {new_name!r} already exists",
                    RESOURCE_ALREADY_EXISTS,
                )
            s.execute(update(q.rm).where(q.rm.c.id == rm_id).values(name=new_name))
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            s.execute(update(q.rm).where(q.rm.c.id == rm_id).values(description=description))
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            self._delete_model_rows(s, rm_id)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Models matching MLflow's filter grammar (``name``, ``tags.<key>``, timestamps;
        see :mod:`federate.registry.filters`), one page at a time: pass ``.token`` back."""
        q.check_max_results(max_results, MAX_MODEL_RESULTS)
        search = compile_search(
            REGISTERED_MODELS, filter_string, order_by, self.engine.dialect.name
        )
        after = search.ordering.resume_after(page_token)
        stmt = select(q.rm).where(q.rm.c.kind == MODEL, *search.where)
        with self.session.read() as conn:
            rows, token = search.ordering.page(conn, stmt, max_results, after)
            models = [self._registered_model(conn, r.name, r.id, r) for r in rows]
        return PagedList(models, token)

    # -- model versions --------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        *,
        storage_location: str | None = None,
        status: str = READY,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> ModelVersion:
        """MLflow's create_model_version; ``status=PENDING_REGISTRATION`` reserves a version
        whose files are still being copied (see :meth:`finish_model_version`)."""
        if status not in (READY, PENDING_REGISTRATION):
            raise FederateError(f"Invalid status {status!r}", INVALID_PARAMETER_VALUE)
        with self.session.write() as s:
            mv = self._insert_version(
                s,
                name,
                MODEL,
                source=source,
                run_id=run_id,
                tags=tags,
                run_link=run_link,
                description=description,
                model_id=model_id,
                storage_location=storage_location,
                status=status,
                user_id=user_id,
            )
        if mv.status == READY:  # a pending version is announced by finish_model_version
            self._emit_version_created(mv)
        return mv

    def finish_model_version(
        self, name: str, version: int | str, storage_location: str
    ) -> ModelVersion:
        """Mark a PENDING_REGISTRATION version READY once its files are in place."""
        with self.session() as s:
            self._lock_model(s, name)
            row = self._version_row(s, name, version)
            s.execute(
                update(q.mv)
                .where(q.mv.c.id == row.id)
                .values(
                    status=READY, storage_location=storage_location, last_updated_time=q.now_ms()
                )
            )
        mv = self.get_model_version(name, version)
        if row.status != READY:
            self._emit_version_created(mv)
        return mv

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        with self.session.read() as conn:
            return q.single_version(conn, name, self._version_row(conn, name, version))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self.session.read() as conn:
            row = conn.execute(q.VERSION_BY_ALIAS[MODEL], {"name": name, "alias": alias}).first()
            if row is None:
                q.model_pk(conn, name, MODEL)
                raise FederateError(
                    f"Registered model {name!r} has no alias {alias!r}", RESOURCE_DOES_NOT_EXIST
                )
            return q.single_version(conn, name, row)

    def get_latest_version(self, name: str, stage: str | None = None) -> ModelVersion:
        with self.session.read() as conn:
            if stage is None:
                row = conn.execute(q.LATEST_VERSION[MODEL], {"name": name}).first()
            else:
                stage = _stage_for_lookup(name, stage)
                row = conn.execute(q.LATEST_IN_STAGE, {"name": name, "stage": stage}).first()
            if row is None:
                q.model_pk(conn, name, MODEL)
                where = "" if stage is None else f" in stage {stage!r}"
                raise FederateError(
                    f"Registered model {name!r} has no versions{where}", RESOURCE_DOES_NOT_EXIST
                )
            return q.single_version(conn, name, row)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        with self.session.read() as conn:
            q.model_pk(conn, name, MODEL)
            return self._latest_per_stage(conn, name, stages)

    def get_model_version_by_model_id(self, model_id: str) -> ModelVersion:
        with self.session.read() as conn:
            row = conn.execute(q.VERSION_BY_MODEL_ID, {"model_id": model_id}).first()
            if row is None:
                return super().get_model_version_by_model_id(model_id)
            return q.single_version(conn, row.name, row)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        with self.session() as s:
            self._lock_model(s, name)
            row = self._version_row(s, name, version)
            s.execute(
                update(q.mv)
                .where(q.mv.c.id == row.id)
                .values(description=description, last_updated_time=q.now_ms())
            )
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int | str) -> None:
        with self.session() as s:
            self._lock_model(s, name)
            self._delete_version_row(s, self._version_row(s, name, version).id)

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        stage = check_stage(stage)
        if archive_existing_versions and stage not in ACTIVE_STAGES:
            raise FederateError(
                f"archive_existing_versions only applies to the stages {', '.join(ACTIVE_STAGES)}, "
                f"not {stage!r}",
                INVALID_PARAMETER_VALUE,
            )
        now = q.now_ms()
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            row = self._version_row(s, name, version)
            if archive_existing_versions:
                s.execute(
                    update(q.mv)
                    .where(
                        q.mv.c.registered_model_id == rm_id,
                        q.mv.c.current_stage == stage,
                        q.mv.c.id != row.id,
                    )
                    .values(current_stage="Archived", last_updated_time=now)
                )
            s.execute(
                update(q.mv)
                .where(q.mv.c.id == row.id)
                .values(current_stage=stage, last_updated_time=now)
            )
        return self.get_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Versions matching MLflow's filter grammar (``name``, ``version_number``,
        ``run_id``, ``source_path``, ``tags.<key>``, timestamps), newest first per model."""
        q.check_max_results(max_results, MAX_VERSION_RESULTS)
        search = compile_search(MODEL_VERSIONS, filter_string, order_by, self.engine.dialect.name)
        after = search.ordering.resume_after(page_token)
        stmt = (
            select(q.rm.c.name, *q.VERSION_COLUMNS)
            .select_from(q.mv.join(q.rm, q.rm.c.id == q.mv.c.registered_model_id))
            .where(q.rm.c.kind == MODEL, *search.where)
        )
        with self.session.read() as conn:
            rows, token = search.ordering.page(conn, stmt, max_results, after)
            versions = q.many_versions(conn, [(r.name, r) for r in rows])
        return PagedList(versions, token)

    # -- tags and aliases -------------------------------------------------------------------

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        q.check_tag_key(key)
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            q.upsert_tag(s, q.rm_tag, q.rm_tag.c.registered_model_id, rm_id, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self.session() as s:
            rm_id = self._lock_model(s, name)
            s.execute(
                delete(q.rm_tag).where(
                    q.rm_tag.c.registered_model_id == rm_id, q.rm_tag.c.key == key
                )
            )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        q.check_tag_key(key)
        with self.session() as s:
            self._lock_model(s, name)
            mv_id = self._version_row(s, name, version).id
            q.upsert_tag(s, q.mv_tag, q.mv_tag.c.model_version_id, mv_id, key, value)
        self._emit(
            WebhookEvent.MODEL_VERSION_TAG_SET,
            name=name,
            version=int(version),
            key=key,
            value=str(value),
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        with self.session() as s:
            self._lock_model(s, name)
            mv_id = self._version_row(s, name, version).id
            s.execute(
                delete(q.mv_tag).where(q.mv_tag.c.model_version_id == mv_id, q.mv_tag.c.key == key)
            )
        self._emit(WebhookEvent.MODEL_VERSION_TAG_DELETED, name=name, version=int(version), key=key)

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        self._set_alias(name, MODEL, alias, version)
        self._emit(
            WebhookEvent.MODEL_VERSION_ALIAS_CREATED, name=name, alias=alias, version=int(version)
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._delete_alias(name, MODEL, alias)
        self._emit(WebhookEvent.MODEL_VERSION_ALIAS_DELETED, name=name, alias=alias)


def _stage_for_lookup(name: str, stage: str) -> str:
    """A URI's stage; an unknown one is a missing thing (404), like an unknown alias."""
    try:
        return check_stage(stage)
    except FederateError:
        raise FederateError(
            f"Registered model {name!r} has no stage {stage!r}: stages are "
            f"{', '.join(STAGES)} (any case)",
            RESOURCE_DOES_NOT_EXIST,
        ) from None
