"""CRC32C as Google Cloud Storage spells it (base64 of the big-endian digest), of bytes
as they pass and of local files: what downloads are checked and uploads are sent with."""

from __future__ import annotations

import base64
from typing import IO


class Crc32cSink:
    """A writable file wrapper that keeps the CRC32C (as GCS spells it) of what passed."""

    def __init__(self, out: IO[bytes]) -> None:
        import google_crc32c

        self._out = out
        self._checksum = google_crc32c.Checksum()

    def write(self, data: bytes) -> int:
        self._checksum.update(data)
        return self._out.write(data)

    def crc32c(self) -> str:
        return base64.b64encode(self._checksum.digest()).decode("ascii")


def crc32c_of_file(local_path: str, block_size: int = 1 << 20) -> str:
    """The base64 CRC32C of a local file, comparable with ``GcsObject.crc32c``."""
    import google_crc32c

    checksum = google_crc32c.Checksum()
    with open(local_path, "rb") as f:
        for block in iter(lambda: f.read(block_size), b""):
            checksum.update(block)
    return base64.b64encode(checksum.digest()).decode("ascii")
