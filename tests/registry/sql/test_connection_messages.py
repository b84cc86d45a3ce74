"""A registry database refusing the user, lacking the database: errors that say so,
produced for real on each server, through the command line."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from federate.cli import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_SQLALCHEMY_CONNECT_RETRIES", "0")


def _server(database_uri: str):  # type: ignore[no-untyped-def]
    url = make_url(database_uri)
    if url.get_backend_name() == "sqlite":
        pytest.skip("a server database's failure")
    return url


def test_refused_credentials_are_permission_denied_naming_user_and_host(
    database_uri, federate_home, no_retries
):
    url = _server(database_uri)
    user = f"fed_x_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_uri, poolclass=sa.pool.NullPool)
    if url.get_backend_name() == "mysql":  # a real user with a password; we send another
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'right-pw'")
        wrong = url.set(username=user, password="wrong-pw")
    else:  # PostgreSQL here trusts 127.0.0.1: a role that does not exist is refused
        wrong = url.set(username=user, password="wrong-pw")
    try:
        res = run("--registry-uri", wrong.render_as_string(hide_password=False), "models", "list")
    finally:
        if url.get_backend_name() == "mysql":
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
        admin.dispose()
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert res.stderr.rstrip().endswith("[PERMISSION_DENIED]")
    assert f"refused user '{user}'" in res.stderr
    assert f"server {url.host}:{url.port}" in res.stderr
    assert "wrong-pw" not in res.stderr and "TEMPORARILY_UNAVAILABLE" not in res.stderr


def test_a_missing_database_is_named(database_uri, federate_home, no_retries):
    url = _server(database_uri)
    name = f"federate_nope_{uuid.uuid4().hex[:8]}"
    missing = url.set(database=name).render_as_string(hide_password=False)
    for args in (("models", "list"), ("db", "current", missing)):
        res = run("--registry-uri", missing, *args) if args[0] == "models" else run(*args)
        assert res.exit_code == 1, res.output
        assert res.stderr.rstrip().endswith("[RESOURCE_DOES_NOT_EXIST]")
        assert f"The registry database '{name}' does not exist on {url.host}" in res.stderr
