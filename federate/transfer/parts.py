"""Checking a ranged file part by part, each range hashed by the worker that writes it.

Some checks digest a file in independent parts: S3's multipart ETag is the MD5 of the
MD5s of parts of one size. When the engine's ranges are exactly those parts (S3's usual
8 MiB part is the engine's default chunk), :class:`PartFeed` hashes each range as its
bytes are written, on the worker writing it, so the file's MD5 work is spread over every
worker and core and nothing is left to hash when the last range lands; an in-order feed
(:mod:`federate.transfer.ordered`) runs one MD5 from start to end, about 45 ms per 32 MB
on one core at best. When the parts are not the ranges (another part size, or the check
cannot tell), the file is fed in order as before: the choice is made at the first bytes,
before anything is hashed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Protocol

from federate.transfer.checksums import ContentCheck, WithSha256
from federate.transfer.ordered import OrderedFeed

_BLOCK = 1024 * 1024


class PartwiseCheck(ContentCheck, Protocol):
    """A :class:`~federate.transfer.checksums.ContentCheck` that can also judge the MD5
    digests of the file's parts of ``part_size()`` bytes, taken separately."""

    def part_size(self) -> int | None: ...

    def verify_parts(self, digests: list[bytes]) -> None: ...


def is_partwise(check: ContentCheck | None) -> bool:
    return callable(getattr(check, "part_size", None)) and callable(
        getattr(check, "verify_parts", None)
    )


class _Part:
    def __init__(self, start: int, length: int) -> None:
        self.start = start
        self.end = start + length
        self.hashed = start  # bytes before this are in ``md5``
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.lock = threading.Lock()


class PartFeed:
    """Feeds the ranges of the file open at ``fd`` to ``check``: part by part, each on
    the worker that writes it, when the ranges are the check's parts; else in order.

    Whether they are is asked once (S3: a HEAD) on a thread of its own when the first
    bytes are written; meanwhile every range is hashed as if they were. When they are
    not, the bytes written so far are handed to an in-order feed, which reads them from
    the file, and every later report goes there.
    """

    def __init__(self, fd: int, ranges: list[tuple[int, int]], check: PartwiseCheck) -> None:
        self.fd = fd
        self.check = check
        self._ranges = sorted(ranges)
        self._parts = {start: _Part(start, n) for start, n in self._ranges}
        self._ordered: OrderedFeed | None = None
        self._state = threading.Lock()  # guards the fields below and the choice
        self._written: dict[int, int] = {}
        self._landed: set[int] = set()
        self._asking: threading.Thread | None = None
        self._error: BaseException | None = None

    def wrote(self, start: int, upto: int, data: bytes | memoryview | None = None) -> None:
        """The range at ``start`` has its bytes up to ``upto`` written, ``data`` the last
        of them: hash them here (from ``data`` when it is all that is missing, else from
        the file)."""
        with self._state:
            if upto > self._written.get(start, start):
                self._written[start] = upto
            ordered = self._ordered
            self._ask()
        if ordered is not None:
            ordered.wrote(start, upto)
        else:
            self._hash(self._parts[start], upto, data)

    def landed(self, start: int) -> None:
        with self._state:
            self._landed.add(start)
            ordered = self._ordered
            self._ask()
        if ordered is not None:
            ordered.landed(start)
        else:
            part = self._parts[start]
            self._hash(part, part.end)

    def finish(self) -> None:
        with self._state:
            self._ask()
            asking = self._asking
        assert asking is not None
        asking.join()
        if self._error is not None:
            raise self._error
        if self._ordered is not None:
            self._ordered.finish()
            return
        for part in self._parts.values():
            self._hash(part, part.end if part.start in self._landed else part.hashed)
            if part.hashed != part.end:
                raise RuntimeError(f"range at byte {part.start} never landed")  # an engine bug
        self.check.verify_parts([self._parts[start].md5.digest() for start, _ in self._ranges])

    def close(self) -> None:
        with self._state:
            asking = self._asking
        if asking is not None and asking is not threading.current_thread():
            asking.join()
        if self._ordered is not None:
            self._ordered.close()

    def _ask(self) -> None:
        """Under ``_state``: ask the check for its part size, once, on a thread."""
        if self._asking is None:
            self._asking = threading.Thread(target=self._choose, name="federate-parts", daemon=True)
            self._asking.start()

    def _choose(self) -> None:
        try:
            size = self.check.part_size()  # S3: one HEAD
        except BaseException as err:  # raised by finish(), on the worker that calls it
            self._error = err
            return
        lengths = [length for _, length in self._ranges]
        fits = bool(size) and all(n == size for n in lengths[:-1]) and lengths[-1] <= (size or 0)
        if fits:
            return
        with self._state:
            ordered = OrderedFeed(self.fd, self._ranges, self.check)
            for start, upto in self._written.items():
                ordered.wrote(start, upto)
            for start in self._landed:
                ordered.landed(start)
            self._ordered = ordered

    def _hash(self, part: _Part, upto: int, data: bytes | memoryview | None = None) -> None:
        with part.lock:
            upto = min(upto, part.end)
            if part.hashed >= upto or self._ordered is not None:
                return
            if data is not None and len(data) == upto - part.hashed:
                part.md5.update(data)  # just written: no need to read it back
                part.hashed = upto
                return
            buf = bytearray(min(_BLOCK, upto - part.hashed))
            view = memoryview(buf)
            offset = part.hashed
            while offset < upto:
                n = os.preadv(self.fd, [view[: min(len(buf), upto - offset)]], offset)
                if n <= 0:
                    raise OSError(f"file ended at byte {offset}, expected {upto}")
                part.md5.update(view[:n])
                offset += n
            part.hashed = offset


class PartsWithSha256:
    """A file checked part by part (:class:`PartFeed`, on the workers) whose SHA-256 the
    cache also wants: that one needs every byte in order, so an in-order feed takes it on
    its own thread, and the store's MD5s no longer wait in line behind it (one thread
    hashing both took 2.3 s of a core per GiB, the tail of a fetch on a busy machine).
    ``check`` is the SHA-256's (:class:`~federate.transfer.checksums.WithSha256`)."""

    def __init__(self, fd: int, ranges: list[tuple[int, int]], check: PartwiseCheck) -> None:
        self.check = WithSha256(None)
        self._parts = PartFeed(fd, ranges, check)
        self._ordered = OrderedFeed(fd, ranges, self.check)

    def wrote(self, start: int, upto: int, data: bytes | memoryview | None = None) -> None:
        self._parts.wrote(start, upto, data)
        self._ordered.wrote(start, upto)

    def landed(self, start: int) -> None:
        self._parts.landed(start)
        self._ordered.landed(start)

    def finish(self) -> None:
        self._parts.finish()
        self._ordered.finish()

    def close(self) -> None:
        self._parts.close()
        self._ordered.close()
