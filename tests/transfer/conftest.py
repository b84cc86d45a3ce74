"""A local store that reports checksums and ETags and counts its reads, like a cloud store."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from federate.entities import FileInfo
from federate.repos.local import LocalArtifactRepository


class CountingStore(LocalArtifactRepository):
    """The real local repository, plus what object stores report (sha256, ETag) and a
    tally of the reads the engine makes."""

    def __init__(self, root: str, checksums: dict[str, str] | None = None) -> None:
        super().__init__(root)
        self.checksums = checksums
        self.ranges: list[tuple[str, int, int]] = []
        self.whole: list[str] = []
        self._lock = threading.Lock()

    def _describe(self, info: FileInfo) -> FileInfo:
        if info.is_dir:
            return info
        full = self._full(info.path)
        if self.checksums is not None and info.path in self.checksums:
            checksum: str | None = self.checksums[info.path]
        else:
            checksum = f"sha256:{hashlib.sha256(full.read_bytes()).hexdigest()}"
        st = full.stat()
        return FileInfo(
            info.path, False, info.file_size, checksum, f"{st.st_mtime_ns}-{st.st_size}"
        )

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        return [self._describe(i) for i in super().list(path, recursive)]

    def stat(self, path: str = "") -> FileInfo:
        return self._describe(super().stat(path))

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with self._lock:
            self.ranges.append((path, start, length))
        return super().read_range(path, start, length)

    def iter_range(self, path: str, start: int, length: int):
        # through read_range, which the tests' stores count and break on purpose
        yield self.read_range(path, start, length)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        with self._lock:
            self.whole.append(path)
        super().download_file(path, local_path, size)


class TruncatingStore(CountingStore):
    """A store whose ranged reads stop short: the file is shorter than it lists."""

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return super().read_range(path, start, length)[: max(0, length - 100)]


@pytest.fixture
def counting() -> type[CountingStore]:
    return CountingStore


@pytest.fixture
def truncating() -> type[CountingStore]:
    return TruncatingStore


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "sub").mkdir(parents=True)
    (root / "big.bin").write_bytes(bytes(range(256)) * (4 * 4096 + 3))  # 4 MiB + 768 B
    (root / "sub" / "small.txt").write_text("small")
    (root / "empty").write_bytes(b"")
    return root


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB ranges from 2 MiB up, fast retries: big.bin becomes 5 ranges."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")


class Throttled(Exception):
    """An SDK's own throttling error, which only the store knows to be transient."""


class ThrottlingStore(CountingStore):
    """Refuses the first ``refusals`` reads with :class:`Throttled`, then serves."""

    refusals = 2

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with self._lock:
            self.refusals -= 1
            refuse = self.refusals >= 0
        if refuse:
            raise Throttled("SlowDown")
        return super().read_range(path, start, length)

    def is_transient_error(self, err: BaseException) -> bool:
        return isinstance(err, Throttled) or super().is_transient_error(err)


@pytest.fixture
def throttling() -> type[CountingStore]:
    return ThrottlingStore
