"""Content checksums a store reports, and checking a local file against them.

Repositories put what the store knows into ``FileInfo.checksum`` as ``"<algorithm>:<value>"``
with algorithm ``crc32``, ``crc32c``, ``sha256`` or ``md5`` and the digest in hex or base64 (the
form stores send it in, e.g. GCS's base64 ``crc32c``), several separated by commas.
Anything else (an opaque ETag, an unknown algorithm) is not a checksum and is not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from federate.entities import FileInfo
from federate.errors import INTERNAL_ERROR, FederateError

#: cheapest first: the engine verifies with the first one the store offers
ALGORITHMS = ("crc32", "crc32c", "sha256", "md5")
_DIGEST_SIZE = {"crc32": 4, "crc32c": 4, "sha256": 32, "md5": 16}
_READ_BLOCK = 4 * 1024 * 1024


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32c:
    def __init__(self) -> None:
        import google_crc32c  # ships with google-cloud-storage; a C extension

        self._impl = google_crc32c.Checksum()

    def update(self, data: bytes | memoryview, /) -> None:
        self._impl.update(bytes(data))  # the C extension takes read-only buffers only

    def digest(self) -> bytes:
        return bytes(self._impl.digest())


class _Crc32:
    """zlib's CRC-32 (S3's ``ChecksumCRC32``), digest big-endian as S3 reports it."""

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes | memoryview, /) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(4, "big")


_HASHERS: dict[str, Callable[[], Hasher]] = {
    "crc32": _Crc32,
    "crc32c": _Crc32c,
    "sha256": hashlib.sha256,
    "md5": lambda: hashlib.md5(usedforsecurity=False),
}


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.digest.hex()}"


def _decode(algorithm: str, value: str) -> bytes | None:
    size = _DIGEST_SIZE[algorithm]
    value = value.strip()
    if len(value) == 2 * size:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def _available(algorithm: str) -> bool:
    if algorithm != "crc32c":
        return True
    try:
        import google_crc32c  # noqa: F401
    except ImportError:
        return False
    return True


def parse_checksums(text: str | None) -> list[Checksum]:
    """The checksums in a ``FileInfo.checksum`` string that this process can verify."""
    out: list[Checksum] = []
    for item in (text or "").split(","):
        algorithm, sep, value = item.partition(":")
        algorithm = algorithm.strip().lower().replace("-", "")
        if not sep or algorithm not in _DIGEST_SIZE or not _available(algorithm):
            continue
        digest = _decode(algorithm, value)
        if digest is not None:
            out.append(Checksum(algorithm, digest))
    out.sort(key=lambda c: ALGORITHMS.index(c.algorithm))
    return out


def strongest_check(info: FileInfo) -> Checksum | None:
    """The checksum the engine verifies a file with (the cheapest offered), if any.

    An ETag counts when the repository says it is the MD5 of the bytes (``etag_kind``).
    """
    found = parse_checksums(info.checksum)
    if not found and info.etag_kind == "md5" and info.etag:
        found = parse_checksums(f"md5:{info.etag}")
    return found[0] if found else None


class ContentCheck(Protocol):
    """Something that checks a file from its bytes, fed once and in order.

    The engine feeds a ranged file's bytes as its ranges land (see
    :mod:`federate.transfer.ordered`), so checking overlaps the download instead of
    costing a second read at the end. Repositories may return their own (S3's multipart
    ETag) from ``ArtifactRepository.content_check``.
    """

    def update(self, data: bytes | memoryview, /) -> None: ...

    def verify(self) -> None:
        """Raise FederateError(INTERNAL_ERROR) if the bytes fed are not the stored ones."""


class DigestCheck:
    """A :class:`ContentCheck` against one checksum the store reported."""

    def __init__(self, expected: Checksum, what: str) -> None:
        self.expected = expected
        self.what = what
        self._hasher = _HASHERS[expected.algorithm]()

    def update(self, data: bytes | memoryview, /) -> None:
        self._hasher.update(data)

    def verify(self) -> None:
        got = self._hasher.digest()
        if got != self.expected.digest:
            raise FederateError(
                f"{self.what}: {self.expected.algorithm} checksum mismatch (store says "
                f"{self.expected.digest.hex()}, received bytes hash to {got.hex()}); the file "
                "was corrupted in transit or changed during the download, and was not written",
                INTERNAL_ERROR,
            )


class WithSha256:
    """A :class:`ContentCheck` that also takes the SHA-256 of the bytes it is fed: the
    cache names its blobs by SHA-256, and hashing while the bytes land (one pass with the
    store's own check) spares it reading every file again afterwards."""

    def __init__(self, check: ContentCheck | None) -> None:
        self.check = check
        self.sha256 = hashlib.sha256()

    def update(self, data: bytes | memoryview, /) -> None:
        if self.check is not None:
            self.check.update(data)
        self.sha256.update(data)

    def verify(self) -> None:
        if self.check is not None:
            self.check.verify()


def proves_bytes(check: ContentCheck | None) -> bool:
    """Whether ``check`` passing proves every byte (a digest the store reported), so bytes
    reused from an earlier run need no check of their own."""
    if isinstance(check, WithSha256):
        return proves_bytes(check.check)
    return isinstance(check, DigestCheck)


def digest_check(info: FileInfo) -> DigestCheck | None:
    """The check of ``info``'s strongest checksum, or None when it carries none."""
    found = strongest_check(info)
    return DigestCheck(found, info.path) if found is not None else None


def feed_file(f: BinaryIO, check: ContentCheck | Hasher) -> None:
    """Feed what is left to read of an open (unbuffered) file to ``check``."""
    buf = bytearray(min(_READ_BLOCK, max(os.fstat(f.fileno()).st_size, 1)))
    view = memoryview(buf)
    while n := f.readinto(buf):  # type: ignore[attr-defined]
        check.update(view[:n])


def fd_digest(f: BinaryIO, algorithm: str) -> bytes:
    """The digest of what is left to read of an open (unbuffered) file."""
    hasher = _HASHERS[algorithm]()
    feed_file(f, hasher)
    return hasher.digest()


def check_file(path: str | os.PathLike[str], check: ContentCheck) -> None:
    """Feed the whole file to ``check``, then let it decide."""
    with open(path, "rb", buffering=0) as f:
        feed_file(f, check)
    check.verify()
