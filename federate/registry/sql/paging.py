"""Keyset pagination for registry searches, with opaque, validated page tokens.

A page token holds the sort key of the last row returned, not an offset: the next page
starts strictly after that row, so rows created or deleted between two calls never make
a page repeat or skip a row that existed throughout, and a deep page costs what the
first one costs. The row order always ends with a unique column, so "after" is exact.

A token is base64 of JSON. It also carries a digest of the search it came from; a token
replayed with another filter or order is refused rather than silently misapplied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

MAX_TOKEN_CHARS = 8192
FETCH_CHUNK = 500  # rows fetched per IN (...) list; SQLite caps bound parameters


@dataclass(frozen=True)
class Ordering:
    """A total row order: ``(column, ascending)`` pairs, the last one unique.

    ``identity`` names the search (filter, order, scope) the order belongs to.
    """

    columns: tuple[tuple[Any, bool], ...]
    identity: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.identity.encode()).hexdigest()[:16]

    def resume_after(self, page_token: str | None) -> tuple[Any, ...] | None:
        """The sort key a page token continues after; None for the first page."""
        if page_token is None or page_token == "":
            return None
        after = _decode(page_token, self.digest)
        types = [column.type.python_type for column, _ascending in self.columns]
        if len(after) != len(types) or not all(
            type(value) is expected and _storable(value)
            for value, expected in zip(after, types, strict=False)
        ):
            raise _invalid(page_token, "it does not fit this search's sort order")
        return tuple(after)

    def page(
        self, conn: Any, stmt: Any, max_results: int, after: tuple[Any, ...] | None
    ) -> tuple[list[Any], str | None]:
        """Up to ``max_results`` rows of ``stmt`` in this order, and the next page's token.

        The page is chosen by sort keys alone, then its full rows are fetched by their
        unique key: sorting narrow rows is what keeps MySQL's filesort cheap.
        """
        sort_keys = [column.label(f"_sort_{i}") for i, (column, _) in enumerate(self.columns)]
        keys = stmt.with_only_columns(*sort_keys)
        if after is not None:
            keys = keys.where(self._after(after))
        keys = keys.order_by(*(c.asc() if asc else c.desc() for c, asc in self.columns))
        found = [tuple(row) for row in conn.execute(keys.limit(max_results + 1))]
        page = found[:max_results]
        unique = self.columns[-1][0]
        rows: dict[Any, Any] = {}
        for start in range(0, len(page), FETCH_CHUNK):
            chunk = [key[-1] for key in page[start : start + FETCH_CHUNK]]
            lookup = stmt.add_columns(unique.label("_page_key")).where(unique.in_(chunk))
            rows.update((row._page_key, row) for row in conn.execute(lookup))
        token = _encode(self.digest, page[-1]) if len(found) > max_results else None
        return [rows[key[-1]] for key in page if key[-1] in rows], token

    def _after(self, values: tuple[Any, ...]) -> Any:
        """Rows strictly after ``values``: later in the first key that differs."""
        # integers typed BIGINT: PostgreSQL would cast them to an INTEGER column's type
        bound = [sa.literal(v, sa.BigInteger) if isinstance(v, int) else v for v in values]
        later = []
        for i, (column, ascending) in enumerate(self.columns):
            ties = [c == v for (c, _), v in zip(self.columns[:i], bound, strict=False)]
            later.append(sa.and_(*ties, column > bound[i] if ascending else column < bound[i]))
        return sa.or_(*later)


def _storable(value: Any) -> bool:
    """Whether every database can compare with ``value`` (a forged token may hold anything)."""
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and not any(
        c == "\x00" or "\ud800" <= c <= "\udfff" for c in value
    )


def _encode(digest: str, after: tuple[Any, ...]) -> str:
    body = json.dumps({"search": digest, "after": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode()


def _decode(token: str, digest: str) -> list[Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise _invalid(token, "it is not a page token this registry issued")
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):  # nested [[[[...
        raise _invalid(token, "it is not a page token this registry issued") from None
    if not isinstance(body, dict) or set(body) != {"search", "after"}:
        raise _invalid(token, "it is not a page token this registry issued")
    if not isinstance(body["after"], list):
        raise _invalid(token, "it is not a page token this registry issued")
    if body["search"] != digest:
        raise _invalid(
            token,
            "it was issued for a different search (filter, order_by or name changed); "
            "start again without a page_token",
        )
    return body["after"]


def _invalid(token: object, why: str) -> FederateError:
    shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:77] + "..."
    return FederateError(f"Invalid page token {shown}: {why}", INVALID_PARAMETER_VALUE)
