"""First use of a database: created once at head, refused at another revision.

(One head and models == migrations, on every database: tests/db/test_migrations.py.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from federate.config import RegistryConfig
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.sql import db
from federate.registry.sql.store import SqlRegistry
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error


def test_concurrent_first_use_creates_the_schema_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = (
        "import sys; from federate.registry.sql import db; "
        "e = db.engine_for(sys.argv[1]); "
        "print(e.connect().exec_driver_sql('select version_num from alembic_version').scalar())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _out, err in results]
    assert {out.strip() for out, _err in results} == {db.SCHEMA_HEAD}


def test_database_at_another_revision_is_refused_with_instructions(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    db.upgrade(engine, "head")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    db.dispose_engines()
    with pytest.raises(FederateError) as exc:
        db.engine_for(url)
    message = str(exc.value)
    assert "0001" in message and "federate db upgrade" in message and "backup" in message


def test_foreign_tables_without_federate_schema_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE experiments (id INTEGER)")
    db.dispose_engines()
    with pytest.raises(FederateError) as exc:
        db.engine_for(url)
    assert "no federate schema version" in str(exc.value)


def test_unreachable_database_is_temporarily_unavailable_without_password():
    db.dispose_engines()
    with pytest.raises(FederateError) as exc:
        db.engine_for("postgresql+psycopg://u:s3cret@127.0.0.1:1/x?connect_timeout=2")
    assert exc.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert "s3cret" not in str(exc.value)


# -- a SQLite file that is not there -----------------------------------------------------


READ_COMMANDS = [
    ("resolve", "models:/iris/1"),
    ("download", "models:/iris@champion"),
    ("ls", "models:/iris/1"),
    ("models", "list"),
    ("models", "versions", "iris"),
    ("models", "alias", "iris", "champion", "--delete"),
    ("prompts", "list"),
    ("webhooks", "list"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_command_on_a_mistyped_sqlite_path_creates_nothing(tmp_path, federate_home, command):
    typo = tmp_path / "regsitry" / "registry.db"
    res = run_federate("--registry-uri", f"sqlite:///{typo}", *command, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert res.stderr == (
        f"federate: error: No registry database at {typo}; check the registry URI (or "
        "FEDERATE_HOME), or register a model to create it [RESOURCE_DOES_NOT_EXIST]\n"
    )
    assert not typo.parent.exists()


def test_reads_of_a_missing_sqlite_file_are_refused_and_the_first_create_makes_it(tmp_path):
    path = tmp_path / "new" / "registry.db"
    registry = SqlRegistry(RegistryConfig(f"sqlite:///{path}", str(tmp_path / "artifacts")))
    for read in (
        lambda: registry.get_registered_model("iris"),
        lambda: registry.search_registered_models(),
        lambda: registry.get_model_version_by_alias("iris", "champion"),
        lambda: registry.create_model_version("iris", "file:///x"),  # needs the model first
        lambda: registry.delete_registered_model("iris"),
    ):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"No registry database at {path}"):
            read()
        assert not path.parent.exists()
    registry.create_registered_model("iris")
    assert path.is_file()
    assert registry.create_model_version("iris", "file:///x").version == 1
    # another registry object (another command) on the same file now reads it
    db.dispose_engines()
    again = SqlRegistry(RegistryConfig(f"sqlite:///{path}", str(tmp_path / "artifacts")))
    assert again.get_model_version("iris", 1).source == "file:///x"


def test_a_webhook_or_prompt_creates_the_sqlite_file_too(tmp_path):
    for i, create in enumerate(
        (
            lambda r: r.register_prompt("p", "hello {{ name }}"),
            lambda r: r.create_webhook("h", "https://example.invalid/x", ["prompt.created"]),
        )
    ):
        path = tmp_path / f"r{i}.db"
        create(SqlRegistry(RegistryConfig(f"sqlite:///{path}", str(tmp_path))))
        assert path.is_file()
