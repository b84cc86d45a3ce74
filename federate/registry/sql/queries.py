"""Prepared statements and row-to-entity conversion shared by the SQL registry's methods.

Statements are built once with bind parameters, so the hot path (resolving an alias or
``latest``) only executes a cached compiled statement: one indexed lookup for the
version, one for its tags and aliases together.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.engine import CursorResult

from federate.entities import READY, ModelVersion, PromptVersion
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.sql.models import (
    MODEL,
    PROMPT,
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)

rm = cast(sa.Table, SqlRegisteredModel.__table__)
mv = cast(sa.Table, SqlModelVersion.__table__)
rm_tag = cast(sa.Table, SqlRegisteredModelTag.__table__)
mv_tag = cast(sa.Table, SqlModelVersionTag.__table__)
alias_t = cast(sa.Table, SqlRegisteredModelAlias.__table__)

VERSION_COLUMNS = (
    mv.c.id,
    mv.c.version,
    mv.c.creation_time,
    mv.c.last_updated_time,
    mv.c.description,
    mv.c.user_id,
    mv.c.current_stage,
    mv.c.source,
    mv.c.storage_location,
    mv.c.run_id,
    mv.c.run_link,
    mv.c.model_id,
    mv.c.status,
    mv.c.status_message,
    mv.c.template,
    mv.c.commit_message,
)


def affected(result: Any) -> int:
    """Rows matched by an UPDATE/DELETE (MySQL dialects count matched, not changed, rows)."""
    return int(cast("CursorResult[Any]", result).rowcount)


def now_ms() -> int:
    return int(time.time() * 1000)


def _by_name(kind: str) -> Any:
    return sa.and_(rm.c.name == bindparam("name"), rm.c.kind == kind)


def _joined() -> Any:
    return select(*VERSION_COLUMNS).select_from(mv.join(rm, rm.c.id == mv.c.registered_model_id))


MODEL_ID = select(rm.c.id, rm.c.kind, rm.c.name).where(rm.c.name == bindparam("name"))

VERSION_BY_NUMBER = {
    kind: _joined().where(_by_name(kind), mv.c.version == bindparam("version"))
    for kind in (MODEL, PROMPT)
}
VERSION_BY_ALIAS = {
    kind: select(*VERSION_COLUMNS)
    .select_from(
        alias_t.join(rm, rm.c.id == alias_t.c.registered_model_id).join(
            mv, mv.c.id == alias_t.c.model_version_id
        )
    )
    .where(_by_name(kind), alias_t.c.alias == bindparam("alias"))
    for kind in (MODEL, PROMPT)
}


def _versions_of(kind: str) -> Any:
    """The versions of the model named by bind parameter ``name``, its id looked up first.

    Without a join, ``ORDER BY version DESC LIMIT 1`` reads one entry from the end of
    the (registered_model_id, status|current_stage, version) index on every database;
    with a join, PostgreSQL sorts all of the model's versions (or scans the table).
    """
    model_id = select(rm.c.id).where(_by_name(kind)).scalar_subquery()
    return select(*VERSION_COLUMNS).where(mv.c.registered_model_id == model_id)


LATEST_VERSION = {
    kind: _versions_of(kind).where(mv.c.status == READY).order_by(mv.c.version.desc()).limit(1)
    for kind in (MODEL, PROMPT)
}
LATEST_IN_STAGE = (
    _versions_of(MODEL)
    .where(mv.c.status == READY, mv.c.current_stage == bindparam("stage"))
    .order_by(mv.c.version.desc())
    .limit(1)
)
VERSION_BY_MODEL_ID = (
    select(rm.c.name, *VERSION_COLUMNS)
    .select_from(mv.join(rm, rm.c.id == mv.c.registered_model_id))
    .where(mv.c.model_id == bindparam("model_id"), rm.c.kind == MODEL)
    .order_by(mv.c.creation_time.desc(), mv.c.version.desc())
    .limit(1)
)
TAGS_AND_ALIASES = sa.union_all(
    select(literal("t").label("k"), mv_tag.c.key, mv_tag.c.value).where(
        mv_tag.c.model_version_id == bindparam("id")
    ),
    select(literal("a").label("k"), alias_t.c.alias, sa.null()).where(
        alias_t.c.model_version_id == bindparam("id")
    ),
)


def not_found(kind: str, name: str) -> FederateError:
    what = "Prompt" if kind == PROMPT else "Registered model"
    return FederateError(f"{what} {name!r} does not exist", RESOURCE_DOES_NOT_EXIST)


def model_pk(conn: Any, name: str, kind: str) -> int:
    """The surrogate id of model/prompt ``name``; RESOURCE_DOES_NOT_EXIST if absent."""
    row = conn.execute(MODEL_ID, {"name": name}).first()
    if row is None or row.name != name:  # MySQL's PAD SPACE: 'iris ' finds 'iris'
        raise not_found(kind, name)
    if row.kind != kind:
        hint = f"prompts:/{name}/<version>" if row.kind == PROMPT else f"models:/{name}/<version>"
        what = "a prompt" if row.kind == PROMPT else "a registered model"
        raise FederateError(
            f"{name!r} is {what}, not a {'prompt' if kind == PROMPT else 'registered model'}; "
            f"address it as {hint}",
            RESOURCE_DOES_NOT_EXIST,
        )
    return int(row.id)


def single_version(conn: Any, name: str, row: Any) -> ModelVersion:
    tags: dict[str, str] = {}
    aliases: list[str] = []
    for k, key, value in conn.execute(TAGS_AND_ALIASES, {"id": row.id}):
        if k == "t":
            tags[key] = value
        else:
            aliases.append(key)
    return to_model_version(name, row, tags, tuple(sorted(aliases)))


def many_versions(conn: Any, named_rows: Sequence[tuple[str, Any]]) -> list[ModelVersion]:
    """Entities for many rows with two queries in all (tags, aliases), not two per row."""
    ids = [row.id for _name, row in named_rows]
    tags, aliases = version_extras(conn, ids)
    return [
        to_model_version(name, row, tags.get(row.id, {}), tuple(sorted(aliases.get(row.id, ()))))
        for name, row in named_rows
    ]


def version_extras(
    conn: Any, ids: Iterable[int]
) -> tuple[dict[int, dict[str, str]], dict[int, list[str]]]:
    ids = list(ids)
    tags: dict[int, dict[str, str]] = {}
    aliases: dict[int, list[str]] = {}
    if not ids:
        return tags, aliases
    for vid, key, value in conn.execute(
        select(mv_tag.c.model_version_id, mv_tag.c.key, mv_tag.c.value).where(
            mv_tag.c.model_version_id.in_(ids)
        )
    ):
        tags.setdefault(vid, {})[key] = value
    for vid, alias in conn.execute(
        select(alias_t.c.model_version_id, alias_t.c.alias).where(
            alias_t.c.model_version_id.in_(ids)
        )
    ):
        aliases.setdefault(vid, []).append(alias)
    return tags, aliases


def to_model_version(
    name: str, row: Any, tags: dict[str, str], aliases: tuple[str, ...]
) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=row.version,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        current_stage=row.current_stage,
        source=row.source,
        storage_location=row.storage_location,
        description=row.description,
        user_id=row.user_id,
        run_id=row.run_id,
        run_link=row.run_link,
        model_id=row.model_id,
        status=row.status,
        status_message=row.status_message,
        tags=tags,
        aliases=aliases,
    )


def to_prompt_version(
    name: str, row: Any, tags: dict[str, str], aliases: tuple[str, ...]
) -> PromptVersion:
    return PromptVersion(
        name=name,
        version=row.version,
        template=row.template or "",
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        commit_message=row.commit_message,
        tags=tags,
        aliases=aliases,
    )


def model_tags(conn: Any, rm_id: int) -> dict[str, str]:
    return dict(
        conn.execute(
            select(rm_tag.c.key, rm_tag.c.value).where(rm_tag.c.registered_model_id == rm_id)
        ).all()
    )


def model_aliases(conn: Any, rm_id: int) -> dict[str, int]:
    stmt = (
        select(alias_t.c.alias, mv.c.version)
        .select_from(alias_t.join(mv, mv.c.id == alias_t.c.model_version_id))
        .where(alias_t.c.registered_model_id == rm_id)
    )
    return dict(conn.execute(stmt).all())


# -- paging ----------------------------------------------------------------------------


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except Exception as err:
        raise FederateError(f"Invalid page token {token!r}", INVALID_PARAMETER_VALUE) from err


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def check_max_results(max_results: int, limit: int) -> int:
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 1 <= max_results <= limit
    ):
        raise FederateError(
            f"max_results must be an integer between 1 and {limit}, got {max_results!r}",
            INVALID_PARAMETER_VALUE,
        )
    return max_results


def check_tag_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 250:
        raise FederateError(
            f"Invalid tag key {key!r}: a non-empty string of at most 250 characters",
            INVALID_PARAMETER_VALUE,
        )


def upsert_tag(s: Any, table: Any, owner: Any, owner_id: int, key: str, value: str) -> None:
    res = s.execute(
        update(table).where(owner == owner_id, table.c.key == key).values(value=str(value))
    )
    if res.rowcount == 0:
        s.execute(insert(table).values({owner.key: owner_id, "key": key, "value": str(value)}))
