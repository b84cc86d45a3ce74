"""Engines, transactions and schema state of SQL registry databases.

One engine per database URL per process. An empty database is migrated to head on
first use, under a cross-process file lock; a database at any other revision is
refused with a message saying what to do, because silently migrating a shared
production database is not ours to decide.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)

logger = logging.getLogger(__name__)

#: SQL function on federate's SQLite connections: a Unicode-aware lower() (SQLite's is ASCII).
SQLITE_LOWER = "federate_lower"


def _sqlite_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


#: The Alembic revision this release's code expects. A test checks it is the single head.
SCHEMA_HEAD = "0002"

_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()

READ_ONLY = "federate_read_only"


def migrations_dir() -> Path:
    """Wheels carry the scripts as ``federate/_migrations``; a checkout has ``migrations/``."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FederateError("federate's migration scripts are missing from the installation")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # let SQLAlchemy's begin event below issue BEGIN, so writers take the lock up front
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()
        dbapi_conn.create_function(SQLITE_LOWER, 1, _sqlite_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers start with BEGIN IMMEDIATE: taking the write lock late (after a read)
        # fails at once with SQLITE_BUSY in WAL mode instead of waiting its turn.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def engine_for(url: str) -> Engine:
    """The process-wide engine for ``url``, created and schema-checked on first use."""
    engine = _engines.get(url)
    if engine is not None and url in _ready:
        return engine
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        if url not in _ready:
            ensure_schema(engine)
            _ready.add(url)
    return engine


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise FederateError(
            f"Not a database URL: {redact(url)!r}. Use e.g. sqlite:///path/registry.db, "
            "postgresql+psycopg://host/db or mysql+pymysql://user@host/db",
            INVALID_PARAMETER_VALUE,
        ) from err
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=not is_sqlite)
    except NoSuchModuleError as err:
        raise FederateError(
            f"No SQLAlchemy dialect for {parsed.drivername!r}: {err}", INVALID_PARAMETER_VALUE
        ) from err
    except ModuleNotFoundError as err:
        raise FederateError(
            f"The database driver for {parsed.drivername!r} is not installed ({err.name}); "
            "install federate[postgres] or federate[mysql]",
            INVALID_PARAMETER_VALUE,
        ) from err
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


# -- schema ----------------------------------------------------------------------------


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _lock_path(engine: Engine) -> str:
    digest = hashlib.sha256(engine.url.render_as_string(hide_password=False).encode()).hexdigest()[
        :24
    ]
    return str(Path(tempfile.gettempdir()) / f"federate-db-{digest}.lock")


def ensure_schema(engine: Engine) -> None:
    """Migrate an empty database to head; refuse one at another revision."""
    url = redact(engine.url.render_as_string(hide_password=True))
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            rev = current_revision(conn)
    except OperationalError as err:
        raise FederateError(
            f"Cannot reach the registry database {url}: {err.orig}", TEMPORARILY_UNAVAILABLE
        ) from err
    if rev == SCHEMA_HEAD:
        return
    from filelock import FileLock

    with FileLock(_lock_path(engine), timeout=300):
        with engine.connect() as conn:
            rev = current_revision(conn)
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
            conn.rollback()
        if rev == SCHEMA_HEAD:
            return
        if rev is None and not tables:
            logger.info("Creating the federate registry schema in %s", url)
            upgrade(engine, "head")
            return
    if rev is None:
        raise FederateError(
            f"The database {url} has tables but no federate schema version; point federate "
            "at an empty database or one created by federate.",
            INTERNAL_ERROR,
        )
    raise FederateError(
        f"The registry database {url} is at schema revision {rev}, but this federate "
        f"expects {SCHEMA_HEAD}. Take a backup, then run 'federate db upgrade <uri>' "
        "(or install the federate release that created it, if the database is newer).",
        INTERNAL_ERROR,
    )


def alembic_config(engine: Engine | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url",
            engine.url.render_as_string(hide_password=False).replace("%", "%%"),
        )
    return config


def schema_state(url: str) -> tuple[str | None, str]:
    """(current revision or None, head revision) of the database at ``url``, changing nothing."""
    engine = _create_engine(url)
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return current_revision(conn), SCHEMA_HEAD
    except OperationalError as err:
        raise FederateError(
            f"Cannot reach the registry database {redact(url)}: {err.orig}",
            TEMPORARILY_UNAVAILABLE,
        ) from err
    finally:
        engine.dispose()


def upgrade_url(url: str) -> tuple[str | None, str]:
    """Migrate the database at ``url`` to head, under the same lock as first use."""
    from filelock import FileLock

    engine = _create_engine(url)
    try:
        with FileLock(_lock_path(engine), timeout=300):
            with engine.connect() as conn:
                before = current_revision(conn)
                conn.rollback()
            upgrade(engine, "head")
        return before, SCHEMA_HEAD
    finally:
        engine.dispose()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


# -- transactions ----------------------------------------------------------------------


class SessionFactory:
    """Managed ORM sessions: commit on success, roll back on error, errors mapped to
    FederateError codes with no database URL or password in the message."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._maker = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        with self._maker() as session:
            try:
                yield session
                session.commit()
            except FederateError:
                session.rollback()
                raise
            except IntegrityError as err:
                session.rollback()
                raise FederateError(
                    f"The registry refused the change: {err.orig}", RESOURCE_ALREADY_EXISTS
                ) from err
            except OperationalError as err:
                session.rollback()
                raise FederateError(
                    f"The registry database is unavailable: {err.orig}", TEMPORARILY_UNAVAILABLE
                ) from err
            except sa.exc.SQLAlchemyError as err:
                session.rollback()
                raise FederateError(
                    f"Registry database error: {type(err).__name__}: {getattr(err, 'orig', err)}",
                    INTERNAL_ERROR,
                ) from err

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only Core connection: the fast path for resolution."""
        try:
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                yield conn
        except OperationalError as err:
            raise FederateError(
                f"The registry database is unavailable: {err.orig}", TEMPORARILY_UNAVAILABLE
            ) from err
