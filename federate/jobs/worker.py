"""A worker: claims jobs from the store and runs them until told to stop.

A worker runs ``concurrency`` jobs at once (``federate worker --concurrency N``, 1 by
default): that many slots, each a thread that claims a job, runs it, and claims the
next; every job keeps a lease of its own. Each job runs on a thread of its own while
its slot watches it: every third of
``FEDERATE_JOBS_LEASE_SECONDS`` (60, at least 1) it renews the lease, and it stops the job
when the lease cannot be renewed (the job was canceled, or its lease ran out and another
worker took it), when the job's timeout passes (TIMEOUT), or when the worker is asked
to stop (SIGTERM: every running job goes back to PENDING, the worker returns within 30 s). A job
is stopped at its next progress report; one that does not report in time is left to its
thread, which dies with the process. An idle worker looks for work every
``FEDERATE_JOBS_POLL_SECONDS`` (2) and requeues jobs whose lease ran out.

A failed job is retried with backoff while its retry budget lasts, except when its
input is wrong (the source does not exist, an invalid parameter): then it fails at once.
A job that ends (SUCCEEDED, FAILED, TIMEOUT) is announced to webhooks
(:mod:`federate.jobs.events`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from federate.envvars import env_float
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.jobs.entities import FAILED, Job, JobProgress
from federate.jobs.events import announce
from federate.jobs.store import JobStore

logger = logging.getLogger(__name__)

#: seconds a stopping worker waits for its job's thread before putting the job back
STOP_GRACE_S = 10.0
#: seconds between progress writes to the database
PROGRESS_EVERY_S = 1.0
#: error codes that no retry can fix
PERMANENT = (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE)


class JobStopped(BaseException):
    """Raised inside a job's progress report when the worker stops the job. Not an
    Exception, so that no retry loop of the transfer engine takes it for a failed read."""


Report = Callable[[JobProgress], None]
#: a runner gets the job, its progress report and the URL of the queue's registry (where
#: models:/ URIs without a profile are resolved, as for the command that queued it)
Runner = Callable[[Job, Report, str], "str | None"]


def lease_seconds() -> float:
    value: float = env_float(
        "FEDERATE_JOBS_LEASE_SECONDS", 60.0, 1.0, "seconds a claimed job stays a worker's"
    )
    return value


def poll_seconds() -> float:
    value: float = env_float(
        "FEDERATE_JOBS_POLL_SECONDS", 2.0, 0.0, "seconds between looks for work", above=True
    )
    return value


def run_copy(job: Job, report: Report, registry_uri: str) -> str:
    from federate.config import registry_config
    from federate.jobs.copy import copy_version

    # the configured registry: None, so its profile name goes in the lineage
    source_registry = None if registry_config().uri == registry_uri else registry_uri
    params = job.params
    src = params.get("src")
    to = params.get("to")
    if not isinstance(src, str) or not isinstance(to, str):
        raise FederateError(
            f"A copy job needs string params 'src' and 'to', got {params!r}",
            INVALID_PARAMETER_VALUE,
        )
    try:
        mv = copy_version(
            src,
            to,
            name=params.get("name"),
            alias=params.get("alias"),
            registry_uri=source_registry,
            progress=report,
        )
    except FederateError as err:
        if err.error_code in PERMANENT and src not in err.message:
            raise FederateError(f"{src}: {err.message}", err.error_code) from err
        raise
    return json.dumps({"name": mv.name, "version": mv.version, "location": mv.download_uri})


def run_mirror(job: Job, report: Report, registry_uri: str) -> str:
    """Warm this worker's host: fetch the versions the job names into its cache."""
    from federate.config import registry_config
    from federate.jobs.mirror import mirror_versions

    # the configured registry: None, so that its profile (and its settings) is used
    source_registry = None if registry_config().uri == registry_uri else registry_uri
    uris = job.params.get("uris")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise FederateError(
            f"A mirror job needs a param 'uris', a list of strings, got {job.params!r}",
            INVALID_PARAMETER_VALUE,
        )
    try:
        done = mirror_versions(uris, progress=report, registry_uri=source_registry)
    except FederateError as err:
        if err.error_code in PERMANENT and not any(u in err.message for u in uris):
            raise FederateError(f"{', '.join(uris)}: {err.message}", err.error_code) from err
        raise
    versions = [{"uri": m.uri, "name": m.name, "version": m.version} for m in done]
    return json.dumps({"host": socket.gethostname(), "versions": versions})


#: job name -> what runs it
RUNNERS: dict[str, Runner] = {"copy": run_copy, "mirror": run_mirror}


def default_owner() -> str:
    return f"{socket.gethostname()[:28]}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        store: JobStore,
        *,
        owner: str | None = None,
        lease: float | None = None,
        poll: float | None = None,
        runners: dict[str, Runner] | None = None,
        concurrency: int = 1,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise FederateError(
                f"A worker's concurrency must be an integer >= 1, got {concurrency!r}",
                INVALID_PARAMETER_VALUE,
            )
        self.store = store
        self.concurrency = concurrency
        self.owner = owner or default_owner()
        self.lease = lease if lease is not None else lease_seconds()
        self.poll = poll if poll is not None else poll_seconds()
        self.runners = runners or RUNNERS
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Ask the worker to stop: its running jobs go back to PENDING (safe from a
        signal handler)."""
        self.stopping.set()

    def run(self, *, once: bool = False) -> int:
        """Claim and run jobs, ``concurrency`` at a time, until :meth:`stop` (or, with
        ``once``, until none is due); the number of jobs run."""
        if self.concurrency == 1:
            return self._slot(once)
        counts: list[int] = []
        slots = [
            threading.Thread(
                target=lambda: counts.append(self._slot(once)), name=f"slot-{n}", daemon=True
            )
            for n in range(self.concurrency)
        ]
        for slot in slots:
            slot.start()
        for slot in slots:
            # joined in steps, so that the main thread still runs signal handlers
            while slot.is_alive():
                slot.join(0.2)
        return sum(counts)

    def _slot(self, once: bool) -> int:
        """One slot: claim a job, run it, again, until stopped; the number of jobs run."""
        done = 0
        while not self.stopping.is_set():
            try:
                self.store.requeue_expired()
                job = self.store.claim(self.owner, self.lease, names=list(self.runners))
            except FederateError as err:  # the database is away: try again later
                logger.warning("federate jobs: %s", err.message)
                job = None
            if job is None:
                if once:
                    break
                self.stopping.wait(self.poll)
                continue
            self.run_job(job)
            done += 1
        return done

    def run_job(self, job: Job) -> None:
        abort = threading.Event()
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=self._execute, args=(job, abort, outcome), name=f"job-{job.id}", daemon=True
        )
        thread.start()
        every = self.lease / 3
        next_renewal = time.monotonic() + every
        deadline = None if job.timeout is None else time.monotonic() + job.timeout
        while thread.is_alive():
            thread.join(min(0.2, every))
            if not thread.is_alive():
                break
            now = time.monotonic()
            if self.stopping.is_set():
                abort.set()
                thread.join(STOP_GRACE_S)
                self.store.release(job)
                return
            if deadline is not None and now >= deadline:
                abort.set()
                if self.store.mark_timed_out(job):
                    announce(self.store, job.id)
                thread.join(STOP_GRACE_S)
                return
            if now >= next_renewal:
                next_renewal = now + every
                if not self._renew(job):
                    abort.set()  # canceled, or no longer ours: stop touching it
                    thread.join(STOP_GRACE_S)
                    return
        error = outcome.get("error")
        if error is None:
            ended = self.store.finish(job, outcome.get("result"))
        elif isinstance(error, JobStopped):
            ended = False  # stopped by its own report after the job left this worker
        elif isinstance(error, FederateError) and error.error_code in PERMANENT:
            ended = self.store.fail(job, error.message)
        else:
            message = error.message if isinstance(error, FederateError) else str(error)
            ended = self.store.retry_or_fail(job, message or type(error).__name__) == FAILED
        if ended:
            announce(self.store, job.id)

    def _renew(self, job: Job) -> bool:
        try:
            return self.store.renew_lease(job, self.lease)
        except FederateError as err:  # keep going: the lease outlives a short outage
            logger.warning("federate jobs: cannot renew the lease of %s: %s", job.id, err.message)
            return True

    def _execute(self, job: Job, abort: threading.Event, outcome: dict[str, Any]) -> None:
        last = [0.0]
        written: list[JobProgress | None] = [None]

        def report(progress: JobProgress) -> None:
            if abort.is_set():
                raise JobStopped(job.id)
            if progress == written[0]:
                return  # a report that only gives the job a chance to stop
            now = time.monotonic()
            done = progress.files_total and progress.files_done == progress.files_total
            if now - last[0] >= PROGRESS_EVERY_S or done:
                last[0] = now
                written[0] = progress
                with contextlib.suppress(FederateError):  # progress is best effort
                    self.store.report_progress(job, progress)

        runner = self.runners[job.name]
        try:
            outcome["result"] = runner(job, report, self.store.url)
        except BaseException as err:  # reported through the store by the worker's thread
            outcome["error"] = err
