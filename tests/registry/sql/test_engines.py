"""Engines from the environment: pool settings, echo, retries, MySQL TLS, SQLite functions."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import pytest
import sqlalchemy as sa

from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.registry.sql import db, engines
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error
from federate.testing.tls import self_signed

SECRET = "s3cr3t-pw"
CLOSED_PORT_URLS = [
    f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x",
    f"mysql+pymysql://u:{SECRET}@127.0.0.1:1/x",
]
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/mysql"


@pytest.fixture(autouse=True)
def _no_cached_engines():
    db.dispose_engines()
    yield
    db.dispose_engines()


def _server_answers(url: str) -> bool:
    try:
        with sa.create_engine(url, connect_args={"connect_timeout": 2}).connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False


@pytest.mark.parametrize(
    ("var", "value", "accepted"),
    [
        (engines.POOL_SIZE, "many", ">= 0"),
        (engines.POOL_SIZE, "-1", ">= 0"),
        (engines.MAX_OVERFLOW, "-2", ">= -1"),
        (engines.POOL_RECYCLE, "1.5", ">= -1"),
        (engines.POOLCLASS, "FastPool", "QueuePool, NullPool"),
        (engines.ECHO, "loud", "true"),
        (engines.CONNECT_RETRIES, "-1", ">= 0"),
        (engines.CONNECT_TIMEOUT, "0", ">= 1"),
        (engines.SQLITE_BUSY_TIMEOUT, "soon", ">= 0"),
    ],
)
def test_invalid_setting_names_the_variable_and_what_is_accepted(
    monkeypatch, tmp_path, var, value, accepted
):
    monkeypatch.setenv(var, value)
    with raises_federate_error(INVALID_PARAMETER_VALUE, var, repr(value), accepted):
        db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")


def test_pool_settings_reach_the_pool(monkeypatch, tmp_path):
    monkeypatch.setenv(engines.POOL_SIZE, "3")
    monkeypatch.setenv(engines.MAX_OVERFLOW, "1")
    monkeypatch.setenv(engines.POOL_RECYCLE, "60")
    engine = db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    assert isinstance(engine.pool, sa.pool.QueuePool)
    assert engine.pool.size() == 3
    assert engine.pool._max_overflow == 1
    assert engine.pool._recycle == 60


def test_null_pool_closes_connections_and_refuses_a_pool_size(monkeypatch, tmp_path):
    monkeypatch.setenv(engines.POOLCLASS, "NullPool")
    engine = db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    assert isinstance(engine.pool, sa.pool.NullPool)
    db.dispose_engines()
    monkeypatch.setenv(engines.POOL_SIZE, "5")
    with raises_federate_error(INVALID_PARAMETER_VALUE, engines.POOL_SIZE, "QueuePool"):
        db.engine_for(f"sqlite:///{tmp_path / 'other.db'}")


def test_echo_logs_the_sql(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(engines.ECHO, "true")
    engine = db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), engine.connect() as conn:
        conn.exec_driver_sql("SELECT 42 AS answer")
    assert any("SELECT 42 AS answer" in r.getMessage() for r in caplog.records)


def test_one_engine_per_url_even_when_threads_race(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    found: list[sa.Engine] = []
    barrier = threading.Barrier(8)

    def open_engine() -> None:
        barrier.wait()
        found.append(db.engine_for(url))

    threads = [threading.Thread(target=open_engine) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len({id(e) for e in found}) == 1


@pytest.mark.parametrize("url", CLOSED_PORT_URLS, ids=["postgresql", "mysql"])
def test_unreachable_database_is_retried_with_backoff_then_fails_without_password(
    monkeypatch, caplog, url
):
    monkeypatch.setenv(engines.CONNECT_RETRIES, "3")
    start = time.monotonic()
    caplog.set_level(logging.WARNING, logger=engines.__name__)
    with pytest.raises(FederateError) as exc:
        db.engine_for(url)
    elapsed = time.monotonic() - start
    assert exc.value.error_code == TEMPORARILY_UNAVAILABLE
    assert "Cannot reach" in str(exc.value) and "127.0.0.1:1" in str(exc.value)
    assert SECRET not in str(exc.value) and SECRET not in repr(exc.value)
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert [m.split("retry ")[1].split(" in")[0] for m in retries] == ["1 of 3", "2 of 3", "3 of 3"]
    assert 0.25 + 0.5 + 1.0 <= elapsed < 10
    assert SECRET not in caplog.text


def test_default_retries_fail_a_wrong_url_within_seconds():
    start = time.monotonic()
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "***"):
        db.engine_for(CLOSED_PORT_URLS[0])
    assert time.monotonic() - start < 5


def test_wrong_password_fails_at_once_and_never_shows_the_password(caplog):
    if not _server_answers(MARIADB):
        pytest.skip("MariaDB is not running on 127.0.0.1:3306")
    url = f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/mysql"
    start = time.monotonic()
    with raises_federate_error(
        PERMISSION_DENIED, "refused user 'root'", "Access denied", "root:***@"
    ):
        db.engine_for(url)
    assert time.monotonic() - start < 2  # a refused login is not retried
    assert SECRET not in caplog.text


def test_mysql_ssl_settings_reach_the_driver(monkeypatch, tmp_path):
    if not _server_answers(MARIADB):
        pytest.skip("MariaDB is not running on 127.0.0.1:3306")
    with sa.create_engine(MARIADB).connect() as conn:
        if conn.exec_driver_sql("SHOW VARIABLES LIKE 'have_ssl'").one()[1] == "YES":
            pytest.skip("this MariaDB speaks TLS; the test needs one that does not")
    ca, _key = self_signed(tmp_path)
    monkeypatch.setenv("FEDERATE_MYSQL_SSL_CA", str(ca))
    # the driver insists on TLS, which this server cannot give: proof the option arrived
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "SSL is required"):
        db.engine_for(MARIADB)
    db.dispose_engines()
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "TLS", "FEDERATE_MYSQL_SSL_CA"):
        db.engine_for(MARIADB)


def test_mysql_ssl_file_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDERATE_MYSQL_SSL_KEY", str(tmp_path / "missing.pem"))
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_MYSQL_SSL_KEY", "missing.pem"):
        db.engine_for(MARIADB)


def test_sqlite_connections_have_foreign_keys_wal_busy_timeout_and_regexp(monkeypatch, tmp_path):
    monkeypatch.setenv(engines.SQLITE_BUSY_TIMEOUT, "2.5")
    engine = db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
        matches = conn.exec_driver_sql(
            "SELECT 'model-v12' REGEXP 'v[0-9]+$', 'model' REGEXP '^x', NULL REGEXP 'a', "
            "'Ünï' REGEXP '^ü'"
        ).one()
    assert tuple(matches) == (1, 0, None, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _late_proxy(port: int, upstream: tuple[str, int], delay: float, stop: threading.Event):
    """After ``delay`` seconds, listen on ``port`` and forward connections to ``upstream``:
    a database that is still starting when federate first tries it."""
    time.sleep(delay)
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            backend = socket.create_connection(upstream)
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def test_database_that_comes_up_during_the_retries_is_used(monkeypatch, caplog):
    if not _server_answers(MARIADB):
        pytest.skip("MariaDB is not running on 127.0.0.1:3306")
    port, stop = _free_port(), threading.Event()
    proxy = threading.Thread(target=_late_proxy, args=(port, ("127.0.0.1", 3306), 0.6, stop))
    proxy.start()
    try:
        monkeypatch.setenv(engines.CONNECT_RETRIES, "4")  # 0.25 + 0.5 + 1 + 2 s at most
        caplog.set_level(logging.WARNING, logger=engines.__name__)
        engine = engines.create_engine(f"mysql+pymysql://root@127.0.0.1:{port}/mysql")
        with engines.connect_with_retry(engine) as conn:
            assert conn.exec_driver_sql("SELECT 41 + 1").scalar() == 42
        engine.dispose()
        assert "retry 1 of 4" in caplog.text  # it was down at first
    finally:
        stop.set()
        proxy.join(5)


IN_MEMORY = ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true"]
NO_DATABASE = [
    ("postgresql://", "postgresql://user@host[:port]/DATABASE"),
    ("postgresql+psycopg://127.0.0.1/", "postgresql+psycopg://user@host[:port]/DATABASE"),
    ("mysql+pymysql://root@127.0.0.1/", "mysql+pymysql://user@host[:port]/DATABASE"),
]


@pytest.mark.parametrize("url", IN_MEMORY)
def test_an_in_memory_sqlite_registry_is_refused(url):
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "in-memory SQLite database", "sqlite:////absolute/path"
    ):
        db.engine_for(url)


def test_a_sqlite_uri_with_two_slashes_names_the_three_slash_form():
    with raises_federate_error(INVALID_PARAMETER_VALUE, "three slashes: sqlite:///reg.db"):
        db.engine_for("sqlite://reg.db")


@pytest.mark.parametrize(("url", "form"), NO_DATABASE)
def test_a_server_url_without_a_database_name_is_refused(url, form):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "names no database", form):
        db.engine_for(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "postgresql://"])
def test_register_on_a_url_that_would_lose_it_fails_in_one_line(tmp_path, federate_home, url):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("x")
    res = run_federate("--registry-uri", url, "register", str(tmp_path / "model"), "iris")
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "[INVALID_PARAMETER_VALUE]" in res.stderr
    assert res.stderr.startswith("federate: error: The registry URI ")
