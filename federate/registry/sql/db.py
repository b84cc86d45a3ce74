"""Engines, transactions and schema state of SQL registry databases.

One engine per database URL per process. An empty database is migrated to head on
first use, under a cross-process file lock; a database at any other revision is
refused with a message saying what to do, because silently migrating a shared
production database is not ours to decide.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from federate.config import federate_home
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.registry.sql.engines import (
    READ_ONLY,
    SQLITE_LOWER,
    connect_with_retry,
    create_engine,
    display_url,
    sqlite_file,
)
from federate.registry.sql.sessions import SessionFactory, database_error

__all__ = [
    "READ_ONLY",
    "SCHEMA_HEAD",
    "SQLITE_LOWER",
    "SessionFactory",
    "database_error",
    "dispose_engines",
    "engine_for",
    "ensure_schema",
    "no_database",
    "prepare",
    "schema_state",
    "upgrade",
    "upgrade_url",
]

logger = logging.getLogger(__name__)

#: The Alembic revision this release's code expects. A test checks it is the single head.
SCHEMA_HEAD = "0005"

_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def migrations_dir() -> Path:
    """Wheels carry the scripts as ``federate/_migrations``; a checkout has ``migrations/``."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FederateError("federate's migration scripts are missing from the installation")


def engine_for(url: str, create: bool = True) -> Engine:
    """The process-wide engine for ``url``, its schema checked on first use (an empty
    database gets it). A SQLite file that does not exist yet is created only with
    ``create``; without it the engine comes back unprepared, and :func:`prepare` (which
    every registry transaction calls) refuses to read a database that is not there."""
    engine = _engines.get(url)
    if engine is not None and url in _ready:
        return engine
    with _lock:
        engine = _engine(url)
        if url not in _ready and (create or _existing(engine)):
            _prepare(url, engine, create)
    return engine


def prepare(url: str, create: bool = False) -> None:
    """Make ``url``'s database ready for a transaction: its schema checked, and a missing
    SQLite file created if ``create`` (the calls that add a model, a prompt or a webhook),
    else refused: a mistyped path must not turn into a new, empty registry."""
    if url in _ready:
        return
    with _lock:
        if url not in _ready:
            _prepare(url, _engine(url), create)


def _engine(url: str) -> Engine:
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_engine(url)
    return engine


def _existing(engine: Engine) -> bool:
    path = sqlite_file(engine.url)
    return path is None or path.exists()


def _prepare(url: str, engine: Engine, create: bool) -> None:
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        if not create:
            raise no_database(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        except OSError as err:
            raise FederateError(
                f"Cannot create the registry database {path}: {err.strerror or err}"
                f"{_home_hint(path)}",
                INVALID_PARAMETER_VALUE,
            ) from None
    ensure_schema(engine)
    _ready.add(url)


def _home_hint(path: Path) -> str:
    """For the embedded default registry: which variable put it there."""
    home = federate_home()
    with contextlib.suppress(OSError):
        if path.parent.absolute() == home.absolute() or path.parent.resolve() == home.resolve():
            return (
                f". It is the embedded default registry under FEDERATE_HOME ({home}): set "
                "FEDERATE_HOME to a directory federate can create and write (it holds the "
                "default registry, its artifacts and the cache), or choose a registry with "
                "--registry-uri, --profile or FEDERATE_REGISTRY_URI"
            )
    return ""


def no_database(path: Path) -> FederateError:
    return FederateError(
        f"No registry database at {path}; check the registry URI (or FEDERATE_HOME), "
        "or register a model to create it",
        RESOURCE_DOES_NOT_EXIST,
    )


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


def _forget_engines_in_child() -> None:
    """A forked child must not use the parent's pooled connections (their sockets are
    shared with the parent): drop them without closing them, and start afresh."""
    global _lock
    _lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _ready.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_engines_in_child)


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
    url = display_url(engine.url)
    try:
        with connect_with_retry(engine, **{READ_ONLY: True}) as conn:
            rev = current_revision(conn)
    except sa.exc.SQLAlchemyError as err:
        raise database_error(err, engine.url) from err
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
    foreign = foreign_schema(url, rev, tables)
    if foreign is not None:
        raise foreign
    raise FederateError(
        f"The registry database {url} is at schema revision {rev}, but this federate "
        f"expects {SCHEMA_HEAD}. Take a backup, then run 'federate db upgrade <uri>'.",
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
    engine = create_engine(url)
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        raise no_database(path)
    try:
        with connect_with_retry(engine, **{READ_ONLY: True}) as conn:
            return current_revision(conn), SCHEMA_HEAD
    except sa.exc.SQLAlchemyError as err:
        raise database_error(err, engine.url) from err
    finally:
        engine.dispose()


def upgrade_url(url: str) -> tuple[str | None, str]:
    """Migrate the database at ``url`` to head, under the same lock as first use.

    A database at a revision this release does not know (a newer federate made it) is
    refused: federate never guesses how to move a schema it has not seen.
    """
    from filelock import FileLock

    engine = create_engine(url)
    path = sqlite_file(engine.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(_lock_path(engine), timeout=300):
            with connect_with_retry(engine) as conn:
                before = current_revision(conn)
                tables = set(sa.inspect(conn).get_table_names())
                conn.rollback()
            if before is not None:
                foreign = foreign_schema(display_url(engine.url), before, tables)
                if foreign is not None:
                    raise foreign
            upgrade(engine, "head")
        return before, SCHEMA_HEAD
    except sa.exc.SQLAlchemyError as err:
        raise database_error(err, engine.url) from err
    finally:
        engine.dispose()


#: federate names its migrations 0001, 0002...: an unknown revision of that form is a
#: newer federate's; any other belongs to another application's schema
_FEDERATE_REVISION = re.compile(r"[0-9]{4}")
#: tables of an MLflow tracking database that a federate registry never has
_MLFLOW_TABLES = {"experiments", "runs"}


def foreign_schema(url: str, rev: str, tables: set[str]) -> FederateError | None:
    """The error for a database at a revision this federate does not know (None if it
    knows it): a newer federate's, MLflow's, or another application's schema."""
    if rev in known_revisions():
        return None
    if _FEDERATE_REVISION.fullmatch(rev):
        return FederateError(
            f"The registry database {url} is at schema revision {rev}, which this federate "
            f"does not know: a newer federate created it. Use that release or a later one; "
            f"this one stops at {SCHEMA_HEAD}.",
            INTERNAL_ERROR,
        )
    if tables >= _MLFLOW_TABLES:
        return FederateError(
            f"The database {url} is an MLflow tracking database (Alembic revision {rev}), "
            "not a federate registry, and federate does not read MLflow's schema. Keep "
            "using it through MLflow (mlflow server --backend-store-uri <this URI>, or "
            "MlflowClient), and give federate a database of its own: an empty one gets "
            "federate's schema on first use.",
            INVALID_PARAMETER_VALUE,
        )
    return FederateError(
        f"The database {url} is not a federate registry: its Alembic revision {rev} is "
        "none of federate's (another application's schema lives there). Point federate at "
        "an empty database or one federate created.",
        INVALID_PARAMETER_VALUE,
    )


def known_revisions() -> set[str]:
    """Every revision among this release's migration scripts."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
