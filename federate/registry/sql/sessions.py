"""Managed transactions on a registry database, and what their failures mean to callers.

A registry method either commits all of its writes or none, and a database failure
reaches the caller as a FederateError whose code says what to do about it: retry later
(TEMPORARILY_UNAVAILABLE: lost connection, lock wait timeout, deadlock), change the
request (RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE), or report a bug
(INTERNAL_ERROR). The database URL's password never appears in a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.registry.sql.engines import READ_ONLY, scrub

# Unique-key violations, per driver: PostgreSQL SQLSTATE, MySQL/MariaDB error number,
# SQLite extended result code name.
_UNIQUE_PG = {"23505"}
_UNIQUE_MYSQL = {1062, 1586}
_UNIQUE_SQLITE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def _is_unique_violation(orig: Any) -> bool:
    if getattr(orig, "sqlstate", None) in _UNIQUE_PG:
        return True
    if _mysql_code(orig) in _UNIQUE_MYSQL:
        return True
    if getattr(orig, "sqlite_errorname", None) in _UNIQUE_SQLITE:
        return True
    return "unique constraint" in str(orig).lower()


# Operational errors worth retrying. SQLite and MySQL also report mistakes in the SQL
# itself as operational errors (no such column), so for them only these codes count.
_TRANSIENT_SQLITE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
)
# lock wait timeout, deadlock, too many connections, shutdown, killed, interrupted,
# MariaDB's idle disconnect; 2000-2999 are client-side connection errors
_TRANSIENT_MYSQL = {1040, 1053, 1205, 1213, 1317, 1927, 4031}
# CHECK constraint failed (MySQL, MariaDB): a bad value, reported as operational
_CHECK_MYSQL = {3819, 4025}


def _mysql_code(orig: Any) -> int | None:
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _is_transient(err: sa.exc.DBAPIError) -> bool:
    if err.connection_invalidated:
        return True
    orig = err.orig
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return str(name).startswith(_TRANSIENT_SQLITE)
    code = _mysql_code(orig)
    if code is not None:
        return code in _TRANSIENT_MYSQL or 2000 <= code < 3000
    return isinstance(err, sa.exc.OperationalError | sa.exc.InterfaceError)


def _detail(err: BaseException) -> str:
    """The driver's own words, on one line, without the SQL statement SQLAlchemy appends."""
    orig = getattr(err, "orig", None) or err
    return " ".join(str(orig).split()) or type(orig).__name__


def database_error(err: sa.exc.SQLAlchemyError, url: URL) -> FederateError:
    """The FederateError a caller sees for ``err``, raised on the database at ``url``."""
    detail = _detail(err)
    if isinstance(err, sa.exc.IntegrityError):
        if _is_unique_violation(err.orig):
            message, code = f"The registry already holds this: {detail}", RESOURCE_ALREADY_EXISTS
        else:  # foreign key, NOT NULL, CHECK
            message, code = (
                f"The registry refused an invalid value: {detail}",
                INVALID_PARAMETER_VALUE,
            )
    elif isinstance(err, sa.exc.DataError) or (
        isinstance(err, sa.exc.DBAPIError) and _mysql_code(err.orig) in _CHECK_MYSQL
    ):
        message, code = f"The registry refused an invalid value: {detail}", INVALID_PARAMETER_VALUE
    elif isinstance(err, sa.exc.DBAPIError) and _is_transient(err):
        # lost connection, lock wait timeout, deadlock, server shutting down: try again
        message, code = (
            f"The registry database is unavailable, try again: {detail}",
            TEMPORARILY_UNAVAILABLE,
        )
    else:
        message, code = f"Registry database error: {type(err).__name__}: {detail}", INTERNAL_ERROR
    return FederateError(scrub(message, url), code)


class SessionFactory:
    """Managed ORM sessions: commit on success, roll back on error, errors mapped by
    :func:`database_error`."""

    def __init__(self, engine: Engine, prepare: Callable[[bool], None] | None = None) -> None:
        """``prepare(create)`` runs before each transaction: it makes the database ready
        (see :func:`federate.registry.sql.db.prepare`), creating it only if ``create``."""
        self.engine = engine
        self._maker = sessionmaker(bind=engine, expire_on_commit=False)
        self._prepare = prepare

    @contextmanager
    def __call__(self, create: bool = False) -> Iterator[Session]:
        if self._prepare is not None:
            self._prepare(create)
        with self._maker() as session:
            try:
                yield session
                session.commit()
            except FederateError:
                session.rollback()
                raise
            except sa.exc.SQLAlchemyError as err:
                _rollback_quietly(session)
                raise database_error(err, self.engine.url) from err

    @contextmanager
    def write(self, create: bool = False) -> Iterator[Connection]:
        """A Core connection in a transaction, committed on success: the fast path for
        writes that need no ORM objects (creating a version). Same error mapping."""
        if self._prepare is not None:
            self._prepare(create)
        try:
            with self.engine.begin() as conn:
                yield conn
        except FederateError:
            raise
        except sa.exc.SQLAlchemyError as err:
            raise database_error(err, self.engine.url) from err

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only Core connection: the fast path for resolution."""
        if self._prepare is not None:
            self._prepare(False)
        try:
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                yield conn
        except sa.exc.SQLAlchemyError as err:
            raise database_error(err, self.engine.url) from err


def _rollback_quietly(session: Session) -> None:
    """Roll back; on a connection that is already gone the rollback fails too, and the
    original error is the one worth reporting."""
    with suppress(sa.exc.SQLAlchemyError):
        session.rollback()
