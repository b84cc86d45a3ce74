"""The databases a registry test suite runs against, for federate's tests and plugins'.

:func:`database_params` lists SQLite (always: a new file per test), PostgreSQL and
MariaDB/MySQL on 127.0.0.1 (when they answer a short connect probe; otherwise the
parameter is skipped, saying why). ``FEDERATE_TEST_DB_URIS`` (comma separated SQLAlchemy
URLs; ``sqlite`` alone means "a fresh file per test") replaces the list, and then a
database that does not answer fails its tests instead of skipping them (CI sets it, so a
database that is down cannot pass unnoticed). The database a server URL names is only
the door in: each run creates a database of its own on that server
(``federate_test_<pid>_<random>``), works there, and drops it when the run ends, so a test
never touches tables it did not create and concurrent runs on one server (two checkouts,
CI beside a developer) cannot wipe each other's. :func:`fresh_database_uri` hands a test
an empty database: the run's database is wiped (every federate table and
``alembic_version`` dropped), so federate re-creates the schema through its migrations.

Use it from a conftest, which makes the fixtures and the clean-up hook its own::

    from federate.testing.databases import database, database_uri, pytest_sessionfinish

(and ``registry``, an empty SqlRegistry on each database, where a suite wants one).
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from federate.config import RegistryConfig
from federate.registry.sql.db import dispose_engines, prepare
from federate.registry.sql.models import Base
from federate.registry.sql.store import SqlRegistry
from federate.transfer.staging import pid_alive

ENV_VAR = "FEDERATE_TEST_DB_URIS"
FRESH_SQLITE = "sqlite"
PROBE_TIMEOUT_S = 2

#: Default server candidates per test id; the first one that answers is used.
DEFAULT_SERVERS = {
    "postgresql": [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://root@127.0.0.1:5432/test",
    ],
    "mysql": ["mysql+pymysql://root@127.0.0.1:3306/test"],
}
START_HINTS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mysql": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}
FEDERATE_TABLES = frozenset(Base.metadata.tables) | {"alembic_version"}


@dataclass(frozen=True)
class Database:
    """One database the tests run against; ``uri`` None means a fresh SQLite file."""

    id: str
    uri: str | None
    unreachable: str | None = None  # why a database named in FEDERATE_TEST_DB_URIS is absent


def _test_id(uri: str) -> str:
    backend = make_url(uri).get_backend_name()
    return "mysql" if backend == "mariadb" else backend


def _probe(uri: str) -> str | None:
    """None if ``uri`` answers ``SELECT 1``, else why not (password-free)."""
    connect_args = {} if uri.startswith("sqlite") else {"connect_timeout": PROBE_TIMEOUT_S}
    try:
        engine = sa.create_engine(uri, poolclass=sa.pool.NullPool, connect_args=connect_args)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except Exception as err:  # any driver or network failure means "not available"
        reason = getattr(err, "orig", None) or err
        return f"{type(reason).__name__}: {str(reason).strip().splitlines()[0]}"
    return None


@functools.cache
def database_params() -> list[Any]:
    """One ``pytest.param`` of :class:`Database` per database, with ids sqlite, postgresql,
    mysql (a database that is not reachable is skipped, or failed if named explicitly)."""
    override = os.environ.get(ENV_VAR, "").strip()
    wanted: list[tuple[str | None, list[str]]]
    if override:
        wanted = [(None, [u.strip()]) for u in override.split(",") if u.strip()]
    else:
        wanted = [(None, [FRESH_SQLITE])] + list(DEFAULT_SERVERS.items())
    params = []
    for test_id, candidates in wanted:
        if candidates == [FRESH_SQLITE] or candidates == ["sqlite://"]:
            params.append(pytest.param(Database("sqlite", None), id="sqlite"))
            continue
        test_id = test_id or _test_id(candidates[0])
        failures = []
        for uri in candidates:
            why = _probe(uri)
            if why is None:
                params.append(pytest.param(Database(test_id, uri), id=test_id))
                break
            failures.append(f"{make_url(uri).render_as_string(hide_password=True)}: {why}")
        else:
            hint = START_HINTS.get(test_id)
            reason = f"{test_id} is not reachable ({'; '.join(failures)})"
            if hint:
                reason += f"; start it with: {hint}"
            if override:  # asked for by name: its absence is a failure
                params.append(pytest.param(Database(test_id, None, unreachable=reason), id=test_id))
                continue
            params.append(
                pytest.param(
                    Database(test_id, None), id=test_id, marks=pytest.mark.skip(reason=reason)
                )
            )
    return params


_admin_engines: dict[str, sa.Engine] = {}
_reflected: dict[str, sa.MetaData] = {}


def _admin_engine(uri: str) -> sa.Engine:
    engine = _admin_engines.get(uri)
    if engine is None:
        engine = _admin_engines[uri] = sa.create_engine(uri)
    return engine


def drop_federate_tables(uri: str) -> None:
    """Drop every federate table and alembic_version at ``uri``.

    The tables are reflected once per database and run: every test leaves the schema
    federate's migrations created, so the reflected MetaData stays valid, and
    ``drop_all`` checks which of its tables exist before dropping them.
    """
    engine = _admin_engine(uri)
    metadata = _reflected.get(uri)
    if metadata is None:
        metadata = sa.MetaData()
        metadata.reflect(engine, only=lambda name, _meta: name in FEDERATE_TABLES)
        if set(metadata.tables) == FEDERATE_TABLES:
            _reflected[uri] = metadata
    metadata.drop_all(engine)


def reset_database(uri: str) -> None:
    """An empty database at ``uri``; federate forgets its engines, so the next registry
    re-checks the schema and creates it through its migrations."""
    dispose_engines()  # no pooled federate connection may hold a lock on the tables
    drop_federate_tables(uri)
    dispose_engines()


#: server URL given -> URL of the database this run created there
_run_databases: dict[str, str] = {}
RUN_DATABASE_PREFIX = "federate_test_"


def _quoted(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote_identifier(name)


def run_database_uri(server_uri: str) -> str:
    """The URL of a database this run created on ``server_uri``'s server (created on first
    use; :func:`drop_run_databases` drops it). Databases an earlier run on this machine
    left behind (its process is gone: killed before it could clean up) are dropped first."""
    uri = _run_databases.get(server_uri)
    if uri is not None:
        return uri
    name = f"{RUN_DATABASE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    door = sa.create_engine(server_uri, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with door.connect() as conn:
            _drop_orphans(conn)
            conn.exec_driver_sql(f"CREATE DATABASE {_quoted(door, name)}")
    finally:
        door.dispose()
    uri = make_url(server_uri).set(database=name).render_as_string(hide_password=False)
    _run_databases[server_uri] = uri
    return uri


def _drop_orphans(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        listed = "SELECT datname FROM pg_database"
    else:
        listed = "SHOW DATABASES"
    for (name,) in conn.exec_driver_sql(listed).fetchall():
        if not name.startswith(RUN_DATABASE_PREFIX):
            continue
        pid = name[len(RUN_DATABASE_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(Exception):
                _drop(conn, name)


def _drop(conn: sa.Connection, name: str) -> None:
    quoted = conn.dialect.identifier_preparer.quote_identifier(name)
    if conn.dialect.name == "postgresql":  # connections a test leaked must not keep it
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    else:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")


def drop_run_databases() -> None:
    """Drop the databases this run created (idempotent; ``pytest_sessionfinish``)."""
    dispose_engines()
    for engine in _admin_engines.values():
        engine.dispose()
    _admin_engines.clear()
    _reflected.clear()
    for server_uri in list(_run_databases):
        run_uri = _run_databases.pop(server_uri)
        door = sa.create_engine(
            server_uri, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            with door.connect() as conn:
                _drop(conn, str(make_url(run_uri).database))
        finally:
            door.dispose()


def fresh_database_uri(database: Database, tmp_path: Path) -> str:
    """The URL of an empty database on ``database`` (failing the test if it is down): a
    new SQLite file, or the run's own database on a server, wiped."""
    if database.unreachable:
        pytest.fail(database.unreachable, pytrace=False)
    if database.uri is None:
        return f"sqlite:///{tmp_path / 'registry.db'}"
    uri = run_database_uri(database.uri)
    reset_database(uri)
    return uri


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the databases the run created on the servers."""
    drop_run_databases()


@pytest.fixture(params=database_params())
def database(request: pytest.FixtureRequest) -> Database:
    """Each database of :func:`database_params` in turn (ids sqlite, postgresql, mysql)."""
    return request.param


@pytest.fixture
def database_uri(database: Database, tmp_path: Path) -> Iterator[str]:
    """An empty database on ``database`` (no schema yet); engines are forgotten after."""
    dispose_engines()
    yield fresh_database_uri(database, tmp_path)
    dispose_engines()


@pytest.fixture
def registry(database_uri: str, tmp_path: Path) -> Iterator[SqlRegistry]:
    """An empty SqlRegistry on each database in turn, at the current schema head."""
    config = RegistryConfig(uri=database_uri, artifact_root=str(tmp_path / "artifacts"))
    prepare(database_uri, create=True)  # a new SQLite file is otherwise made by a first write
    yield SqlRegistry(config)
    dispose_engines()
