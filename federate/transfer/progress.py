"""Reporting a download's progress: a bar on a terminal, events for programs, else nothing.

``progress`` arguments accept ``True`` (a tqdm bar on stderr when it is a terminal),
``False`` (silence) or a callable receiving :class:`ProgressEvent` at most ten times a
second and once at the end. Workers report from their threads; this module serialises.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_EVERY_S = 0.1


@dataclass(frozen=True)
class ProgressEvent:
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    #: seconds since the download started
    elapsed: float

    @property
    def finished(self) -> bool:
        return self.files_done == self.files_total and self.bytes_done >= self.bytes_total


ProgressCallback = Callable[[ProgressEvent], None]
ProgressArg = bool | ProgressCallback | None


def report_served(arg: ProgressArg, sizes: Iterable[int]) -> None:
    """A download that fetched nothing (the cache had every file): a callback still gets
    its one final event, all bytes and files done, so code waiting for ``finished`` ends."""
    if callable(arg):
        sizes = list(sizes)
        total = sum(sizes)
        arg(ProgressEvent(total, total, len(sizes), len(sizes), 0.0))


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 0


class Progress:
    """Counts bytes and files; forwards to a bar and/or a callback."""

    def __init__(self, arg: ProgressArg, bytes_total: int, files_total: int, label: str) -> None:
        self.bytes_total = bytes_total
        self.files_total = files_total
        self.bytes_done = 0
        self.files_done = 0
        self._callback = arg if callable(arg) else None
        self._bar: Any = None
        if arg is True and sys.stderr.isatty():
            from tqdm import tqdm  # only a terminal pays for it

            sized = _columns() > 0  # a terminal that reports no size (a bare pty) gets 80x24
            self._bar = tqdm(
                total=bytes_total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=sized,
                ncols=None if sized else 80,
                nrows=None if sized else 24,
            )
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = 0.0

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
            if self._bar is not None:
                self._bar.update(n)
            self._maybe_call()

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1
            if self._bar is not None:
                self._bar.set_postfix_str(f"{self.files_done}/{self.files_total} files", False)
            self._maybe_call()

    def _maybe_call(self, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < _EVERY_S:
            return
        self._last = now
        self._callback(self.event())

    def event(self) -> ProgressEvent:
        return ProgressEvent(
            self.bytes_done,
            self.bytes_total,
            self.files_done,
            self.files_total,
            time.monotonic() - self._start,
        )

    def close(self, completed: bool) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if completed:
                self._maybe_call(force=True)
