"""``federate db``: look at and migrate a registry database's schema."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner

import federate
from federate.cli import cli
from federate.registry.sql.db import SCHEMA_HEAD


def test_current_check_upgrade_on_an_empty_database(tmp_path, federate_home):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sqlite3.connect(tmp_path / "r.db").close()  # an empty file: a database with no tables
    run = CliRunner().invoke
    assert run(cli, ["db", "current", url]).stdout == "none\n"
    res = run(cli, ["db", "check", url])
    assert res.exit_code == 1 and f"expects {SCHEMA_HEAD}" in res.stderr
    assert run(cli, ["db", "upgrade", url]).stdout == f"upgraded from none to {SCHEMA_HEAD}\n"
    assert run(cli, ["db", "check", url]).exit_code == 0
    assert run(cli, ["db", "current", url]).stdout == f"{SCHEMA_HEAD} (head)\n"
    assert run(cli, ["db", "upgrade", url]).stdout == f"already at {SCHEMA_HEAD}\n"
    federate.get_registry(url).create_registered_model("works")


def test_unreachable_database_is_one_line_without_password(federate_home):
    res = CliRunner().invoke(
        cli, ["db", "current", "postgresql+psycopg://u:hunter2@127.0.0.1:1/x?connect_timeout=2"]
    )
    assert res.exit_code == 1
    assert "[TEMPORARILY_UNAVAILABLE]" in res.stderr and "hunter2" not in res.stderr


def test_upgrade_refuses_a_database_from_a_newer_release(tmp_path, federate_home):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run = CliRunner().invoke
    assert run(cli, ["db", "upgrade", url]).exit_code == 0
    with sqlite3.connect(tmp_path / "r.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    res = run(cli, ["db", "upgrade", url])
    assert res.exit_code == 1
    assert "revision 0099, which this federate does not know" in res.stderr
    assert f"stops at {SCHEMA_HEAD}" in res.stderr and "Traceback" not in res.stderr
    assert run(cli, ["db", "current", url]).stdout == "0099\n"  # untouched


def test_current_and_check_refuse_a_sqlite_file_that_does_not_exist(tmp_path, federate_home):
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for command in ("current", "check"):
        res = CliRunner().invoke(cli, ["db", command, url])
        assert res.exit_code == 1 and res.stderr.count("\n") == 1
        assert f"No registry database at {tmp_path / 'typo.db'}" in res.stderr
        assert "[RESOURCE_DOES_NOT_EXIST]" in res.stderr
    assert not (tmp_path / "typo.db").exists()
