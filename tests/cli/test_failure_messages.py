"""Errors that say what happened, produced for real through the command line: refused
credentials, a missing database, nothing listening, a FEDERATE_HOME that cannot hold the
default registry, a database of another application (MLflow's)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federate.cli import cli
from federate.registry.sql.db import SCHEMA_HEAD

#: MLflow 3.18.0's head revision (mlflow/store/db_migrations/versions/f4a9b2c7d1e6_...)
MLFLOW_HEAD = "f4a9b2c7d1e6"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_SQLALCHEMY_CONNECT_RETRIES", "0")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_nothing_listening_says_connection_refused(scheme, federate_home, no_retries):
    uri = f"{scheme}://u:pw@127.0.0.1:{closed_port()}/db"
    res = run("--registry-uri", uri, "models", "list")
    assert res.exit_code == 1
    assert "connection refused" in res.stderr and "[TEMPORARILY_UNAVAILABLE]" in res.stderr


def test_http_connection_refused_is_said_in_words(federate_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "1")
    url = f"http://127.0.0.1:{closed_port()}/model/"
    res = run("download", url, str(tmp_path / "d"))
    assert res.exit_code == 1
    assert "failed: connection refused" in res.stderr and "MaxRetryError" not in res.stderr


def test_a_federate_home_that_cannot_hold_the_registry_names_the_variable(
    tmp_path, federate_home, monkeypatch
):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FEDERATE_HOME", str(tmp_path / "a-file" / "home"))
    for args in (("models", "list"), ("models", "create", "m")):
        res = run(*args)
        assert res.exit_code == 1 and res.stderr.count("\n") == 1
        assert "embedded default registry under FEDERATE_HOME" in res.stderr
        assert str(tmp_path / "a-file" / "home") in res.stderr


def _mlflow_like(path: Path) -> str:
    """A SQLite database as MLflow leaves it: its tables and its Alembic head."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, experiment_id INTEGER)")
        conn.execute("CREATE TABLE registered_models (name TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (MLFLOW_HEAD,))
    return f"sqlite:///{path}"


def test_an_mlflow_database_is_not_taken_for_a_newer_federate(tmp_path, federate_home):
    uri = _mlflow_like(tmp_path / "mlflow.db")
    for args in (("--registry-uri", uri, "models", "list"), ("db", "upgrade", uri)):
        res = run(*args)
        assert res.exit_code == 1, res.output
        assert "is an MLflow tracking database" in res.stderr
        assert "mlflow server --backend-store-uri" in res.stderr
        assert "newer federate" not in res.stderr
    assert run("db", "current", uri).stdout == f"{MLFLOW_HEAD}\n"  # untouched


def test_another_applications_revision_is_not_a_federate_registry(tmp_path, federate_home):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
    for args in (("--registry-uri", f"sqlite:///{path}", "models", "list"),):
        res = run(*args)
        assert res.exit_code == 1
        assert "is not a federate registry: its Alembic revision ae1027a6acf" in res.stderr
    # a newer federate's revision is still called that
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    res = run("--registry-uri", f"sqlite:///{path}", "models", "list")
    assert "a newer federate created it" in res.stderr and f"stops at {SCHEMA_HEAD}" in res.stderr
