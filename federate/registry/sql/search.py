"""MLflow's search filters and ``order_by`` as SQL for the registry's tables.

The grammar is parsed by :mod:`federate.registry.filters`; this module turns its tree
into SQLAlchemy expressions whose values are always bound parameters, never text pasted
into the statement.

Comparisons mean the same on every database:

- ``=``, ``!=``, ``IN`` are exact: case-sensitive, and ``'a '`` is not ``'a'`` (MySQL's
  collations ignore trailing spaces and often case, so there the bytes are compared too).
- ``LIKE`` is case-sensitive, with ``%`` and ``_`` as wildcards and ``\\`` escaping the
  next character. SQLite's own LIKE ignores ASCII case, so there it becomes a GLOB.
- ``ILIKE`` lowers both sides Unicode-aware (SQLite's ``lower`` is ASCII-only, so there it
  calls the ``federate_lower`` function every federate connection registers).
- A tag comparison holds when the entity has that tag and its value compares true, so
  ``tags.k != 'v'`` does not match entities without tag ``k`` (as in MLflow); neither do
  ``!=`` and ``NOT IN`` match a missing (NULL) ``run_id``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.registry import filters as f
from federate.registry.sql import queries as q
from federate.registry.sql.db import SQLITE_LOWER
from federate.registry.sql.paging import Ordering

_NUMERIC: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
MYSQL_CASE_SENSITIVE = "utf8mb4_bin"


@dataclass(frozen=True)
class SearchTarget:
    """How one kind of search maps its grammar onto tables.

    ``columns`` maps attribute and sort-key names to columns; ``default_order`` is
    appended after the caller's keys, then ``unique``, so every row has one place.
    """

    grammar: f.Grammar
    columns: Mapping[str, Any]
    tags: Any
    tag_owner: Any
    owner_id: Any
    default_order: tuple[f.OrderKey, ...]
    unique: Any


REGISTERED_MODELS = SearchTarget(
    f.REGISTERED_MODELS,
    columns={
        "name": q.rm.c.name,
        "creation_timestamp": q.rm.c.creation_time,
        "last_updated_timestamp": q.rm.c.last_updated_time,
    },
    tags=q.rm_tag,
    tag_owner=q.rm_tag.c.registered_model_id,
    owner_id=q.rm.c.id,
    default_order=(f.OrderKey("name"),),
    unique=q.rm.c.id,
)
PROMPTS = replace(REGISTERED_MODELS, grammar=f.PROMPTS)
MODEL_VERSIONS = SearchTarget(
    f.MODEL_VERSIONS,
    columns={
        "name": q.rm.c.name,
        "version_number": q.mv.c.version,
        "run_id": q.mv.c.run_id,
        "source_path": q.mv.c.source,
        "creation_timestamp": q.mv.c.creation_time,
        "last_updated_timestamp": q.mv.c.last_updated_time,
    },
    tags=q.mv_tag,
    tag_owner=q.mv_tag.c.model_version_id,
    owner_id=q.mv.c.id,
    default_order=(f.OrderKey("name"), f.OrderKey("version_number", ascending=False)),
    unique=q.mv.c.id,
)


@dataclass(frozen=True)
class Search:
    """A parsed search: WHERE clauses, and the total row order its pages follow."""

    where: tuple[Any, ...]
    ordering: Ordering


def compile_search(
    target: SearchTarget,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    dialect: str,
) -> Search:
    """Parse ``filter_string`` and ``order_by`` for ``target`` and translate them."""
    comparisons = f.parse_filter(filter_string, target.grammar)
    keys = f.parse_order_by(order_by, target.grammar)
    where = tuple(_clause(c, target, dialect) for c in comparisons)
    chosen = {k.key for k in keys}
    keys += tuple(k for k in target.default_order if k.key not in chosen)
    columns = [(target.columns[k.key], k.ascending) for k in keys]
    columns.append((target.unique, True))
    identity = repr((target.grammar.what, comparisons, keys))
    return Search(where, Ordering(tuple(columns), identity))


def prompt_version_ordering(name: str) -> Ordering:
    """Newest first; the version number is unique within one prompt."""
    return Ordering(((q.mv.c.version, False),), repr(("prompt versions", name)))


def _clause(comparison: f.Comparison, target: SearchTarget, dialect: str) -> Any:
    value = comparison.value
    if isinstance(comparison.target, f.Tag):
        assert not isinstance(value, int), "the grammar compares tags with strings only"
        tags = target.tags
        return (
            sa.select(sa.literal(1))
            .where(
                target.tag_owner == target.owner_id,
                _compare(tags.c.key, "=", comparison.target.key, dialect),
                _compare(tags.c.value, comparison.op, value, dialect),
            )
            .exists()
        )
    column = target.columns[comparison.target.name]
    if isinstance(value, int):
        # typed BIGINT: PostgreSQL would cast it to the INTEGER column's type and overflow
        return _NUMERIC[comparison.op](column, sa.literal(value, sa.BigInteger))
    return _compare(column, comparison.op, value, dialect)


def _compare(column: Any, op: str, value: str | tuple[str, ...], dialect: str) -> Any:
    if isinstance(value, tuple):
        return _member(column, value, dialect, negate=op == "NOT IN")
    if op == "=":
        return _exact(column, value, dialect)
    if op == "!=":
        return sa.not_(_exact(column, value, dialect))
    if value.replace("\\\\", "").endswith("\\"):
        raise FederateError(
            f"Invalid pattern {value!r} in filter: it ends with a lone escape character '\\'",
            INVALID_PARAMETER_VALUE,
        )
    if op == "LIKE":
        return _like(column, value, dialect)
    return _ilike(column, value, dialect)


def _is_mysql(dialect: str) -> bool:
    return dialect in ("mysql", "mariadb")


def _exact(column: Any, value: str, dialect: str) -> Any:
    if not _is_mysql(dialect):
        return column == value
    # the plain comparison can use an index; the binary one removes case and PAD SPACE
    as_bytes = sa.cast(column, mysql.BINARY()) == sa.cast(
        sa.literal(value, sa.String), mysql.BINARY()
    )
    return sa.and_(column == value, as_bytes)


def _member(column: Any, values: tuple[str, ...], dialect: str, negate: bool) -> Any:
    if _is_mysql(dialect):
        # compare bytes: the column's collation may ignore case and trailing spaces
        as_bytes = sa.cast(column, mysql.BINARY())
        encoded = [v.encode("utf-8") for v in values]
        if negate:
            return as_bytes.not_in(encoded)
        return sa.and_(column.in_(values), as_bytes.in_(encoded))
    return column.not_in(values) if negate else column.in_(values)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char


def like_to_glob(pattern: str) -> str:
    """The GLOB pattern matching exactly what LIKE ``pattern`` (escape ``\\``) matches."""
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(_glob_literal(next(chars)))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _like(column: Any, pattern: str, dialect: str) -> Any:
    if dialect == "sqlite":
        return column.op("GLOB")(like_to_glob(pattern))
    if _is_mysql(dialect):
        column = column.collate(MYSQL_CASE_SENSITIVE)
    return column.like(pattern, escape="\\")


def _ilike(column: Any, pattern: str, dialect: str) -> Any:
    if dialect == "sqlite":
        return getattr(sa.func, SQLITE_LOWER)(column).like(pattern.lower(), escape="\\")
    lowered: Any = sa.func.lower(column)
    if _is_mysql(dialect):  # a *_ci collation would also equate accents: é LIKE e
        lowered = lowered.collate(MYSQL_CASE_SENSITIVE)
    return lowered.like(pattern.lower(), escape="\\")
