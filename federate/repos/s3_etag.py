"""Checking an object uploaded in parts against its multipart ETag, as its bytes are fed.

S3 gives such an object no checksum of the whole, only ``md5(md5(part 1) ... md5(part
N))-N``. The engine fetches it in ranges of its own size, not S3's parts, so the check
needs the part size: the size of part 1 (a HEAD with ``PartNumber=1``), asked when the
first bytes arrive, from a worker thread. Parts may legally differ in size; then the
ETag proves nothing, so a mismatch only counts as corruption once parts 2 and N are
seen to have the size the uniform split predicts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from federate.errors import INTERNAL_ERROR, FederateError


class MultipartEtagCheck:
    """A ``ContentCheck`` (see :mod:`federate.transfer.checksums`) for a multipart ETag."""

    def __init__(
        self,
        where: str,
        size: int,
        etag: str,
        part_size: Callable[[], int | None],
        uniform: Callable[[int, int], bool],
    ) -> None:
        """``part_size()``: the size of part 1 when the ETag can be checked with it, else
        None; ``uniform(part_size, parts)``: whether all parts have the uniform size."""
        self.where = where
        self.size = size
        self.etag = etag.lower()
        self._ask_part_size = part_size
        self._uniform = uniform
        self._part_size: int | None = None
        self._resolved = False
        self._digests: list[bytes] = []
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._in_part = 0

    def update(self, data: bytes | memoryview, /) -> None:
        if not self._resolved:
            self._part_size = self._ask_part_size()
            self._resolved = True
        if self._part_size is None:
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self._part_size - self._in_part)
            self._md5.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self._part_size:
                self._close_part()

    def _close_part(self) -> None:
        self._digests.append(self._md5.digest())
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._in_part = 0

    def verify(self) -> None:
        if self._part_size is None:
            return  # nothing fed, or parts the ETag cannot be checked with
        if self._in_part:
            self._close_part()
        joined = hashlib.md5(b"".join(self._digests), usedforsecurity=False).hexdigest()
        got = f"{joined}-{len(self._digests)}"
        if got != self.etag and self._uniform(self._part_size, len(self._digests)):
            raise FederateError(
                f"{self.where} arrived corrupted: its multipart ETag is {self.etag}, the "
                f"bytes give {got}",
                INTERNAL_ERROR,
            )
