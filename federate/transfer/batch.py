"""Small files in batches, for stores that fetch many over one connection.

A tree of thousands of small files costs one request each, and a request handled one at
a time costs more CPU and waiting than the file's bytes. Stores that can do better (the
http repositories pipeline requests on a kept-alive connection) set
``ArtifactRepository.batches_downloads`` and implement ``download_many``; the engine then
runs a few *lanes*, each one ``download_many`` call fed lazily from one shared queue, so
a lane that is slower simply takes fewer files.

A lane that fails with a transient error fetches the files it had handed over one by one
(the batch counts as their first attempt: ``FEDERATE_MAX_ATTEMPTS`` stays the number of
tries a file gets) and starts a new batch for the rest; after
``max_attempts`` such failures it stops batching and fetches the rest one by one. Any
other error ends the download, as it would for a file fetched on its own.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Iterator

from federate.repos.base import ArtifactRepository
from federate.transfer.fetch import FileJob, Task
from federate.transfer.retry import Cancelled, backoff_delay, wait_or_cancel
from federate.transfer.settings import TransferSettings

#: a lane per this many files at least: a second connection for a handful is waste
FILES_PER_LANE = 32


class _Queue:
    def __init__(self, jobs: list[FileJob]) -> None:
        self._jobs = deque(jobs)
        self._lock = threading.Lock()

    def take(self) -> FileJob | None:
        with self._lock:
            return self._jobs.popleft() if self._jobs else None


def lane_tasks(
    repo: ArtifactRepository,
    jobs: list[FileJob],
    settings: TransferSettings,
    cancel: threading.Event,
) -> list[Task]:
    """The tasks that fetch ``jobs`` in batches, one per lane."""
    lanes = max(1, min(settings.batch_connections, len(jobs) // FILES_PER_LANE))
    queue = _Queue(jobs)
    return [functools.partial(_lane, repo, queue, settings, cancel) for _ in range(lanes)]


def _lane(
    repo: ArtifactRepository, queue: _Queue, settings: TransferSettings, cancel: threading.Event
) -> None:
    failures = 0
    while failures < settings.max_attempts:
        handed: dict[str, FileJob] = {}
        try:
            _batch(repo, queue, handed, cancel)
            return
        except Exception as err:
            if cancel.is_set():
                raise Cancelled from err
            if not repo.is_transient_error(err):
                raise
            failures += 1
            wait_or_cancel(cancel, backoff_delay(settings, failures))
            for cut in handed.values():  # cut off mid-batch: each on its own, the batch
                cut.fetch_whole(tried=err)  # counting as one attempt
    while (rest := queue.take()) is not None:  # batches keep failing: one by one
        rest.fetch_whole()


def _batch(
    repo: ArtifactRepository, queue: _Queue, handed: dict[str, FileJob], cancel: threading.Event
) -> None:
    def feed() -> Iterator[tuple[str, str, int | None]]:
        while not cancel.is_set() and (job := queue.take()) is not None:
            handed[job.info.path] = job
            yield job.info.path, str(job.final), job.size

    fetched = repo.download_many(feed())
    try:
        for path, sent in fetched:
            job = handed.pop(path)
            job.fetched_in_batch(sent)
            if cancel.is_set():
                raise Cancelled
    finally:
        close = getattr(fetched, "close", None)
        if close is not None:
            close()
    if cancel.is_set():
        raise Cancelled
