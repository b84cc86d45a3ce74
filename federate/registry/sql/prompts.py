"""Prompt methods of the SQL registry (MLflow 3's prompt registry semantics).

Prompts live in the model tables with ``kind = 'prompt'``; a prompt version's template
is its ``template`` column. ``prompts:/name@latest`` resolves to the newest version
unless the prompt has an alias actually named ``latest``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from federate.entities import PagedList, Prompt, PromptVersion, WebhookEvent
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.registry.sql import queries as q
from federate.registry.sql.models import PROMPT
from federate.registry.sql.search import PROMPTS, compile_search, prompt_version_ordering
from federate.registry.sql.webhooks import WebhookMethods

#: MLflow's bounds for max_results
MAX_PROMPT_RESULTS = 1000
MAX_PROMPT_VERSION_RESULTS = 10_000


class PromptMethods(WebhookMethods):
    """The prompt half of :class:`federate.registry.sql.store.SqlRegistry`."""

    def register_prompt(
        self,
        name: str,
        template: str,
        commit_message: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> PromptVersion:
        """Create version N+1 of prompt ``name`` (creating the prompt on first use)."""
        if not isinstance(template, str) or not template.strip():
            raise FederateError(
                "A prompt template must be a non-empty string", INVALID_PARAMETER_VALUE
            )
        try:
            self._create_model(name, PROMPT, None, None)
        except FederateError as err:
            if err.error_code != RESOURCE_ALREADY_EXISTS:
                raise
            self._refuse_model_name(name)
        else:
            self._emit(WebhookEvent.PROMPT_CREATED, name=name)
        with self.session() as s:
            mv = self._insert_version(
                s, name, PROMPT, tags, template=template, commit_message=commit_message
            )
        self._emit(
            WebhookEvent.PROMPT_VERSION_CREATED,
            name=name,
            version=mv.version,
            template=template,
            commit_message=commit_message,
            tags=dict(tags or {}),
        )
        return self.get_prompt_version(name, mv.version)

    def _refuse_model_name(self, name: str) -> None:
        """Prompts and models share one namespace: a model's name is taken, not missing."""
        with self.session.read() as conn:
            row = conn.execute(q.MODEL_ID, {"name": name}).first()
        if row is not None and row.kind != PROMPT:
            raise FederateError(
                f"Cannot register prompt {name!r}: a registered model of that name already "
                "exists, and prompts and models share one namespace",
                RESOURCE_ALREADY_EXISTS,
            )

    def get_prompt(self, name: str) -> Prompt:
        with self.session.read() as conn:
            rm_id = q.model_pk(conn, name, PROMPT)
            return self._prompt(conn, name, rm_id)

    def _prompt(self, conn: Any, name: str, rm_id: int) -> Prompt:
        row = conn.execute(select(q.rm).where(q.rm.c.id == rm_id)).one()
        latest = conn.execute(q.LATEST_VERSION[PROMPT], {"name": name}).first()
        return Prompt(
            name=name,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            description=row.description,
            tags=q.model_tags(conn, rm_id),
            aliases=q.model_aliases(conn, rm_id),
            latest_version=latest.version if latest else None,
        )

    def search_prompts(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        order_by: list[str] | None = None,
    ) -> PagedList[Prompt]:
        """Prompts matching MLflow's filter grammar (``name``, ``tags.<key>``, timestamps)."""
        q.check_max_results(max_results, MAX_PROMPT_RESULTS)
        search = compile_search(PROMPTS, filter_string, order_by, self.engine.dialect.name)
        after = search.ordering.resume_after(page_token)
        stmt = select(q.rm.c.id, q.rm.c.name).where(q.rm.c.kind == PROMPT, *search.where)
        with self.session.read() as conn:
            rows, token = search.ordering.page(conn, stmt, max_results, after)
            prompts = [self._prompt(conn, r.name, r.id) for r in rows]
        return PagedList(prompts, token)

    def _prompt_version(self, conn: Any, name: str, row: Any) -> PromptVersion:
        mv = q.single_version(conn, name, row)
        return q.to_prompt_version(name, row, mv.tags, mv.aliases)

    def get_prompt_version(self, name: str, version: int | str) -> PromptVersion:
        with self.session.read() as conn:
            return self._prompt_version(conn, name, self._version_row(conn, name, version, PROMPT))

    def get_prompt_version_by_alias(self, name: str, alias: str) -> PromptVersion:
        with self.session.read() as conn:
            row = conn.execute(q.VERSION_BY_ALIAS[PROMPT], {"name": name, "alias": alias}).first()
            if row is None and alias.lower() == "latest":
                row = conn.execute(q.LATEST_VERSION[PROMPT], {"name": name}).first()
            if row is None:
                q.model_pk(conn, name, PROMPT)
                raise FederateError(
                    f"Prompt {name!r} has no alias {alias!r}", RESOURCE_DOES_NOT_EXIST
                )
            return self._prompt_version(conn, name, row)

    def search_prompt_versions(
        self, name: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[PromptVersion]:
        q.check_max_results(max_results, MAX_PROMPT_VERSION_RESULTS)
        ordering = prompt_version_ordering(name)
        after = ordering.resume_after(page_token)
        with self.session.read() as conn:
            rm_id = q.model_pk(conn, name, PROMPT)
            stmt = select(*q.VERSION_COLUMNS).where(q.mv.c.registered_model_id == rm_id)
            rows, token = ordering.page(conn, stmt, max_results, after)
            tags, aliases = q.version_extras(conn, [r.id for r in rows])
            versions = [
                q.to_prompt_version(
                    name, r, tags.get(r.id, {}), tuple(sorted(aliases.get(r.id, ())))
                )
                for r in rows
            ]
        return PagedList(versions, token)

    def set_prompt_alias(self, name: str, alias: str, version: int | str) -> None:
        self._set_alias(name, PROMPT, alias, version)
        self._emit(WebhookEvent.PROMPT_ALIAS_CREATED, name=name, alias=alias, version=int(version))

    def delete_prompt_alias(self, name: str, alias: str) -> None:
        self._delete_alias(name, PROMPT, alias)
        self._emit(WebhookEvent.PROMPT_ALIAS_DELETED, name=name, alias=alias)

    def set_prompt_tag(self, name: str, key: str, value: str) -> None:
        q.check_tag_key(key)
        with self.session() as s:
            rm_id = self._lock_model(s, name, PROMPT)
            q.upsert_tag(s, q.rm_tag, q.rm_tag.c.registered_model_id, rm_id, key, value)

    def delete_prompt_tag(self, name: str, key: str) -> None:
        with self.session() as s:
            rm_id = self._lock_model(s, name, PROMPT)
            s.execute(
                delete(q.rm_tag).where(
                    q.rm_tag.c.registered_model_id == rm_id, q.rm_tag.c.key == key
                )
            )

    def delete_prompt_version(self, name: str, version: int | str) -> None:
        with self.session() as s:
            self._lock_model(s, name, PROMPT)
            self._delete_version_row(s, self._version_row(s, name, version, PROMPT).id)

    def delete_prompt(self, name: str) -> None:
        with self.session() as s:
            self._delete_model_rows(s, self._lock_model(s, name, PROMPT))
