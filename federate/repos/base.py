"""The contract every artifact repository plugin implements.

A repository is rooted at one storage location; paths passed to its methods are
relative to that root and '/'-separated. The transfer engine only needs ``list``,
``stat`` and ``read_range`` (small files go through ``download_file``); stores may add
a streaming ``iter_range`` and their own ``is_transient_error`` for retries. Writable
stores add ``upload_file`` and ``delete``.
"""

from __future__ import annotations

import builtins
import errno
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar, Protocol

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import NOT_IMPLEMENTED, TEMPORARILY_UNAVAILABLE, FederateError, redact
from federate.repos.local_tree import walk
from federate.transfer.checksums import ContentCheck, digest_check

CHUNK_SIZE = 8 * 1024 * 1024

_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    }
)


def is_transient_by_default(err: BaseException) -> bool:
    """Connection resets, timeouts, truncated responses, TEMPORARILY_UNAVAILABLE errors."""
    if isinstance(err, FederateError):
        return err.error_code == TEMPORARILY_UNAVAILABLE
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    http_client = sys.modules.get("http.client")  # no import: unloaded means not raised
    if http_client is not None and isinstance(err, http_client.IncompleteRead):
        return True
    return isinstance(err, OSError) and err.errno in _TRANSIENT_ERRNOS


class RangeSink(Protocol):
    """Where ``read_range_into`` writes: a write-only file object (the engine's writes
    each piece at its offset in the file being assembled)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class ArtifactRepository(ABC):
    """A store of files under one root location."""

    #: Whether ``upload_file``/``upload_dir``/``delete`` work on this store.
    writable: ClassVar[bool] = False
    #: Whether ``download_file`` itself checks the store's checksum as the bytes arrive
    #: (and deletes what fails): the engine then does not read the file again to check it.
    verifies_downloads: ClassVar[bool] = False
    #: Whether ``download_many`` fetches a batch of small files faster than a
    #: ``download_file`` call each (the http repositories pipeline them on one connection):
    #: the engine then hands small files over in batches.
    batches_downloads: ClassVar[bool] = False
    #: Files up to this size are read whole (``download_file``, one request) even above
    #: the engine's split threshold, as the store's own SDK does; unless the user set
    #: ``FEDERATE_MULTIPART_THRESHOLD``. 0: the engine's threshold decides.
    whole_read_size: ClassVar[int] = 0

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        self.root = root
        self.credentials = credentials
        self.refresh = refresh

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.root)!r})"

    # -- reading -----------------------------------------------------------------------

    @abstractmethod
    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries under ``path`` (relative paths from the root); empty if nothing is there."""

    @abstractmethod
    def stat(self, path: str = "") -> FileInfo:
        """Size and checksum of a file, or ``is_dir=True`` for a directory.

        Raises FederateError(RESOURCE_DOES_NOT_EXIST) if nothing is at ``path``.
        """

    @abstractmethod
    def read_range(self, path: str, start: int, length: int) -> bytes:
        """``length`` bytes of file ``path`` from offset ``start`` (fewer only at EOF)."""

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """The bytes of ``read_range(path, start, length)``, in pieces as they arrive.

        Stores that can stream a ranged read override this so the engine holds one small
        piece per worker instead of a whole range. Fewer bytes than asked (a dropped
        connection) are fine: the engine asks again for the rest.
        """
        yield self.read_range(path, start, length)

    def read_range_into(self, path: str, start: int, length: int, sink: RangeSink) -> None:
        """Write the bytes of ``read_range(path, start, length)`` to ``sink.write`` in
        order, as they arrive: how the engine reads a range of a large file.

        The default writes the pieces of ``iter_range``. Stores whose SDK writes into a
        file object (GCS's ``download_to_file``) may hand ``sink`` to it. Fewer bytes than
        asked (a dropped connection) are fine: the engine asks again for the rest. Never
        retry inside: a retry that starts the range over would write bytes twice.
        """
        pieces = self.iter_range(path, start, length)
        try:
            for piece in pieces:
                sink.write(piece)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    def content_check(self, info: FileInfo) -> ContentCheck | None:
        """How the engine checks a file it assembles from ranged reads: it feeds the
        bytes, in order, as the ranges land, then calls ``verify()``. The default checks
        the strongest checksum in ``info``; stores whose evidence is not a plain checksum
        (S3's multipart ETag) return their own. None: nothing to check beyond the size."""
        return digest_check(info)

    def is_transient_error(self, err: BaseException) -> bool:
        """Whether retrying the read that raised ``err`` may succeed (throttling, resets,
        timeouts, 5xx). Stores add their SDK's throttling errors by overriding this."""
        return is_transient_by_default(err)

    def iter_chunks(self, path: str, size: int | None = None) -> Iterator[bytes]:
        """The file's bytes in order, in chunks; stores with a streaming read override this."""
        total = (self.stat(path).file_size if size is None else size) or 0
        offset = 0
        while offset < total:
            chunk = self.read_range(path, offset, min(CHUNK_SIZE, total - offset))
            if not chunk:
                break
            yield chunk
            offset += len(chunk)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> FileInfo | None:
        """Write file ``path`` to ``local_path`` (which the caller created the parent of).

        Stores whose response describes the version it sent (size, ETag, checksum) return
        that: the engine checks it against the listing (a difference means the file
        changed in between) and verifies the bytes with its checksum. Others return None.
        """
        with open(local_path, "wb") as out:
            for chunk in self.iter_chunks(path, size):
                out.write(chunk)
        return None

    def download_many(
        self, files: Iterable[tuple[str, str, int | None]]
    ) -> Iterator[tuple[str, FileInfo | None]]:
        """Fetch each ``(path, local_path, size)`` of ``files`` like ``download_file`` and
        yield ``(path, what download_file would return)`` once that file is complete.

        ``files`` is consumed lazily (the engine hands out work as connections free up)
        and yields may come in any order. The first failure is raised; the engine fetches
        every file it handed over and got no yield for on its own. The default fetches
        one file after the other; stores that can do better set ``batches_downloads``.
        """
        for path, local_path, size in files:
            yield path, self.download_file(path, local_path, size)

    def walk_files(self, path: str = "") -> builtins.list[FileInfo]:
        """Every file below ``path``, recursively."""
        return [f for f in self.list(path, recursive=True) if not f.is_dir]

    # -- writing -----------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        raise self._read_only("upload_file")

    def upload_dir(self, local_dir: str, path: str = "") -> None:
        """Upload every file under ``local_dir`` to ``path``, keeping relative layout.

        ``local_dir`` is read by the rule downloads from a local directory follow
        (:mod:`federate.repos.local_tree`): links inside it are followed, links leaving it
        and devices, FIFOs and sockets are refused before anything is uploaded."""
        files = [entry for entry in walk(Path(local_dir)) if not entry.is_dir]
        for entry in files:
            self.upload_file(entry.path, f"{path}/{entry.rel}" if path else entry.rel)

    def delete(self, path: str = "") -> None:
        raise self._read_only("delete")

    def _read_only(self, op: str) -> FederateError:
        return FederateError(
            f"{type(self).__name__} is read-only: {op} is not supported by this store.",
            NOT_IMPLEMENTED,
        )
