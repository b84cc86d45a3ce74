"""Managed sessions: what a failed transaction tells the caller, on every database."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    TEMPORARILY_UNAVAILABLE,
)
from federate.registry.sql import queries as q
from federate.registry.sql.sessions import SessionFactory
from federate.testing.errors import raises_federate_error

SECRET = "pw-n0t-f0r-messages"


def _model_row(name: str) -> dict:
    return dict(name=name, kind="model", creation_time=1, last_updated_time=1, next_version=1)


@pytest.fixture
def session(registry):
    return SessionFactory(registry.engine)


def test_unique_violation_is_already_exists_and_rolls_back(session, registry):
    registry.create_registered_model("taken")
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "already holds"), session() as s:
        s.execute(sa.insert(q.rm).values(_model_row("other")))
        s.execute(sa.insert(q.rm).values(_model_row("taken")))
    with registry.engine.connect() as conn:  # the first insert was rolled back too
        names = conn.execute(sa.select(q.rm.c.name)).scalars().all()
    assert names == ["taken"]


def test_foreign_key_violation_is_invalid_parameter(session):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "invalid value"), session() as s:
        s.execute(
            sa.insert(q.mv).values(
                registered_model_id=424242,
                version=1,
                creation_time=1,
                last_updated_time=1,
                current_stage="None",
                status="READY",
            )
        )


def test_not_null_violation_is_invalid_parameter(session):
    row = _model_row("m")
    row["creation_time"] = None
    with raises_federate_error(INVALID_PARAMETER_VALUE, "invalid value"), session() as s:
        s.execute(sa.insert(q.rm).values(row))


def test_value_too_long_is_invalid_parameter(session, database):
    if database.id == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "invalid value"), session() as s:
        s.execute(sa.insert(q.rm).values(_model_row("x" * 300)))


def test_programming_error_is_internal_error(session):
    with raises_federate_error(INTERNAL_ERROR, "Registry database error"), session() as s:
        s.execute(sa.text("SELECT no_such_column FROM registered_models"))


def _hold_model_lock(engine: sa.Engine, started: threading.Event, release: threading.Event):
    with engine.begin() as conn:
        conn.execute(sa.update(q.rm).values(last_updated_time=2))
        started.set()
        release.wait(30)


def _short_lock_timeout(database, monkeypatch) -> str | None:
    """Make lock waits end in well under a second on each database."""
    if database.id == "sqlite":
        monkeypatch.setenv("FEDERATE_SQLITE_BUSY_TIMEOUT", "0.2")
        return None
    if database.id == "postgresql":
        return "SET lock_timeout = '200ms'"
    return "SET SESSION innodb_lock_wait_timeout = 1"


def test_lock_wait_timeout_is_temporarily_unavailable(registry, database, monkeypatch, tmp_path):
    from federate.registry.sql import db

    registry.create_registered_model("m")
    statement = _short_lock_timeout(database, monkeypatch)
    db.dispose_engines()  # pick up the SQLite busy timeout
    engine = db.engine_for(str(registry.engine.url.render_as_string(hide_password=False)))
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_model_lock, args=(engine, started, release))
    holder.start()
    try:
        assert started.wait(10)
        with (
            raises_federate_error(TEMPORARILY_UNAVAILABLE, "try again"),
            SessionFactory(engine)() as s,
        ):
            if statement:
                s.execute(sa.text(statement))
            s.execute(sa.update(q.rm).values(last_updated_time=3))
    finally:
        release.set()
        holder.join()


def test_lost_connection_is_temporarily_unavailable(session, database, registry):
    if database.id == "sqlite":
        pytest.skip("a SQLite connection cannot be lost")
    who = "SELECT pg_backend_pid()" if database.id == "postgresql" else "SELECT CONNECTION_ID()"
    kill = "SELECT pg_terminate_backend({})" if database.id == "postgresql" else "KILL {}"
    admin = sa.create_engine(registry.engine.url, poolclass=sa.pool.NullPool)
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "try again"), session() as s:
        pid = s.execute(sa.text(who)).scalar()
        with admin.connect() as conn:
            conn.exec_driver_sql(kill.format(int(pid)))
        s.execute(sa.select(q.rm.c.id))
    admin.dispose()
    registry.create_registered_model("after")  # the pool recovers on its own


def test_password_never_appears_in_session_errors(database, tmp_path):
    if database.id != "postgresql":
        pytest.skip("needs a server that accepts any password (PostgreSQL with trust auth)")
    from federate.registry.sql import db
    from federate.testing.databases import fresh_database_uri

    uri = make_url(fresh_database_uri(database, tmp_path)).set(password=SECRET)
    engine = db.engine_for(uri.render_as_string(hide_password=False))
    factory = SessionFactory(engine)
    for statement in ("SELECT no_such_column FROM registered_models", "SELECT 1/0"):
        try:
            with factory() as s:
                s.execute(sa.text(statement))
        except Exception as err:
            assert SECRET not in str(err) and SECRET not in repr(err)
        else:
            pytest.fail(f"{statement} did not fail")
    db.dispose_engines()


def test_deadlock_is_temporarily_unavailable_and_the_other_writer_commits(registry, database):
    if database.id == "sqlite":
        pytest.skip("SQLite writers take the one write lock up front: no deadlock possible")
    registry.create_registered_model("a")
    registry.create_registered_model("b")
    factory = SessionFactory(registry.engine)
    both_locked_one = threading.Barrier(2, timeout=10)
    outcomes: dict[str, object] = {}

    def writer(first: str, second: str) -> None:
        try:
            with factory() as s:
                if database.id == "postgresql":
                    s.execute(sa.text("SET LOCAL deadlock_timeout = '100ms'"))
                s.execute(sa.update(q.rm).where(q.rm.c.name == first).values(description=first))
                both_locked_one.wait()
                s.execute(sa.update(q.rm).where(q.rm.c.name == second).values(description=first))
            outcomes[first] = "committed"
        except Exception as err:
            outcomes[first] = err

    threads = [threading.Thread(target=writer, args=p) for p in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    failed = [o for o in outcomes.values() if o != "committed"]
    assert len(failed) == 1 and len(outcomes) == 2, outcomes
    err = failed[0]
    assert getattr(err, "error_code", None) == TEMPORARILY_UNAVAILABLE, repr(err)
    assert "deadlock" in str(err).lower()
    winner = next(k for k, v in outcomes.items() if v == "committed")
    assert registry.get_registered_model("a").description == winner
    assert registry.get_registered_model("b").description == winner
