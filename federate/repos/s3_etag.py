"""What S3 says about an object's bytes (its ETag, a stored checksum) and checking them.

An object uploaded in parts is checked against its multipart ETag as its bytes are fed.

S3 gives such an object no checksum of the whole, only ``md5(md5(part 1) ... md5(part
N))-N``. The engine fetches it in ranges of its own size, not S3's parts, so the check
needs the part size: the size of part 1 (a HEAD with ``PartNumber=1``), asked when the
first bytes arrive, from a worker thread. Parts may legally differ in size; then the
ETag proves nothing, so a mismatch only counts as corruption once parts 2 and N are
seen to have the size the uniform split predicts.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Callable
from typing import Any

from federate.errors import INTERNAL_ERROR, FederateError

_MD5_ETAG = re.compile(r"[0-9a-fA-F]{32}")
_MULTIPART_ETAG = re.compile(r"[0-9a-fA-F]{32}-\d+")
CHECKSUM_FIELDS = {
    "ChecksumSHA256": "sha256",
    "ChecksumSHA1": "sha1",
    "ChecksumCRC64NVME": "crc64nvme",
    "ChecksumCRC32C": "crc32c",
    "ChecksumCRC32": "crc32",
}


def etag_kind(etag: str | None, encryption: str | None = None) -> str | None:
    """``md5`` when the ETag is the MD5 of the bytes, ``multipart`` for a multipart ETag
    (MD5 of the part MD5s plus ``-<parts>``), None when it says nothing checkable
    (SSE-KMS and SSE-C objects have ETags that are not an MD5)."""
    if not etag:
        return None
    if _MULTIPART_ETAG.fullmatch(etag):
        return "multipart"
    if _MD5_ETAG.fullmatch(etag) and encryption in (None, "", "AES256"):
        return "md5"
    return None


def stored_checksum(headers: dict[str, Any]) -> str | None:
    """``<algorithm>:<base64 digest>`` of a full-object checksum S3 keeps, if any.

    A multipart object's checksum covers the whole object only when S3 says FULL_OBJECT;
    otherwise it is a checksum of part checksums (and S3-compatible servers may omit the
    type), which says nothing about the bytes as a whole."""
    multipart = etag_kind(str(headers.get("ETag", "")).strip('"')) == "multipart"
    if headers.get("ChecksumType") == "COMPOSITE" or (
        multipart and headers.get("ChecksumType") != "FULL_OBJECT"
    ):
        return None
    for field, name in CHECKSUM_FIELDS.items():
        value = headers.get(field)
        if value and "-" not in value:
            return f"{name}:{value}"
    return None


def file_crc32(path: str) -> str:
    """Base64 of the big-endian CRC32 of a file, as S3 reports ChecksumCRC32."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(4 * 1024 * 1024):
            crc = zlib.crc32(block, crc)
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


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

    def part_size(self) -> int | None:
        """The size of the parts the ETag digests one by one (None: it cannot be checked):
        ranges of exactly this size can be hashed side by side
        (:mod:`federate.transfer.parts`), then judged by :meth:`verify_parts`."""
        if not self._resolved:
            self._part_size = self._ask_part_size()
            self._resolved = True
        return self._part_size

    def update(self, data: bytes | memoryview, /) -> None:
        if self.part_size() is None:
            return
        assert self._part_size is not None
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
        self.verify_parts(self._digests)

    def verify_parts(self, digests: list[bytes]) -> None:
        """Judge the MD5 digests of the object's parts, in order, against the ETag."""
        if self._part_size is None:
            return
        joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        got = f"{joined}-{len(digests)}"
        if got != self.etag and self._uniform(self._part_size, len(digests)):
            raise FederateError(
                f"{self.where} arrived corrupted: its multipart ETag is {self.etag}, the "
                f"bytes give {got}",
                INTERNAL_ERROR,
            )
