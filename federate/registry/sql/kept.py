"""Single read statements on a connection each thread keeps open: the hot read path of
``federate serve`` (answering for a version, thousands of times a second).

A :class:`KeptReader` runs a statement without a pool checkout (no liveness ping), and on
a database server in autocommit (no BEGIN and ROLLBACK): one round trip where a
:meth:`SessionFactory.read <federate.registry.sql.sessions.SessionFactory.read>` costs
four. The statement is compiled for the dialect once and run on the driver's own cursor:
SQLAlchemy's execution context and result processing cost more than the query itself on
a local database (about 60% of the request, profiled), and the statements read here need
neither (integers and text, no type processing). On PostgreSQL psycopg prepares a
statement it has run a few times, so the server parses it once per connection.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from federate.registry.sql.engines import READ_ONLY
from federate.registry.sql.sessions import SessionFactory, database_error


@dataclass(frozen=True)
class _Compiled:
    """A statement as its driver takes it: SQL text, the order of positional parameters
    (None: named), the values of its literal parameters, and a row type whose fields are
    the statement's column names."""

    sql: str
    order: tuple[str, ...] | None
    fixed: dict[str, Any]
    row: Any

    def parameters(self, given: dict[str, Any]) -> Any:
        values = {**self.fixed, **given}
        return values if self.order is None else tuple(values[k] for k in self.order)


def _compile(statement: Select[Any], dialect: sa.Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    names = list(statement.selected_columns.keys())
    return _Compiled(str(compiled), order, dict(compiled.params), namedtuple("Row", names))


class KeptReader:
    """Runs single read statements (``select()`` of plain columns) on a connection each
    thread keeps open. A connection found dead (server restarted, idle timeout) is
    replaced and the statement run again, once. Each thread that reads keeps one
    connection of the pool: use it from few threads (an event loop's)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self._local = threading.local()
        self._options: dict[str, Any] = {READ_ONLY: True}
        if sessions.engine.dialect.name != "sqlite":
            self._options["isolation_level"] = "AUTOCOMMIT"
        self._compiled: dict[int, tuple[Select[Any], _Compiled]] = {}

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            prepare = self.sessions._prepare
            if prepare is not None:
                prepare(False)
            conn = self.sessions.engine.connect().execution_options(**self._options)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(sa.exc.SQLAlchemyError):
                conn.invalidate()
                conn.close()

    def _for(self, statement: Select[Any]) -> _Compiled:
        kept = self._compiled.get(id(statement))
        if kept is None or kept[0] is not statement:
            kept = (statement, _compile(statement, self.sessions.engine.dialect))
            self._compiled[id(statement)] = kept
        return kept[1]

    def rows(self, statement: Select[Any], params: dict[str, Any]) -> list[Any]:
        """Every row of ``statement`` (fields named as its columns); database failures
        as :func:`~federate.registry.sql.sessions.database_error`."""
        compiled = self._for(statement)
        engine = self.sessions.engine
        dialect = engine.dialect
        for attempt in (1, 2):
            try:
                driver = self._connection().connection.dbapi_connection
            except sa.exc.SQLAlchemyError as err:
                self._drop()
                raise database_error(err, engine.url) from err
            assert driver is not None
            try:
                cursor = driver.cursor()
                try:
                    cursor.execute(compiled.sql, compiled.parameters(params))
                    return [compiled.row(*r) for r in cursor.fetchall()]
                finally:
                    cursor.close()
            except dialect.loaded_dbapi.Error as err:
                gone = dialect.is_disconnect(err, driver, None)
                self._drop()
                if attempt == 1 and gone:
                    continue
                wrapped = sa.exc.DBAPIError.instance(
                    compiled.sql,
                    params,
                    err,
                    dialect.loaded_dbapi.Error,
                    connection_invalidated=gone,
                    dialect=dialect,
                )
                raise database_error(wrapped, engine.url) from err
        raise AssertionError("unreachable")  # pragma: no cover
