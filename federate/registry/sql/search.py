"""The subset of MLflow's search filter grammar the SQL registry understands so far.

Accepted: ``name = '<value>'``, ``name != '<value>'``, ``name LIKE '<pattern>'`` and
``name ILIKE '<pattern>'``. Values are bound as parameters, never pasted into SQL.

LIKE means the same on every database: case-sensitive, ``%`` and ``_`` as wildcards and
``\\`` escaping the next character. SQLite's own LIKE ignores ASCII case, so there it becomes
a GLOB; its ILIKE lowers with Python's ``str.lower`` (SQLite's ``lower`` is ASCII-only).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.registry.sql.db import SQLITE_LOWER

_NAME_FILTER = re.compile(
    r"\s*name\s*(?P<op>=|!=|(?i:ilike)|(?i:like))\s*(?P<q>['\"])(?P<value>(?:(?!(?P=q)).)*)(?P=q)\s*",
    re.DOTALL,
)
ACCEPTED = "name = '<value>', name != '<value>', name LIKE '<pattern>', name ILIKE '<pattern>'"


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


def name_filter(filter_string: str | None, column: Any, dialect: str) -> Any | None:
    """A WHERE clause for ``filter_string`` on ``column``, or None when there is no filter."""
    if filter_string is None or not filter_string.strip():
        return None
    match = _NAME_FILTER.fullmatch(filter_string)
    if match is None:
        raise FederateError(
            f"Unsupported filter {filter_string!r}. Accepted filters: {ACCEPTED}",
            INVALID_PARAMETER_VALUE,
        )
    op, value = match["op"].lower(), match["value"]
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if value.replace("\\\\", "").endswith("\\"):
        raise FederateError(
            f"Invalid pattern {value!r} in filter: it ends with a lone escape character '\\'",
            INVALID_PARAMETER_VALUE,
        )
    if op == "like":
        if dialect == "sqlite":
            return column.op("GLOB")(like_to_glob(value))
        return column.like(value, escape="\\")
    lowered = getattr(sa.func, SQLITE_LOWER) if dialect == "sqlite" else sa.func.lower
    return lowered(column).like(value.lower(), escape="\\")
