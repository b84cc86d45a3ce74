"""The job store on every database: each transition wins once, leases fence workers out."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.jobs.backoff import Backoff
from federate.jobs.claims import SINGLE_UPDATE, SKIP_LOCKED, claim_mode
from federate.jobs.entities import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TIMEOUT,
    JobProgress,
)
from federate.jobs.store import JobStore
from federate.jobs.table import jobs
from federate.serialize import to_json

FORK = multiprocessing.get_context("fork")
NO_WAIT = Backoff(base=0.0, cap=0.0)


@pytest.fixture
def store(database_uri: str) -> Any:
    s = JobStore(database_uri, own_engine=True, backoff=NO_WAIT)
    yield s
    s.close()


def _age(store: JobStore, job_id: str, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**values))


def test_create_get_and_json(store):
    job = store.create("copy", {"src": "models:/m/1", "n": 2}, timeout=30, max_retries=3)
    got = store.get(job.id)
    assert got == job
    assert (got.status, got.params, got.timeout, got.max_retries) == (
        PENDING,
        {"src": "models:/m/1", "n": 2},
        30.0,
        3,
    )
    as_json = to_json(got)
    assert isinstance(as_json["id"], str) and as_json["error"] is None
    assert as_json["progress"] == {
        "bytes_done": 0,
        "bytes_total": 0,
        "files_done": 0,
        "files_total": 0,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "A job name must be 1-256 characters"),
        ({"params": {"x": object()}}, "Job params must be a JSON object"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
    ],
)
def test_bad_job_is_refused(store, kwargs, message):
    args = {"name": "copy", "params": {}} | kwargs
    name = args.pop("name")
    with pytest.raises(FederateError) as err:
        store.create(name, **args)
    assert err.value.error_code == INVALID_PARAMETER_VALUE
    assert message in err.value.message


def test_unknown_job(store):
    with pytest.raises(FederateError) as err:
        store.get("nope")
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST and "'nope'" in err.value.message


def test_claim_takes_oldest_due_job_once(store):
    first = store.create("copy", {"i": 1})
    second = store.create("copy", {"i": 2})
    _age(store, first.id, creation_time=first.creation_time - 10)
    later = store.create("copy", {"i": 3})
    _age(store, later.id, not_before=later.not_before + 3_600_000)  # not due for an hour
    a = store.claim("w1", 60)
    b = store.claim("w2", 60)
    assert (a.id, b.id) == (first.id, second.id)
    assert a.status == RUNNING and a.lease_owner.startswith("w1/")
    assert store.claim("w3", 60) is None  # the third is not due


def test_claim_only_names_given(store):
    store.create("mirror", {})
    assert store.claim("w", 60, names=["copy"]) is None
    assert store.claim("w", 60, names=["mirror"]).name == "mirror"


def test_transitions_need_the_lease(store):
    store.create("copy", {})
    job = store.claim("w1", 60)
    assert store.report_progress(job, JobProgress(5, 10, 1, 2))
    assert store.get(job.id).progress == JobProgress(5, 10, 1, 2)
    assert store.renew_lease(job, 60)
    # the lease runs out, the job is requeued and another worker takes it
    _age(store, job.id, lease_expires=1)
    assert store.requeue_expired() == 1
    other = store.claim("w2", 60)
    assert other.id == job.id
    # the first worker is fenced out of every change
    assert not store.renew_lease(job, 60)
    assert not store.report_progress(job, JobProgress(1, 1, 1, 1))
    assert not store.finish(job)
    assert not store.fail(job, "x")
    assert not store.mark_timed_out(job)
    assert not store.release(job)
    assert store.retry_or_fail(job, "x") is None
    assert store.finish(other, "done")
    assert not store.finish(other)  # once
    got = store.get(job.id)
    assert (got.status, got.result, got.lease_owner) == (SUCCEEDED, "done", None)


def test_an_expired_lease_requeues_without_spending_a_retry(store):
    """Even a job whose retry budget is spent (or that has none) goes back to PENDING
    when its worker vanishes: it did not fail."""
    for max_retries in (0, 2):
        job = store.create("copy", {"n": max_retries}, max_retries=max_retries)
        _age(store, job.id, retry_count=max_retries)
        claimed = store.claim("w1", 60)
        assert claimed.id == job.id
        _age(store, job.id, lease_expires=1)
        assert store.requeue_expired() == 1
        back = store.get(job.id)
        assert (back.status, back.retry_count, back.lease_owner) == (PENDING, max_retries, None)
        again = store.claim("w2", 60)
        assert again.id == job.id and again.retry_count == max_retries
        assert store.finish(again)


def test_requeue_leaves_live_leases_alone(store):
    store.create("copy", {})
    job = store.claim("w", 60)
    assert store.requeue_expired() == 0
    assert store.get(job.id).status == RUNNING


def test_retry_or_fail_spends_the_budget_with_backoff(database_uri):
    store = JobStore(database_uri, own_engine=True, backoff=Backoff(base=100.0, cap=250.0))
    try:
        store.create("copy", {}, max_retries=2)
        delays = []
        for _ in range(2):
            job = store.claim("w", 60)
            before = int(time.time() * 1000)
            assert store.retry_or_fail(job, "boom") == PENDING
            got = store.get(job.id)
            delays.append(round((got.not_before - before) / 1000, -1))
            assert got.error == "boom" and store.claim("w", 60) is None  # waiting
            _age(store, job.id, not_before=0)
        assert delays == [100.0, 200.0]
        job = store.claim("w", 60)
        assert job.retry_count == 2
        assert store.retry_or_fail(job, "boom again") == FAILED
        got = store.get(job.id)
        assert (got.status, got.error, got.retry_count) == (FAILED, "boom again", 2)
    finally:
        store.close()


def test_backoff_is_capped():
    assert [Backoff(1, 5).delay(n) for n in (0, 1, 2, 3, 100)] == [1, 2, 4, 5, 5]


def test_fail_timeout_cancel_and_retry(store):
    a, b, c = (store.create("copy", {"i": i}) for i in range(3))
    for i, job in enumerate((a, b, c)):
        _age(store, job.id, creation_time=1000 + i)
    ja = store.claim("w", 60)
    assert store.fail(ja, "s3://b/k?X-Amz-Signature=secret gone")
    failed = store.get(ja.id)
    assert failed.status == FAILED and "secret" not in failed.error and "s3://b/k" in failed.error
    jb = store.claim("w", 60)
    assert store.mark_timed_out(jb)
    assert store.get(jb.id).status == TIMEOUT and "timeout" in store.get(jb.id).error
    canceled = store.cancel(c.id)  # a pending job
    assert (canceled.status, canceled.error) == (CANCELED, None)
    assert store.claim("w", 60) is None
    with pytest.raises(FederateError) as err:
        store.cancel(a.id)
    assert err.value.error_code == INVALID_PARAMETER_VALUE
    assert f"Job {a.id} is FAILED; only a PENDING or RUNNING job" in err.value.message
    for job in (a, b, c):
        again = store.retry(job.id)
        assert (again.status, again.error, again.retry_count) == (PENDING, None, 0)
    with pytest.raises(FederateError) as err:
        store.retry(a.id)
    assert "is PENDING; only a FAILED, TIMEOUT or CANCELED job" in err.value.message


def test_cancel_a_running_job_takes_its_lease(store):
    store.create("copy", {})
    job = store.claim("w", 60)
    assert store.cancel(job.id).status == CANCELED
    assert not store.renew_lease(job, 60)  # how its worker learns to stop
    assert not store.finish(job)
    assert store.get(job.id).status == CANCELED


def test_release_puts_the_job_back_without_spending_a_retry(store):
    store.create("copy", {}, max_retries=0)
    job = store.claim("w", 60)
    assert store.release(job)
    again = store.claim("w", 60)
    assert again.id == job.id and again.retry_count == 0


def test_list_filters_and_delete_finished(store):
    a = store.create("copy", {"src": "models:/a/1", "to": "x"})
    b = store.create("copy", {"src": "models:/b/1", "to": "x"})
    m = store.create("mirror", {"src": "models:/a/1"})
    _age(store, a.id, creation_time=1000)
    _age(store, b.id, creation_time=2000)
    _age(store, m.id, creation_time=3000)
    assert [j.id for j in store.list_jobs()] == [m.id, b.id, a.id]  # newest first
    assert [j.id for j in store.list_jobs(name="copy")] == [b.id, a.id]
    assert [j.id for j in store.list_jobs(params={"src": "models:/a/1"})] == [m.id, a.id]
    assert [j.id for j in store.list_jobs(since=1500, until=3000)] == [b.id]
    assert [j.id for j in store.list_jobs(limit=1)] == [m.id]
    store.cancel(b.id)
    assert [j.id for j in store.list_jobs(statuses=["canceled"])] == [b.id]
    with pytest.raises(FederateError) as err:
        store.list_jobs(statuses=["DONE"])
    assert "Unknown job status 'DONE'" in err.value.message
    _age(store, b.id, last_updated_time=1)
    assert store.delete_finished(older_than=60) == 1
    assert {j.id for j in store.list_jobs()} == {a.id, m.id}


def test_claim_mode_per_dialect(store):
    with store.engine.connect() as conn:
        mode = claim_mode(conn)
    expected = SINGLE_UPDATE if store.engine.dialect.name == "sqlite" else SKIP_LOCKED
    assert mode == expected


# -- many workers ---------------------------------------------------------------------------

WORKERS = 8
JOBS = 100


def _race(uri: str, start: Any, out: Any) -> None:
    """One worker process with its own engine: claim and finish until nothing is left."""
    try:
        store = JobStore(uri, own_engine=True)
        start.wait(60)
        ran = []
        while True:
            job = store.claim("racer", 60)
            if job is None:
                break
            ran.append(job.id)
            if not store.finish(job, "ok"):
                ran.append(f"lost {job.id}")
        store.close()
        out.send(ran)
    except BaseException as err:
        out.send(f"{type(err).__name__}: {err}")


def test_eight_workers_race_for_a_hundred_jobs(store, database_uri):
    created = {store.create("copy", {"i": i}).id for i in range(JOBS)}
    start = FORK.Barrier(WORKERS)
    pipes, procs = [], []
    for _ in range(WORKERS):
        receive, send = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=_race, args=(database_uri, start, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    results = []
    for receive, proc in zip(pipes, procs, strict=True):
        assert receive.poll(300), "a worker did not answer"
        results.append(receive.recv())
        proc.join(30)
    failures = [r for r in results if isinstance(r, str)]
    assert failures == []
    ran = Counter(job_id for r in results for job_id in r)
    assert set(ran) == created  # every job ran, and nothing was lost
    assert max(ran.values()) == 1  # and each exactly once
    assert all(j.status == SUCCEEDED for j in store.list_jobs())


def test_threads_with_their_own_engines_race_too(store, database_uri):
    created = {store.create("copy", {"i": i}).id for i in range(40)}
    ran: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            mine = JobStore(database_uri, own_engine=True)
            while (job := mine.claim("thread", 60)) is not None:
                ran.append(job.id)
                assert mine.finish(job)
            mine.close()
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    assert sorted(ran) == sorted(created)
