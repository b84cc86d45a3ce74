"""Jobs: long work (copying a version between registries) queued in the registry's
database and run by workers on any host that reaches it.

:mod:`federate.jobs.store` keeps the queue, :mod:`federate.jobs.claims` hands each job
to one worker, :mod:`federate.jobs.worker` runs them, :mod:`federate.jobs.copy` is the
copy they run.
"""

from federate.jobs.entities import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TIMEOUT,
    Job,
    JobProgress,
)

__all__ = [
    "CANCELED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "TIMEOUT",
    "Job",
    "JobProgress",
]
