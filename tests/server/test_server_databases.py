"""federate serve on every database of the test kit (SQLite, PostgreSQL, MySQL): the
catalog tables of migration 0004, names with LIKE wildcards, renames, and a version
registered through uc: and read back through the SQL registry directly."""

from __future__ import annotations

from pathlib import Path

import pytest

import federate
from federate.testing.databases import (  # noqa: F401  (fixtures for this module)
    database,
    database_uri,
    registry,
)
from federate.testing.server import running_server

pytest.importorskip("uvicorn")


def test_served_on_each_database(registry, federate_home, tmp_path):  # noqa: F811
    with running_server(registry) as s:
        assert s.call("GET", "/healthz") == (200, {"status": "ok"})
        for catalog in ("main", "ma_n", "m%n"):  # _ and % must not match as wildcards
            assert s.call("POST", "catalogs", {"name": catalog})[0] == 200
            assert s.call("POST", "schemas", {"name": "ml", "catalog_name": catalog})[0] == 200
        assert s.call("POST", "catalogs", {"name": "MAIN"})[0] == 200  # case-sensitive
        s.call("POST", "models", {"name": "m", "catalog_name": "ma_n", "schema_name": "ml"})
        s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
        _, listed = s.call("GET", "models?catalog_name=ma_n&schema_name=ml")
        assert [m["full_name"] for m in listed["registered_models"]] == ["ma_n.ml.m"]
        _, listed = s.call("GET", "models?catalog_name=m%25n")
        assert listed == {"registered_models": []}
        src = tmp_path / "src"
        src.mkdir()
        (src / "weights.bin").write_bytes(b"\x00\x01" * 50_000)
        mv = federate.register(src, "main.ml.m", registry_uri=s.uc_uri)
        out = federate.download(
            f"models:/main.ml.m/{mv.version}", tmp_path / "out", registry_uri=registry.uri
        )
        assert (Path(out) / "weights.bin").read_bytes() == (src / "weights.bin").read_bytes()
        assert s.call("DELETE", "catalogs/ma_n?force=true") == (200, {})
        assert s.call("GET", "models/ma_n.ml.m")[0] == 404
        assert s.call("GET", "models/main.ml.m")[0] == 200
        # a rename moves the catalog's models (and only them: _ is not a wildcard)
        s.call("POST", "models", {"name": "m", "catalog_name": "m%n", "schema_name": "ml"})
        assert s.call("PATCH", "catalogs/main", {"new_name": "prod"})[0] == 200
        assert s.call("PATCH", "schemas/prod.ml", {"new_name": "fraud"})[0] == 200
        _, moved = s.call("GET", f"models/prod.fraud.m/versions/{mv.version}")
        assert (moved["catalog_name"], moved["schema_name"]) == ("prod", "fraud")
        assert s.call("GET", "models/m%25n.ml.m")[0] == 200


def _session_mark(uri: str) -> object:
    """What tells this database's sessions opened from now on from older ones (the test
    kit's, which must live on): PostgreSQL's clock, MySQL's ever-growing connection ids."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                return conn.exec_driver_sql("SELECT clock_timestamp()").scalar()
            return conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
    finally:
        engine.dispose()


def _end_sessions_since(uri: str, mark: object) -> int:
    """End every session of this database opened after ``mark``, as a server restart
    ends them; how many."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                return len(
                    conn.exec_driver_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_start > %(mark)s",
                        {"mark": mark},
                    ).all()
                )
            ids = conn.exec_driver_sql(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID() AND id > %(mark)s",
                {"mark": mark},
            ).all()
            for (session_id,) in ids:
                conn.exec_driver_sql(f"KILL {int(session_id)}")
            return len(ids)
    finally:
        engine.dispose()


def test_a_version_read_survives_the_database_dropping_its_connection(
    registry,  # noqa: F811
    database_uri,  # noqa: F811
    federate_home,
    tmp_path,
):
    """The served version read keeps a connection open between requests; one the server
    ended is replaced (once) and the request answered, not a 503."""
    if database_uri.startswith("sqlite"):
        pytest.skip("SQLite has no server to drop connections")
    registry.engine.dispose()  # its pooled connections are older than the mark: close them
    mark = _session_mark(database_uri)
    with running_server(registry) as s:
        s.seed(pending_versions=1)
        path = "models/main.ml.m/versions/1"
        assert s.call("GET", path)[1]["version"] == 1
        assert _end_sessions_since(database_uri, mark) >= 1
        status, answer = s.call("GET", path)
        assert (status, answer["version"]) == (200, 1)
        status, error = s.call("GET", "models/main.ml.m/versions/7")
        assert (status, error["error_code"]) == (404, "NOT_FOUND")
