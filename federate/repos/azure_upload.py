"""The MD5 an Azure upload records on its blob (``Content-MD5``), taken beside the upload.

Downloads check a blob's bytes against its ``Content-MD5`` (the service keeps what the
uploader says; it computes one itself only for a blob put in one request). Taking the MD5
of a large file before uploading it put a whole read and hash of the file (1.4 s of a core
per GiB) in front of the transfer; :class:`FileMd5` hashes it on a thread of its own while
the blocks go up, and the upload records it on the blob once they are committed.
"""

from __future__ import annotations

import threading

from federate.errors import from_os_error
from federate.transfer.checksums import fd_digest


def file_md5(path: str) -> bytes:
    """The MD5 of the file at ``path``; a file that cannot be read raises the
    FederateError :func:`~federate.errors.from_os_error` makes of it."""
    try:
        with open(path, "rb", buffering=0) as f:
            return fd_digest(f, "md5")
    except OSError as err:
        raise from_os_error(err, "read", path) from err


class FileMd5:
    """:func:`file_md5` on a thread started at once; :meth:`digest` waits for it (hashlib
    releases the GIL: the hash runs beside the upload's threads)."""

    def __init__(self, path: str) -> None:
        self._digest: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(path,), name="federate-md5", daemon=True
        )
        self._thread.start()

    def _run(self, path: str) -> None:
        try:
            self._digest = file_md5(path)
        except BaseException as err:  # raised by digest(), on the uploading thread
            self._error = err

    def digest(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest
