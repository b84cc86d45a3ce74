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

    def to_json(self) -> dict[str, Any]:
        """The job as ``federate jobs show --json`` prints it."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "params": self.params,
            "error": self.error,
            "result": self.result,
            "progress": {
                "bytes_done": self.progress.bytes_done,
                "bytes_total": self.progress.bytes_total,
                "files_done": self.progress.files_done,
                "files_total": self.progress.files_total,
            },
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
            "started_time": self.started_time,
            "lease_owner": self.lease_owner,
            "lease_expires": self.lease_expires,
        }
