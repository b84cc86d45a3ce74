"""Creating SQLAlchemy engines for registry databases, configured from the environment.

Operators tune the connection pool, SQL echo, MySQL TLS and how long to wait for a
database that is still starting through ``FEDERATE_SQLALCHEMY_*`` / ``FEDERATE_MYSQL_*``
variables; a value federate cannot use is refused by name, listing what is accepted.
SQLite connections get foreign keys, WAL, a busy timeout and REGEXP, so the registry
behaves the same on a laptop as on a server.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy import event, pool
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from federate.envvars import env_float, env_int
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)
from federate.redaction import install as redact_logs

logger = logging.getLogger(__name__)

#: SQL function on federate's SQLite connections: a Unicode-aware lower() (SQLite's is ASCII).
SQLITE_LOWER = "federate_lower"
#: Execution option marking a connection that only reads (SQLite then skips BEGIN IMMEDIATE).
READ_ONLY = "federate_read_only"

POOL_SIZE = "FEDERATE_SQLALCHEMY_POOL_SIZE"
MAX_OVERFLOW = "FEDERATE_SQLALCHEMY_MAX_OVERFLOW"
POOL_RECYCLE = "FEDERATE_SQLALCHEMY_POOL_RECYCLE"
POOLCLASS = "FEDERATE_SQLALCHEMY_POOLCLASS"
ECHO = "FEDERATE_SQLALCHEMY_ECHO"
CONNECT_RETRIES = "FEDERATE_SQLALCHEMY_CONNECT_RETRIES"
CONNECT_TIMEOUT = "FEDERATE_SQLALCHEMY_CONNECT_TIMEOUT"
SQLITE_BUSY_TIMEOUT = "FEDERATE_SQLITE_BUSY_TIMEOUT"
MYSQL_SSL = {
    "ca": "FEDERATE_MYSQL_SSL_CA",
    "cert": "FEDERATE_MYSQL_SSL_CERT",
    "key": "FEDERATE_MYSQL_SSL_KEY",
}

POOL_CLASSES: dict[str, type[pool.Pool]] = {
    "QueuePool": pool.QueuePool,
    "NullPool": pool.NullPool,
    "StaticPool": pool.StaticPool,
    "SingletonThreadPool": pool.SingletonThreadPool,
    "AssertionPool": pool.AssertionPool,
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
ECHO_VALUES = (*_TRUE, *_FALSE[:-1], "debug")

#: A database that does not answer is retried this many times, with backoff from
#: RETRY_BASE_S doubling up to RETRY_MAX_S: small, so a wrong URL fails in seconds.
DEFAULT_CONNECT_RETRIES = 2
RETRY_BASE_S = 0.25
RETRY_MAX_S = 8.0
DEFAULT_CONNECT_TIMEOUT_S = 10
DEFAULT_SQLITE_BUSY_TIMEOUT_S = 30.0

# Server answers that no retry will change: bad credentials, unknown database.
_PERMANENT_MYSQL = {1044, 1045, 1049, 1698, 2026}
_PERMANENT_PG_STATES = {"28000", "28P01", "3D000"}


@dataclass(frozen=True)
class EngineSettings:
    """What the environment asks of every engine federate creates in this process."""

    pool_size: int | None = None
    max_overflow: int | None = None
    pool_recycle: int | None = None
    poolclass: str | None = None
    echo: bool | str = False
    connect_retries: int = DEFAULT_CONNECT_RETRIES
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_S
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT_S
    mysql_ssl: dict[str, str] = field(default_factory=dict)


def settings_from_env(env: Mapping[str, str] | None = None) -> EngineSettings:
    """Read and check the ``FEDERATE_SQLALCHEMY_*`` and ``FEDERATE_MYSQL_SSL_*`` variables."""
    env = os.environ if env is None else env
    poolclass = env.get(POOLCLASS, "").strip() or None
    if poolclass is not None and poolclass not in POOL_CLASSES:
        raise FederateError(
            f"{POOLCLASS} must be one of {', '.join(POOL_CLASSES)}, got {poolclass!r}",
            INVALID_PARAMETER_VALUE,
        )
    raw_echo = env.get(ECHO, "").strip().lower()
    if raw_echo not in ECHO_VALUES and raw_echo != "":
        raise FederateError(
            f"{ECHO} must be one of {', '.join(ECHO_VALUES)}, got {env.get(ECHO)!r}",
            INVALID_PARAMETER_VALUE,
        )
    echo: bool | str = "debug" if raw_echo == "debug" else raw_echo in _TRUE
    ssl = {}
    for key, name in MYSQL_SSL.items():
        path = env.get(name, "").strip()
        if not path:
            continue
        if not Path(path).expanduser().is_file():
            raise FederateError(
                f"{name} must name a readable PEM file, but {path!r} is not a file",
                INVALID_PARAMETER_VALUE,
            )
        ssl[key] = str(Path(path).expanduser())
    return EngineSettings(
        pool_size=env_int(POOL_SIZE, None, 0, "connections kept open; 0 means no limit", env),
        max_overflow=env_int(MAX_OVERFLOW, None, -1, "extra connections; -1 means no limit", env),
        pool_recycle=env_int(POOL_RECYCLE, None, -1, "seconds before a connection is renewed", env),
        poolclass=poolclass,
        echo=echo,
        connect_retries=env_int(
            CONNECT_RETRIES,
            DEFAULT_CONNECT_RETRIES,
            0,
            "retries while the database does not answer",
            env,
        ),
        connect_timeout=env_int(
            CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT_S, 1, "seconds to wait for a connection", env
        ),
        sqlite_busy_timeout=env_float(
            SQLITE_BUSY_TIMEOUT,
            DEFAULT_SQLITE_BUSY_TIMEOUT_S,
            0,
            "seconds a SQLite writer waits for the lock",
            env,
        ),
        mysql_ssl=ssl,
    )


def display_url(url: str | URL) -> str:
    """The URL as messages and logs may show it: password masked (also one holding
    unencoded ``/ ? # @``, which ``make_url`` would split), query string hidden (it may
    carry ``password=`` for the driver)."""
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=True)
    return redact(url)


def scrub(text: str, url: URL) -> str:
    """``text`` with ``url``'s password masked, in case a driver echoed it."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


# SQLAlchemy 2.1 percent-decodes a URL's database part (so a path can hold "?" as %3F);
# 2.0 keeps it as written. Decoded here too, so a URI means one file on every version.
_DECODES_DATABASE = make_url("sqlite:///%3F").database == "?"


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise FederateError(
            f"Not a database URL: {display_url(url)!r}. Use e.g. sqlite:///path/registry.db, "
            "postgresql+psycopg://host/db or mysql+pymysql://user@host/db",
            INVALID_PARAMETER_VALUE,
        ) from err
    if not _DECODES_DATABASE and parsed.database and "%" in parsed.database:
        parsed = parsed.set(database=unquote(parsed.database))
    return parsed


def check_registry_url(url: URL) -> None:
    """Refuse a URL that would keep the registry somewhere nobody meant: an in-memory
    SQLite database (gone, registrations and all, when the process ends, and a different
    one per pooled connection), or a server URL without a database name (the schema would
    land in whatever database the server or the default socket picks)."""
    shown = display_url(url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if url.host:
            raise FederateError(
                f"The registry URI {shown!r} puts {url.host!r} where a server's name goes; "
                f"a SQLite file takes three slashes: sqlite:///{url.host} (relative) or "
                "sqlite:////absolute/path/registry.db",
                INVALID_PARAMETER_VALUE,
            )
        if (
            database in ("", ":memory:")
            or database.startswith("file::memory:")
            or url.query.get("mode") == "memory"
        ):
            raise FederateError(
                f"The registry URI {url.drivername}:///{database} names an in-memory SQLite "
                "database, which loses every registration when the process ends; name a "
                "file: sqlite:////absolute/path/registry.db or sqlite:///relative/path.db",
                INVALID_PARAMETER_VALUE,
            )
    elif not url.database:
        raise FederateError(
            f"The registry URI {shown!r} names no database; name one after the host: "
            f"{url.drivername}://user@host[:port]/DATABASE",
            INVALID_PARAMETER_VALUE,
        )


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL keeps its database in; None for other databases and for
    ``file:`` URIs (SQLite parses those itself)."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database).expanduser()


def create_engine(url: str, settings: EngineSettings | None = None) -> Engine:
    """A new engine for ``url`` with ``settings`` (default: from the environment).

    Nothing connects yet (so no SQLite file is created): :func:`connect_with_retry` makes
    the first connection.
    """
    settings = settings_from_env() if settings is None else settings
    redact_logs()  # SQLAlchemy's echo logs parameters: stored webhook secrets among them
    parsed = parse_url(url)
    check_registry_url(parsed)
    backend = parsed.get_backend_name()
    is_sqlite = backend == "sqlite"
    kwargs: dict[str, Any] = {"pool_pre_ping": not is_sqlite, "echo": settings.echo}
    if settings.poolclass:
        kwargs["poolclass"] = POOL_CLASSES[settings.poolclass]
    for name, value in (
        ("pool_size", settings.pool_size),
        ("max_overflow", settings.max_overflow),
        ("pool_recycle", settings.pool_recycle),
    ):
        if value is not None:
            kwargs[name] = value
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = settings.connect_timeout
    if backend in ("mysql", "mariadb") and settings.mysql_ssl:
        connect_args["ssl"] = dict(settings.mysql_ssl)
    if connect_args:
        kwargs["connect_args"] = connect_args
    try:
        engine = sa.create_engine(parsed, **kwargs)
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
    except TypeError as err:  # e.g. pool_size given to a pool that has no size
        raise FederateError(
            f"The pool settings do not fit {settings.poolclass or 'the default pool'}: {err}. "
            f"Unset {POOL_SIZE}/{MAX_OVERFLOW} or choose {POOLCLASS}=QueuePool",
            INVALID_PARAMETER_VALUE,
        ) from err
    if is_sqlite:
        _configure_sqlite(engine, settings.sqlite_busy_timeout)
    return engine


# -- first connection ------------------------------------------------------------------


def _is_permanent(err: DBAPIError) -> bool:
    orig = err.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _PERMANENT_MYSQL:
        return True
    state = getattr(orig, "sqlstate", None)
    if state in _PERMANENT_PG_STATES:
        return True
    text = str(orig).lower()
    return "password authentication failed" in text or "does not exist" in text


_DENIED_MYSQL = {1044, 1045, 1698}
_DENIED_PG_STATES = {"28000", "28P01"}
_NO_DATABASE_MYSQL = {1049}
_NO_DATABASE_PG_STATES = {"3D000"}


def connection_error(err: DBAPIError, url: URL) -> FederateError:
    """What a failed first connection means, in words: refused credentials
    (PERMISSION_DENIED naming the user and host), a database the server does not have
    (RESOURCE_DOES_NOT_EXIST naming it), or a server that did not answer
    (TEMPORARILY_UNAVAILABLE; "connection refused" when nothing listens there)."""
    orig = err.orig
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    state = getattr(orig, "sqlstate", None)
    said = " ".join(str(orig).split())
    text = said.lower()
    where = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}"
    # psycopg's connection failures carry no SQLSTATE: the server's words then decide
    denied = "password authentication failed" in text or (
        "role " in text and "does not exist" in text
    )
    if code in _DENIED_MYSQL or state in _DENIED_PG_STATES or denied:
        message = (
            f"The registry database server {where} refused user {url.username or ''!r}: "
            "wrong password, or no access to the database "
            f"{url.database!r} ({display_url(url)}); check the user and password in the "
            f"registry URI. The server said: {said}"
        )
        return FederateError(scrub(message, url), PERMISSION_DENIED)
    missing = f'database "{(url.database or "").lower()}" does not exist' in text
    if code in _NO_DATABASE_MYSQL or state in _NO_DATABASE_PG_STATES or missing:
        message = (
            f"The registry database {url.database!r} does not exist on {where} "
            f"({display_url(url)}); create it (CREATE DATABASE {url.database}) or fix the "
            f"database name in the registry URI. The server said: {said}"
        )
        return FederateError(scrub(message, url), RESOURCE_DOES_NOT_EXIST)
    if "connection refused" in text:
        message = (
            f"Cannot reach the registry database {display_url(url)}: connection refused "
            f"(nothing listens on {where}; is the server running, and are host and port right?)"
        )
        return FederateError(scrub(message, url), TEMPORARILY_UNAVAILABLE)
    return unavailable(err, url)


def unavailable(err: BaseException, url: URL, what: str = "Cannot reach") -> FederateError:
    """The TEMPORARILY_UNAVAILABLE error for a connection failure, password-free."""
    reason = getattr(err, "orig", None) or err
    detail = " ".join(str(reason).split()) or type(reason).__name__
    return FederateError(
        scrub(f"{what} the registry database {display_url(url)}: {detail}", url),
        TEMPORARILY_UNAVAILABLE,
    )


def connect_with_retry(
    engine: Engine, retries: int | None = None, **execution_options: Any
) -> Connection:
    """The first connection to ``engine``, retried with exponential backoff while the
    database does not answer (it may still be starting); bad credentials fail at once."""
    if retries is None:
        retries = settings_from_env().connect_retries
    attempt = 0
    while True:
        try:
            return engine.connect().execution_options(**execution_options)
        except ssl.SSLError as err:  # raised by the driver before SQLAlchemy sees it
            raise FederateError(
                f"Cannot set up TLS to the registry database {display_url(engine.url)}: {err}; "
                f"check {', '.join(MYSQL_SSL.values())} (PEM files)",
                INVALID_PARAMETER_VALUE,
            ) from None
        except DBAPIError as err:
            if attempt >= retries or _is_permanent(err):
                raise connection_error(err, engine.url) from None
            delay = min(RETRY_BASE_S * 2**attempt, RETRY_MAX_S)
            attempt += 1
            logger.warning(
                "registry database %s did not answer (%s); retry %d of %d in %.2f s",
                display_url(engine.url),
                type(err.orig).__name__,
                attempt,
                retries,
                delay,
            )
            time.sleep(delay)


# -- SQLite ----------------------------------------------------------------------------


def _sqlite_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def sqlite_regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite calls ``regexp(pattern, value)`` for ``value REGEXP pattern``: Python's
    ``re.search``, like MySQL's and PostgreSQL's (``~``) unanchored match."""
    if pattern is None or value is None:
        return None
    return _compiled(pattern).search(value) is not None


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # let SQLAlchemy's begin event below issue BEGIN, so writers take the lock up front
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()
        dbapi_conn.create_function(SQLITE_LOWER, 1, _sqlite_lower, deterministic=True)
        dbapi_conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers start with BEGIN IMMEDIATE: taking the write lock late (after a read)
        # fails at once with SQLITE_BUSY in WAL mode instead of waiting its turn.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
