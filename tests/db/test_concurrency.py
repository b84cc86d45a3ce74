"""Many writers at once, in real processes: version numbers, aliases, a writer that dies."""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from federate.config import RegistryConfig
from federate.registry.sql import queries as q
from federate.registry.sql.models import MODEL
from federate.registry.sql.store import SqlRegistry

PROCESSES = 8
# Forked children start at once with federate already imported (the engine cache is
# dropped in the child at fork), so the tests spend their time writing, not importing.
FORK = multiprocessing.get_context("fork")


def _registry(uri: str) -> SqlRegistry:
    return SqlRegistry(RegistryConfig(uri=uri, artifact_root="/nonexistent"))


def _writer(uri: str, action: str, count: int, start: Any, out: Any) -> None:
    """One writer process: ``create`` COUNT versions of m, or move alias champion COUNT
    times; sends back the versions it got (or set), or the error it met."""
    try:
        registry = _registry(uri)
        start.wait(60)
        got = []
        rng = random.Random(os.getpid())
        for i in range(count):
            if action == "create":
                got.append(registry.create_model_version("m", source=f"s3://b/{i}").version)
            else:
                version = rng.randint(1, 8)
                registry.set_registered_model_alias("m", "champion", version)
                got.append(version)
        out.send(got)
    except BaseException as err:
        out.send(f"{type(err).__name__}: {err}")


def _holder(uri: str, out: Any) -> None:
    """Create a version of m and keep its transaction open until killed."""
    registry = _registry(uri)
    with registry.session() as s:
        mv = registry._insert_version(s, "m", MODEL, None, source="s3://b/never-committed")
        out.send(mv.version)
        time.sleep(600)


def _run_together(uri: str, action: str, count: int) -> list[list[int]]:
    """PROCESSES writers released at the same moment; what each one got."""
    start = FORK.Barrier(PROCESSES)
    pipes = [FORK.Pipe(duplex=False) for _ in range(PROCESSES)]
    procs = [
        FORK.Process(target=_writer, args=(uri, action, count, start, send)) for _, send in pipes
    ]
    for p in procs:
        p.start()
    try:
        results = [recv.recv() if recv.poll(120) else "no answer" for recv, _ in pipes]
    finally:
        for p in procs:
            p.join(10)
            p.kill()
    assert all(isinstance(r, list) for r in results), results
    return results


def _versions_in_database(uri: str) -> list[int]:
    with _registry(uri).engine.connect() as conn:
        return sorted(conn.execute(sa.select(q.mv.c.version)).scalars())


def test_concurrent_writers_get_every_version_number_once_without_gaps(database_uri):
    _registry(database_uri).create_registered_model("m")
    per_process = 6
    got = _run_together(database_uri, "create", per_process)
    numbers = sorted(v for versions in got for v in versions)
    total = PROCESSES * per_process
    assert numbers == list(range(1, total + 1))
    assert all(versions == sorted(versions) for versions in got)  # each writer saw them grow
    assert _versions_in_database(database_uri) == list(range(1, total + 1))


def test_concurrent_alias_moves_leave_exactly_one_target(database_uri):
    registry = _registry(database_uri)
    registry.create_registered_model("m")
    for i in range(8):
        registry.create_model_version("m", source=f"s3://b/{i}")
    got = _run_together(database_uri, "alias", 5)
    with registry.engine.connect() as conn:
        rows = conn.execute(
            sa.select(q.alias_t.c.alias, q.mv.c.version).join(
                q.mv, q.mv.c.id == q.alias_t.c.model_version_id
            )
        ).all()
    assert len(rows) == 1 and rows[0].alias == "champion"
    # the target is what some writer set last
    assert rows[0].version in {versions[-1] for versions in got}
    assert registry.get_model_version_by_alias("m", "champion").version == rows[0].version


def test_writer_killed_mid_transaction_loses_nothing_and_blocks_no_one(database_uri, database):
    registry = _registry(database_uri)
    registry.create_registered_model("m")
    for i in range(3):
        registry.create_model_version("m", source=f"s3://b/{i}")

    recv, send = FORK.Pipe(duplex=False)
    holder = FORK.Process(target=_holder, args=(database_uri, send))
    holder.start()
    assert recv.poll(30) and recv.recv() == 4  # inside its open transaction

    result: dict[str, object] = {}

    def next_writer() -> None:
        try:
            result["version"] = registry.create_model_version("m", source="s3://b/next").version
        except Exception as err:  # reported by the assertion below
            result["error"] = err
        result["done_at"] = time.monotonic()

    waiter = threading.Thread(target=next_writer)
    waiter.start()
    time.sleep(0.5)
    assert "done_at" not in result, f"the second writer did not wait for the lock: {result}"
    holder.kill()  # SIGKILL: no rollback, no goodbye to the server
    killed_at = time.monotonic()
    holder.join(10)
    waiter.join(30)
    assert not waiter.is_alive(), "the next writer is still blocked after its writer died"
    assert "error" not in result, result.get("error")
    assert float(result["done_at"]) - killed_at < 5  # type: ignore[arg-type]
    # the dead writer's version was never committed, so its number is handed out again
    assert result["version"] == 4
    assert _versions_in_database(database_uri) == [1, 2, 3, 4]
    sources = [registry.get_model_version("m", v).source for v in (1, 2, 3, 4)]
    assert sources == ["s3://b/0", "s3://b/1", "s3://b/2", "s3://b/next"]


@pytest.fixture(autouse=True)
def _dispose():
    yield
    from federate.registry.sql.db import dispose_engines

    dispose_engines()
