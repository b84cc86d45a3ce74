"""The MD5 an Azure upload records on its blob (``Content-MD5``), taken beside the upload.

Downloads check a blob's bytes against its ``Content-MD5`` (the service keeps what the
uploader says; it computes one itself only for a blob put in one request). Taking the MD5
of a large file before uploading it put a whole read and hash of the file (1.4 s of a core
per GiB) in front of the transfer; :class:`FileMd5` hashes it on a thread of its own while
the blocks go up, and the upload records it on the blob once they are committed.
"""

from __future__ import annotations

import hashlib
import threading

from federate.errors import from_os_error

_MiB = 1024 * 1024


class FileMd5:
    """The MD5 of the file at ``path``, hashed on a thread started at once; :meth:`digest`
    waits for it (hashlib releases the GIL: the hash runs beside the upload's threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="federate-md5", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(_MiB), b""):
                    self._md5.update(block)
        except OSError as err:
            self._error = err

    def digest(self) -> bytes:
        """The 16-byte digest; a file that could not be read raises the FederateError
        :func:`~federate.errors.from_os_error` makes of it."""
        self._thread.join()
        if self._error is not None:
            raise from_os_error(self._error, "read", self.path) from self._error
        return self._md5.digest()
