"""What a job is: its status, its progress, and the job itself as callers see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMEOUT = "TIMEOUT"
CANCELED = "CANCELED"

#: every status, in the order a job usually goes through them
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, TIMEOUT, CANCELED)
#: statuses a job leaves only through ``retry`` (or never: SUCCEEDED)
FINISHED = (SUCCEEDED, FAILED, TIMEOUT, CANCELED)
#: statuses ``retry`` puts back to PENDING
RETRYABLE = (FAILED, TIMEOUT, CANCELED)


@dataclass(frozen=True)
class JobProgress:
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0


@dataclass(frozen=True)
class Job:
    """One job. Times are milliseconds since the epoch; ``timeout`` is in seconds.

    ``lease_owner`` is the token of the claim that runs it (a RUNNING job), until
    ``lease_expires``: every change a worker makes to its job names that token, so a
    worker whose lease ran out (and whose job another worker took) changes nothing.

    ``federate jobs ls|show --json`` print these fields through
    :func:`federate.serialize.to_json` (``progress`` as an object of its four counts).
    """

    id: str
    name: str
    params: dict[str, Any]
    status: str
    timeout: float | None
    max_retries: int
    retry_count: int
    not_before: int
    creation_time: int
    last_updated_time: int
    started_time: int | None = None
    lease_owner: str | None = None
    lease_expires: int | None = None
    result: str | None = None
    error: str | None = None
    progress: JobProgress = field(default_factory=JobProgress)
