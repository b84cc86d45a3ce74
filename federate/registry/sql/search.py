"""The subset of MLflow's search filter grammar the SQL registry understands so far.

Accepted: ``name = '<value>'``, ``name != '<value>'``, ``name LIKE '<pattern>'`` and
``name ILIKE '<pattern>'``. Values are bound as parameters, never pasted into SQL.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

_NAME_FILTER = re.compile(
    r"\s*name\s*(?P<op>=|!=|(?i:ilike)|(?i:like))\s*(?P<q>['\"])(?P<value>(?:(?!(?P=q)).)*)(?P=q)\s*",
    re.DOTALL,
)
ACCEPTED = "name = '<value>', name != '<value>', name LIKE '<pattern>', name ILIKE '<pattern>'"


def name_filter(filter_string: str | None, column: Any) -> Any | None:
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
    if op == "like":
        return column.like(value)
    return sa.func.lower(column).like(value.lower())
