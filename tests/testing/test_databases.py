"""The test kit's databases: a run works in databases it created, never in the one named."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from federate.testing import databases
from federate.testing.databases import Database, database_params, fresh_database_uri


def _servers() -> list[Database]:
    return [
        p.values[0]
        for p in database_params()
        if p.values[0].uri is not None and not p.marks and not p.values[0].unreachable
    ]


def _database_names(server_uri: str) -> set[str]:
    engine = sa.create_engine(server_uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = conn.exec_driver_sql("SELECT datname FROM pg_database")
            else:
                rows = conn.exec_driver_sql("SHOW DATABASES")
            return {name for (name,) in rows}
    finally:
        engine.dispose()


def test_a_server_test_gets_a_database_of_its_own_run_dropped_at_the_end(tmp_path):
    servers = _servers()
    if not servers:
        import pytest

        pytest.skip("no PostgreSQL or MariaDB answers on 127.0.0.1")
    saved = dict(databases._run_databases)
    databases._run_databases.clear()  # this test's run databases, not the session's
    try:
        made = {}
        for server in servers:
            uri = fresh_database_uri(server, tmp_path)
            name = make_url(uri).database
            assert name != make_url(server.uri).database
            assert name.startswith(databases.RUN_DATABASE_PREFIX)
            assert name in _database_names(server.uri)
            made[server.uri] = name
        databases.drop_run_databases()
        for server_uri, name in made.items():
            assert name not in _database_names(server_uri)
    finally:
        databases._run_databases.update(saved)
