"""Fetching one file into the staging tree: whole, or as ranges written in place.

A file below the multipart threshold is one task (the repository's ``download_file``,
retried whole), written straight to its final name in the staging tree: nothing of it
survives into another run (it has no record), so it needs neither a ``.incomplete``
name nor a rename, and its size and checksum are checked where it lies. A larger file
is preallocated as ``<name>.incomplete`` and cut into ``chunk_size`` ranges; each range
is taken by a task on the shared worker pool, streams its pieces straight to their
offsets with ``os.pwrite`` and, when a read fails transiently, asks the store again for
only what is still missing. What each range has written so far goes into the resume
record (:mod:`federate.transfer.resume`). A store answering with other bytes than asked
(:class:`~federate.repos.ranged_answer.WrongRange`: another range, another version)
makes the file start over, at most :data:`MAX_RESTARTS` times. The task that finishes
the last range verifies the file and renames it to its final name.
"""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path

from federate.entities import FileInfo
from federate.errors import INTERNAL_ERROR, FederateError
from federate.repos.base import ArtifactRepository
from federate.repos.ranged_answer import RangesIgnored, WrongRange
from federate.transfer.checksums import (
    ContentCheck,
    DigestCheck,
    WithSha256,
    check_file,
    proves_bytes,
    strongest_check,
)
from federate.transfer.ordered import OrderedFeed
from federate.transfer.parts import PartFeed, PartsWithSha256, is_partwise
from federate.transfer.progress import Progress
from federate.transfer.resume import RangeRecord, range_crc, source_identity
from federate.transfer.retry import Cancelled, backoff_delay, out_of_retries, wait_or_cancel
from federate.transfer.settings import TransferSettings
from federate.transfer.staging import Staging

Task = Callable[[], None]

#: files up to this size may be fetched in batches (``download_many``). Batching saves a
#: request's overhead per file; from about here on the transfer itself dominates, and on a
#: store capping each connection's rate, files this big are better spread over all workers
BATCH_MAX_SIZE = 256 * 1024
#: times a file is fetched anew after a store answered a ranged read with other bytes
#: than asked (:class:`~federate.repos.ranged_answer.WrongRange`) before it fails
MAX_RESTARTS = 2


class _ShortRead(ConnectionError):
    """The store ended a response before the bytes it promised."""


def plan_ranges(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(chunk, size - start)) for start in range(0, size, chunk)]


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _preallocate(fd: int, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)  # reserves the blocks: a full disk fails here, early
    except OSError as err:
        if err.errno not in (95, 22):  # EOPNOTSUPP, EINVAL: filesystems without fallocate
            raise
        os.ftruncate(fd, size)


class _Superseded(Exception):
    """The file was restarted while this range was being read: its bytes go nowhere."""


class RangeSink:
    """Where the bytes of one ranged read go: the file-like object handed to
    ``ArtifactRepository.read_range_into``.

    Each ``write`` lands at the next offset of the range (``os.pwrite``), is counted
    for progress and into the CRC of the range's bytes from ``start``, and the written
    prefix (its length and CRC) goes into the resume record, so a killed run's next run
    asks only for the rest. Small writes (some SDKs hand over 8 KiB at a time) are
    gathered into one ``pwrite`` per :data:`GATHER` bytes. Bytes beyond the range (a
    store sending more than asked) are dropped. ``kept``: the length and CRC of a prefix
    an earlier run wrote. Once ``superseded`` is set (the file restarted) writes stop.
    ``feed``: told how far the range is written, so the file's check follows the bytes
    as they arrive (:mod:`federate.transfer.ordered`).
    """

    GATHER = 1024 * 1024

    def __init__(
        self,
        fd: int,
        start: int,
        end: int,
        cancel: threading.Event,
        progress: Progress,
        record: RangeRecord | None = None,
        superseded: threading.Event | None = None,
        kept: tuple[int, int] = (0, 0),
        feed: OrderedFeed | PartFeed | PartsWithSha256 | None = None,
    ) -> None:
        self.fd = fd
        self.start = start
        self.offset = start + kept[0]  # everything before this is written
        self.end = end
        self.crc = kept[1]
        self._cancel = cancel
        self._superseded = superseded or threading.Event()
        self._progress = progress
        self._record = record
        self._feed = feed
        self._gathered = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._cancel.is_set():
            raise Cancelled
        if self._superseded.is_set():
            raise _Superseded
        size = len(data)
        if self._gathered or size < self.GATHER // 16:
            self._gathered += data
            if len(self._gathered) >= self.GATHER:
                self.flush()
        else:
            self._put(data)
        return size

    def flush(self) -> None:
        if self._gathered:
            gathered, self._gathered = self._gathered, bytearray()
            if not self._superseded.is_set():
                self._put(gathered)

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        piece = memoryview(data)[: self.end - self.offset]
        if not piece:
            return
        pwrite_all(self.fd, piece, self.offset)
        self.crc = zlib.crc32(piece, self.crc)
        self.offset += len(piece)
        self._progress.add(len(piece))
        if self._record is not None:  # a dict entry, and a record file every SAVE_EVERY_S
            self._record.mark(self.start, self.offset - self.start, self.crc)
            self._record.save()
        if self._feed is not None:
            self._feed.wrote(self.start, self.offset, piece)


class FileJob:
    """Everything needed to bring one listed file into the staging tree."""

    def __init__(
        self,
        repo: ArtifactRepository,
        info: FileInfo,
        final: Path,
        staging: Staging,
        settings: TransferSettings,
        cancel: threading.Event,
        progress: Progress,
        sha256: bool = False,
    ) -> None:
        self.repo = repo
        self.info = info
        self.final = final
        self.staging = staging
        self.settings = settings
        self.cancel = cancel
        self.progress = progress
        self.size = info.file_size
        self.check = strongest_check(info)
        split_from = settings.split_from(repo.whole_read_size)
        self.ranged = self.size is not None and self.size >= split_from
        #: where the bytes go until verified: ranged files only, small ones go to ``final``
        self.part = final.with_name(final.name + ".incomplete") if self.ranged else final
        # small files are cheaper to fetch again than to keep a durable record of
        self.record: RangeRecord | None = None
        if self.ranged:
            self.record = RangeRecord(
                staging.record_path(info.path),
                source_identity(info),
                staging.token,
                settings.chunk_size,
            )
            self.record.adopt(staging.previous_owner)
        self.reused = False
        self.fd: int | None = None
        #: checks a ranged file as its ranges land (None: nothing to check it with)
        self.feed: OrderedFeed | PartFeed | PartsWithSha256 | None = None
        #: ``sha256=True``: the file's SHA-256 (hex), taken as its bytes were checked, once
        #: it is complete; stays None for a file an earlier run finished
        self.want_sha256 = sha256
        self.sha256: str | None = None
        self._remaining = 0
        self._lock = threading.Lock()
        #: the ranges of a ranged file, and those no task has taken yet
        self._ranges: list[tuple[int, int]] = []
        self._pending: deque[tuple[int, int]] = deque()
        #: range start -> (length, crc) of the prefix an earlier run wrote
        self._kept: dict[int, tuple[int, int]] = {}
        #: set when the file restarts: the reads in flight stop writing
        self._superseded = threading.Event()
        self._restarts = 0
        self._retired: list[int] = []  # descriptors of files a restart replaced

    # -- planning ----------------------------------------------------------------------

    def tasks(self) -> list[Task]:
        """What is left to fetch; a file an earlier run finished for this version is kept.

        The engine has created the parent directories."""
        if self.record is None:
            if not self.staging.fresh:
                self.final.unlink(missing_ok=True)  # whatever an earlier run left
            return [self.fetch_whole]
        if self.record.complete and self._final_is_whole():
            self.progress.add(self.size or 0)
            self.progress.file_done()
            return []
        self.record.complete = False
        if not self.staging.fresh:
            self.final.unlink(missing_ok=True)
        assert self.size is not None
        self.fd = fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o644)
        _preallocate(fd, self.size)
        self._ranges = ranges = plan_ranges(self.size, self.settings.chunk_size)
        self.feed = self._new_feed(fd)
        todo: list[tuple[int, int]] = []
        for start, length in ranges:
            kept = self.record.done.get(start) or (0, 0)
            if not 0 < kept[0] <= length or range_crc(fd, start, kept[0]) != kept[1]:
                self.record.drop(start)
                todo.append((start, length))
                continue
            self.reused = True
            self.progress.add(kept[0])
            if kept[0] < length:
                self._kept[start] = kept  # its prefix: only the rest is asked for
                todo.append((start, length))
            elif self.feed is not None:
                self.feed.landed(start)
        self._remaining = len(todo)
        self._pending = deque(todo)
        if not todo:
            return [self._finish_ranged]
        return [self._fetch_ranges] * len(todo)

    def _new_feed(self, fd: int) -> OrderedFeed | PartFeed | PartsWithSha256 | None:
        check: ContentCheck | None = self.repo.content_check(self.info)
        if is_partwise(check):
            if self.want_sha256:  # SHA-256 needs every byte in order: its own feed
                return PartsWithSha256(fd, self._ranges, check)  # type: ignore[arg-type]
            return PartFeed(fd, self._ranges, check)  # type: ignore[arg-type]
        if self.want_sha256:
            check = WithSha256(check)
        return OrderedFeed(fd, self._ranges, check) if check is not None else None

    def _final_is_whole(self) -> bool:
        try:
            return self.size is None or self.final.stat().st_size == self.size
        except OSError:
            return False

    # -- small files -------------------------------------------------------------------

    @property
    def batchable(self) -> bool:
        """Small enough to be fetched in a batch with others (see ``download_many``)."""
        return self.record is None and self.size is not None and self.size <= BATCH_MAX_SIZE

    def fetch_whole(self, tried: BaseException | None = None) -> None:
        """Fetch the file on its own, retried whole on transient errors. ``tried``: the
        error of an attempt already made in a batch, which counts against the budget."""
        attempt = 1
        if tried is not None:
            if attempt >= self.settings.max_attempts:
                raise self._give_up(attempt, tried) from tried
            attempt += 1
        while True:
            if self.cancel.is_set():
                raise Cancelled
            try:
                sent = self.repo.download_file(self.info.path, str(self.final), self.size)
                got = self._accept(sent)
                break
            except Exception as err:
                if not self.repo.is_transient_error(err):
                    raise  # including local write errors such as a full disk
                if attempt >= self.settings.max_attempts:
                    raise self._give_up(attempt, err) from err
                wait_or_cancel(self.cancel, backoff_delay(self.settings, attempt))
                attempt += 1
        self._complete(sent, got)

    def fetched_in_batch(self, sent: FileInfo | None) -> None:
        """``download_many`` wrote the file; check it as if ``download_file`` had."""
        try:
            got = self._accept(sent)
        except _ShortRead:
            self.fetch_whole()  # cut short: once more on its own, with retries
            return
        self._complete(sent, got)

    def _accept(self, sent: FileInfo | None) -> int:
        """The size written, once it is the listed version's (raises _ShortRead if not)."""
        if sent is not None:
            self._check_same_version(sent)
        got = os.stat(self.final).st_size
        if self.size is not None and got != self.size:
            raise _ShortRead(f"received {got} bytes, the store lists {self.size}")
        return got

    def _complete(self, sent: FileInfo | None, got: int) -> None:
        self.progress.add(got)
        expected = self.check or (strongest_check(sent) if sent is not None else None)
        check: ContentCheck | None = None
        if expected is not None and not self.repo.verifies_downloads:  # else checked already
            check = DigestCheck(expected, self.info.path)
        if self.want_sha256:
            check = WithSha256(check)  # one read: the store's check and the cache's digest
        if check is not None:
            check_file(self.final, check)
        if isinstance(check, WithSha256):
            self.sha256 = check.sha256.hexdigest()
        self.progress.file_done()

    def _check_same_version(self, sent: FileInfo) -> None:
        """The response must describe the version that was listed: a different size or
        ETag means the file changed in between (the bytes may be a mix of neither)."""
        listed = self.info
        differs = None
        if None not in (sent.file_size, listed.file_size) and sent.file_size != listed.file_size:
            differs = f"{sent.file_size} bytes, the listing said {listed.file_size}"
        if differs is None and sent.etag and listed.etag and sent.etag != listed.etag:
            differs = f"ETag {sent.etag}, the listing said {listed.etag}"
        if differs is not None:
            raise FederateError(
                f"{listed.path} changed on the server between listing and download (the "
                f"response says {differs}); nothing was installed, download again to get "
                "the new version",
                INTERNAL_ERROR,
            )

    # -- large files -------------------------------------------------------------------

    def _fetch_ranges(self) -> None:
        """Fetch ranges of this file until none is left to take (one task per range is
        queued, so as many workers as ranges may share the file; after a restart the
        tasks still running take the ranges up again)."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                start, length = self._pending.popleft()
                fd, record, superseded = self.fd, self.record, self._superseded
                kept = self._kept.pop(start, (0, 0))
                feed = self.feed
            assert fd is not None and record is not None
            sink = RangeSink(
                fd,
                start,
                start + length,
                self.cancel,
                self.progress,
                record,
                superseded,
                kept,
                feed,
            )
            try:
                self._fetch_range(sink)
            except Cancelled:
                raise
            except _Superseded:
                continue  # the file restarted: its ranges are queued again
            except WrongRange as err:
                if superseded.is_set():
                    continue
                self._restart(superseded, err)
                continue
            except Exception:
                if superseded.is_set():
                    continue  # an answer about a file that is fetched anew
                raise
            self._landed(sink, superseded)

    def _fetch_range(self, sink: RangeSink) -> None:
        attempt = 1
        while sink.offset < sink.end:
            if self.cancel.is_set():
                raise Cancelled
            try:
                try:
                    self.repo.read_range_into(
                        self.info.path, sink.offset, sink.end - sink.offset, sink
                    )
                finally:
                    sink.flush()  # what arrived before a failure is kept
                if sink.offset < sink.end:
                    raise _ShortRead(f"response ended at byte {sink.offset} of {sink.end}")
            except (Cancelled, _Superseded, WrongRange):
                raise
            except Exception as err:
                if self.cancel.is_set():
                    raise Cancelled from err  # however the store wrapped the sink's Cancelled
                if isinstance(err.__cause__ or err.__context__, _Superseded):
                    raise _Superseded from err  # however the store wrapped it
                if not (isinstance(err, _ShortRead) or self.repo.is_transient_error(err)):
                    raise
                if attempt >= self.settings.max_attempts:
                    raise self._give_up(attempt, err) from err
                wait_or_cancel(self.cancel, backoff_delay(self.settings, attempt))
                attempt += 1

    def _landed(self, sink: RangeSink, superseded: threading.Event) -> None:
        start, length = sink.start, sink.end - sink.start
        with self._lock:
            if superseded.is_set():
                return  # the file restarted after these bytes arrived
            record, feed = self.record, self.feed
            assert record is not None
            record.mark(start, length, sink.crc)
        record.save()
        self.staging.heartbeat()
        if feed is not None:
            feed.landed(start)
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._finish_ranged()

    def _restart(self, superseded: threading.Event, err: WrongRange) -> None:
        """Drop every byte of the file and queue all its ranges again: a store that sent
        other bytes than asked (another range, another version) may have done so before,
        unseen. After :data:`MAX_RESTARTS` the file fails."""
        with self._lock:
            if superseded.is_set():
                return  # another range restarted the file already
            if self._restarts >= MAX_RESTARTS:
                raise FederateError(
                    f"{self.info.path}: the store kept answering ranged reads with other "
                    f"bytes than asked ({err.detail}); fetched anew {self._restarts} times, "
                    "it changed again or the server mishandles Range requests. Nothing was "
                    "installed; download again once the object is no longer being replaced",
                    INTERNAL_ERROR,
                ) from err
            self._restarts += 1
            superseded.set()  # the reads in flight stop at their next write
            self._superseded = threading.Event()
            assert self.fd is not None and self.record is not None and self.size is not None
            # a new file: writes still under way land in the old one, which stays open
            # (its descriptor cannot be reused under them) until the job closes
            self._retired.append(self.fd)
            self.part.unlink(missing_ok=True)
            self.fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o644)
            _preallocate(self.fd, self.size)
            old, self.record = self.record, self.record.fresh()
            old.retire()
            self._kept.clear()
            if isinstance(err, RangesIgnored):
                # the server sends whole objects only: one read of the file from its start
                self._ranges = [(0, self.size)]
            stale, self.feed = self.feed, self._new_feed(self.fd)
            self._pending = deque(self._ranges)
            self._remaining = len(self._ranges)
            self.reused = False
        if stale is not None:
            stale.close()  # its bytes go nowhere now
        self.record.save(force=True)

    def _finish_ranged(self) -> None:
        assert self.fd is not None and self.record is not None
        if self.feed is not None:
            self.feed.finish()  # most of the file was checked while the ranges landed
        os.close(self.fd)
        self.fd = None
        if self.reused and not (self.feed and proves_bytes(self.feed.check)):
            self._recheck_ranges(self.record)  # no checksum proves them: reused bytes again
        if self.feed is not None and isinstance(self.feed.check, WithSha256):
            self.sha256 = self.feed.check.sha256.hexdigest()
        os.replace(self.part, self.final)
        self.record.complete = True
        self.record.save(force=True)
        self.progress.file_done()

    def _recheck_ranges(self, record: RangeRecord) -> None:
        fd = os.open(self.part, os.O_RDONLY)
        try:
            for start, (length, crc) in sorted(record.done.items()):
                if range_crc(fd, start, length) != crc:
                    raise FederateError(
                        f"{self.info.path}: bytes {start}-{start + length - 1} changed on disk "
                        "while the download ran (another writer?); nothing was installed, run "
                        "the download again",
                        INTERNAL_ERROR,
                    )
        finally:
            os.close(fd)

    # -- both --------------------------------------------------------------------------

    def _give_up(self, attempts: int, err: BaseException) -> FederateError:
        return out_of_retries(f"Reading {self.info.path}", attempts, err)

    def suspend(self) -> None:
        """Record what is finished and close the file (the download stops, to resume later)."""
        if self.fd is not None and self.record is not None:
            with contextlib.suppress(OSError):
                self.record.save(force=True)
            self.close()

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()  # its thread reads the file: stopped before the file closes
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        while self._retired:
            with contextlib.suppress(OSError):
                os.close(self._retired.pop())
