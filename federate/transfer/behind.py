"""A check that hashes on a thread of its own, behind the thread receiving the bytes.

A file read in one stream (a whole-object GET) and checked as it streams makes one
thread receive, write and hash in turn: for an MD5 (about 45 ms per 32 MB of one core)
the hash is as long as the transfer from a local store. :class:`CheckBehind` hands each
piece to a hashing thread instead (hashlib releases the GIL), so receiving and hashing
overlap on two cores; pieces are bytes the SDK gave up, held until hashed, and a
bounded queue keeps at most :data:`AHEAD` of them waiting.
"""

from __future__ import annotations

import queue
import threading

from federate.transfer.checksums import ContentCheck

#: pieces waiting to be hashed at most (the stream waits beyond): 256 KiB pieces, 4 MiB
AHEAD = 16
_DONE = object()


class CheckBehind:
    """A :class:`~federate.transfer.checksums.ContentCheck` running ``check`` on a thread."""

    def __init__(self, check: ContentCheck) -> None:
        self.check = check
        self._queue: queue.Queue[object] = queue.Queue(AHEAD)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="federate-hash", daemon=True)
        self._thread.start()

    def update(self, data: bytes | memoryview, /) -> None:
        if self._error is not None:
            return  # verify() raises it
        self._queue.put(data)

    def verify(self) -> None:
        self._stop()
        if self._error is not None:
            raise self._error
        self.check.verify()

    def close(self) -> None:
        """Stop hashing (the stream failed); nothing is verified."""
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _run(self) -> None:
        while (piece := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self.check.update(piece)  # type: ignore[arg-type]
                except BaseException as err:  # raised by verify()
                    self._error = err
