"""First use of a database: created once at head, refused at another revision.

(One head and models == migrations, on every database: tests/db/test_migrations.py.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from federate.errors import FederateError
from federate.registry.sql import db


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
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")
    db.dispose_engines()
    with pytest.raises(FederateError) as exc:
        db.engine_for(url)
    message = str(exc.value)
    assert "ffff" in message and "federate db upgrade" in message and "backup" in message


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
