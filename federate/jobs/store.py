"""The job store: jobs in the SQL registry's database, changed only by compare-and-set.

Every transition is one conditional UPDATE whose WHERE clause names the status the job
must be in, and, for a job that is running, the lease token of the claim that runs it.
The UPDATE's row count says whether it won: two workers can never both claim, finish or
fail one job, and a worker whose lease ran out (its job requeued and claimed by another)
changes nothing. Methods that act for a worker take the :class:`Job` its claim returned
and answer True if the change was made, False if the job is no longer theirs.

Jobs live where the registry lives (the usual ``--registry-uri`` / ``FEDERATE_REGISTRY_URI``
/ federate.toml chain), so every host that reaches that database shares one queue: the
database is the coordination engine, with no broker to run.
"""

from __future__ import annotations

import functools
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    redact_urls,
)
from federate.jobs.backoff import Backoff
from federate.jobs.claims import claim_next
from federate.jobs.entities import (
    CANCELED,
    FAILED,
    FINISHED,
    PENDING,
    RETRYABLE,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TIMEOUT,
    Job,
    JobProgress,
)
from federate.jobs.table import jobs
from federate.registry.sql.db import SessionFactory, engine_for, ensure_schema, prepare
from federate.registry.sql.engines import create_engine
from federate.registry.sql.queries import affected

#: deadlock detected, serialization failure (PostgreSQL); deadlock, lock wait timeout (MySQL)
_ROLLED_BACK_PG = {"40P01", "40001"}
_ROLLED_BACK_MYSQL = {1213, 1205}
#: attempts of a transaction the database keeps rolling back
_ATTEMPTS = 8
T = TypeVar("T")

#: longest error message kept with a job
MAX_ERROR_CHARS = 8000
_NAME_CHARS = 256
_OWNER_CHARS = 40  # the lease token adds "/" and 12 hex digits: 53 of the column's 64


def now_ms() -> int:
    return int(time.time() * 1000)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _error_text(error: str | BaseException) -> str:
    text = error if isinstance(error, str) else (str(error) or type(error).__name__)
    return redact_urls(text)[:MAX_ERROR_CHARS]


def _to_job(row: Any) -> Job:
    return Job(
        id=row.id,
        name=row.name,
        params=json.loads(row.params),
        status=row.status,
        timeout=None if row.timeout_ms is None else row.timeout_ms / 1000,
        max_retries=row.max_retries,
        retry_count=row.retry_count,
        not_before=row.not_before,
        creation_time=row.creation_time,
        last_updated_time=row.last_updated_time,
        started_time=row.started_time,
        lease_owner=row.lease_owner,
        lease_expires=row.lease_expires,
        result=row.result,
        error=row.error,
        progress=JobProgress(row.bytes_done, row.bytes_total, row.files_done, row.files_total),
    )


def _rolled_back(err: BaseException | None) -> bool:
    """Whether ``err`` is a deadlock or lock wait the database rolled back (so nothing of
    the transaction was written)."""
    orig = getattr(err, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) in _ROLLED_BACK_PG:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _ROLLED_BACK_MYSQL:
        return True
    return str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_BUSY")


def _check_statuses(statuses: Iterable[str]) -> list[str]:
    wanted = [s.upper() for s in statuses]
    for status in wanted:
        if status not in STATUSES:
            raise FederateError(
                f"Unknown job status {status!r}; use one of {', '.join(STATUSES)}",
                INVALID_PARAMETER_VALUE,
            )
    return wanted


class JobStore:
    """The jobs of one registry database.

    ``own_engine`` gives this store an engine of its own instead of the process-wide one
    (a worker pool in one process, each worker with its own connections; tests)."""

    def __init__(
        self, url: str, *, own_engine: bool = False, backoff: Backoff | None = None
    ) -> None:
        self.url = url
        self.backoff = backoff or Backoff.from_env()
        self.engine: Engine
        if own_engine:
            self.engine = create_engine(url)
            ensure_schema(self.engine)
            self.session = SessionFactory(self.engine)
        else:
            self.engine = engine_for(url, create=False)
            self.session = SessionFactory(self.engine, functools.partial(prepare, url))

    def _transaction(self, work: Callable[[Connection], T], create: bool = False) -> T:
        """``work`` in one transaction, run again (after a short random pause) when the
        database rolled it back to break a deadlock or a lock wait: InnoDB does that to
        queue-shaped traffic (claims and finishes touch the same index entries). Only
        those errors are retried: after a lost connection a write may have committed."""
        for attempt in range(_ATTEMPTS):
            try:
                with self.session.write(create) as conn:
                    return work(conn)
            except FederateError as err:
                if attempt + 1 >= _ATTEMPTS or not _rolled_back(err.__cause__):
                    raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    def _execute(self, statement: Any) -> int:
        """Run one UPDATE or DELETE in a transaction of its own; the rows it matched."""
        return self._transaction(lambda conn: affected(conn.execute(statement)))

    def close(self) -> None:
        """Close the connections of a store with ``own_engine``."""
        if self.session._prepare is None:
            self.engine.dispose()

    # -- creating and reading --------------------------------------------------------------

    def create(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        max_retries: int = 0,
    ) -> Job:
        """A new PENDING job: ``name`` says what to run, ``params`` (JSON-serialisable) with
        what; ``timeout`` seconds from its start (None: none), ``max_retries`` attempts
        after the first."""
        if not isinstance(name, str) or not name.strip() or len(name) > _NAME_CHARS:
            raise FederateError(
                f"A job name must be 1-{_NAME_CHARS} characters, got {name!r}",
                INVALID_PARAMETER_VALUE,
            )
        try:
            encoded = json.dumps(dict(params or {}), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise FederateError(
                f"Job params must be a JSON object of strings, numbers, booleans, lists and "
                f"objects: {err}",
                INVALID_PARAMETER_VALUE,
            ) from None
        if timeout is not None and not (timeout > 0):
            raise FederateError(
                f"A job timeout must be a number of seconds above 0 (or none), got {timeout!r}",
                INVALID_PARAMETER_VALUE,
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise FederateError(
                f"max_retries must be an integer >= 0, got {max_retries!r}",
                INVALID_PARAMETER_VALUE,
            )
        now = now_ms()
        row = {
            "id": uuid.uuid4().hex,
            "name": name,
            "params": encoded,
            "status": PENDING,
            "timeout_ms": None if timeout is None else _ms(timeout),
            "max_retries": max_retries,
            "retry_count": 0,
            "not_before": now,
            "lease_owner": None,
            "lease_expires": None,
            "started_time": None,
            "result": None,
            "error": None,
            "bytes_done": 0,
            "bytes_total": 0,
            "files_done": 0,
            "files_total": 0,
            "creation_time": now,
            "last_updated_time": now,
        }
        self._transaction(lambda conn: conn.execute(insert(jobs), row), create=True)
        return _to_job(SimpleNamespace(**row))

    def get(self, job_id: str) -> Job:
        """The job ``job_id``; RESOURCE_DOES_NOT_EXIST if there is none."""
        with self.session.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == str(job_id))).first()
        if row is None:
            raise FederateError(f"No job {job_id!r}", RESOURCE_DOES_NOT_EXIST)
        return _to_job(row)

    def list_jobs(
        self,
        name: str | None = None,
        statuses: Sequence[str] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[Job]:
        """Jobs newest first: of ``name``, in one of ``statuses``, created in
        [``since``, ``until``) (ms since the epoch), whose params hold every key/value of
        ``params``; at most ``limit``."""
        query = select(jobs).order_by(jobs.c.creation_time.desc(), jobs.c.id.desc())
        if name is not None:
            query = query.where(jobs.c.name == name)
        if statuses:
            query = query.where(jobs.c.status.in_(_check_statuses(statuses)))
        if since is not None:
            query = query.where(jobs.c.creation_time >= since)
        if until is not None:
            query = query.where(jobs.c.creation_time < until)
        found = []
        with self.session.read() as conn:
            # the params filter runs here, so read on until ``limit`` jobs matched
            for row in conn.execute(query.execution_options(yield_per=500)):
                job = _to_job(row)
                if params and any(job.params.get(k, _MISSING) != v for k, v in params.items()):
                    continue
                found.append(job)
                if len(found) >= limit:
                    break
        return found

    def delete_finished(self, older_than: float, statuses: Sequence[str] = FINISHED) -> int:
        """Delete jobs in ``statuses`` (finished ones by default; never a running one) not
        changed for ``older_than`` seconds; the number deleted."""
        wanted = [s for s in _check_statuses(statuses) if s in FINISHED]
        cutoff = now_ms() - _ms(older_than)
        res = self._execute(
            delete(jobs).where(jobs.c.status.in_(wanted), jobs.c.last_updated_time < cutoff)
        )
        return res

    # -- a worker's transitions ------------------------------------------------------------

    def claim(
        self, owner: str, lease_seconds: float, names: Sequence[str] | None = None
    ) -> Job | None:
        """Take the oldest due PENDING job (of ``names``, if given) for ``owner`` for
        ``lease_seconds``: it is RUNNING under a new lease token until the lease runs out
        unless renewed. None if nothing is due."""
        token = f"{owner[:_OWNER_CHARS]}/{uuid.uuid4().hex[:12]}"
        now = now_ms()
        values = {
            "status": RUNNING,
            "lease_owner": token,
            "lease_expires": now + _ms(lease_seconds),
            "started_time": now,
            "last_updated_time": now,
            "error": None,
        }

        def take(conn: Connection) -> Any:
            if not claim_next(conn, now, names, values):
                return None
            return conn.execute(select(jobs).where(jobs.c.lease_owner == token)).one()

        row = self._transaction(take)
        return None if row is None else _to_job(row)

    def _held(self, job: Job) -> tuple[Any, ...]:
        owner = jobs.c.lease_owner == job.lease_owner
        return (jobs.c.id == job.id, jobs.c.status == RUNNING, owner)

    def _change_held(self, job: Job, **values: Any) -> bool:
        values.setdefault("last_updated_time", now_ms())
        return self._execute(update(jobs).where(*self._held(job)).values(**values)) == 1

    def renew_lease(self, job: Job, lease_seconds: float) -> bool:
        """Extend the lease of a job this claim still holds."""
        return self._change_held(job, lease_expires=now_ms() + _ms(lease_seconds))

    def report_progress(self, job: Job, progress: JobProgress) -> bool:
        return self._change_held(
            job,
            bytes_done=progress.bytes_done,
            bytes_total=progress.bytes_total,
            files_done=progress.files_done,
            files_total=progress.files_total,
        )

    def _end(self, job: Job, status: str, **values: Any) -> bool:
        return self._change_held(job, status=status, lease_owner=None, lease_expires=None, **values)

    def finish(self, job: Job, result: str | None = None) -> bool:
        """RUNNING -> SUCCEEDED, keeping ``result``."""
        return self._end(job, SUCCEEDED, result=result)

    def fail(self, job: Job, error: str | BaseException) -> bool:
        """RUNNING -> FAILED at once, whatever retries are left."""
        return self._end(job, FAILED, error=_error_text(error))

    def mark_timed_out(self, job: Job, error: str | None = None) -> bool:
        """RUNNING -> TIMEOUT."""
        limit = "its timeout" if job.timeout is None else f"its timeout of {job.timeout:g} s"
        text = error or f"The job ran longer than {limit}"
        return self._end(job, TIMEOUT, error=_error_text(text))

    def release(self, job: Job) -> bool:
        """RUNNING -> PENDING, due now, no retry spent: a worker stopping (SIGTERM)."""
        return self._end(job, PENDING, not_before=now_ms())

    def retry_or_fail(self, job: Job, error: str | BaseException) -> str | None:
        """After a failed attempt: back to PENDING after a backoff while retries are left
        (counting this one), else FAILED. The job's new status, or None if the job is
        no longer this claim's."""
        text = _error_text(error)
        if job.retry_count < job.max_retries:
            delay = self.backoff.delay(job.retry_count)
            res = self._execute(
                update(jobs)
                .where(
                    *self._held(job),
                    jobs.c.retry_count == job.retry_count,
                    jobs.c.retry_count < jobs.c.max_retries,
                )
                .values(
                    status=PENDING,
                    retry_count=jobs.c.retry_count + 1,
                    not_before=now_ms() + _ms(delay),
                    lease_owner=None,
                    lease_expires=None,
                    error=text,
                    last_updated_time=now_ms(),
                )
            )
            if res == 1:
                return PENDING
        return FAILED if self._end(job, FAILED, error=text) else None

    # -- anyone's transitions ---------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """PENDING or RUNNING -> CANCELED at once. A running job's worker notices at its
        next lease renewal (its lease is gone) and stops. A finished job is refused."""
        res = self._execute(
            update(jobs)
            .where(jobs.c.id == str(job_id), jobs.c.status.in_((PENDING, RUNNING)))
            .values(
                status=CANCELED,
                lease_owner=None,
                lease_expires=None,
                error=None,
                last_updated_time=now_ms(),
            )
        )
        job = self.get(job_id)
        if res == 0:
            raise FederateError(
                f"Job {job_id} is {job.status}; only a PENDING or RUNNING job can be canceled",
                INVALID_PARAMETER_VALUE,
            )
        return job

    def retry(self, job_id: str) -> Job:
        """FAILED, TIMEOUT or CANCELED -> PENDING, due now, with its retry budget renewed."""
        res = self._execute(
            update(jobs)
            .where(jobs.c.id == str(job_id), jobs.c.status.in_(RETRYABLE))
            .values(
                status=PENDING,
                retry_count=0,
                not_before=now_ms(),
                error=None,
                result=None,
                last_updated_time=now_ms(),
            )
        )
        job = self.get(job_id)
        if res == 0:
            raise FederateError(
                f"Job {job_id} is {job.status}; only a FAILED, TIMEOUT or CANCELED job can be "
                "retried",
                INVALID_PARAMETER_VALUE,
            )
        return job

    def requeue_expired(self) -> int:
        """RUNNING jobs whose lease ran out (their worker died or lost the database) ->
        PENDING, due now; the number requeued. A lost lease spends no retry: the job did
        not fail, its worker went away."""
        now = now_ms()
        res = self._execute(
            update(jobs)
            .where(jobs.c.status == RUNNING, jobs.c.lease_expires < now)
            .values(
                status=PENDING,
                lease_owner=None,
                lease_expires=None,
                not_before=now,
                last_updated_time=now,
            )
        )
        return res


_MISSING = object()
