"""Interrupted downloads resume from their record, only when provably the same version."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import federate
from federate.testing.http import FileServer

MiB = 1024 * 1024
ROOT = Path(federate.__file__).resolve().parents[1]
SIZE = 8 * MiB + 11


@pytest.fixture
def big(
    http_server: FileServer, federate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> FileServer:
    """Runs after federate_home, which clears FEDERATE_* settings."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "512KiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1MiB")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "4")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
    (http_server.directory / "model").mkdir()
    (http_server.directory / "model" / "weights.bin").write_bytes(os.urandom(SIZE))
    return http_server


def recorded_ranges(parent: Path) -> list[tuple[int, int, int]]:
    """``(start, bytes written, crc)`` of every range the records under ``parent`` hold."""
    found: list[tuple[int, int, int]] = []
    for record in parent.glob(".*.partial/records/*.json"):
        with contextlib.suppress(ValueError, KeyError, OSError):  # mid-rename
            found += [tuple(r) for r in json.loads(record.read_text())["ranges"]]
    return found


def finished_ranges(parent: Path, chunk: int = 512 * 1024, size: int = SIZE) -> int:
    return sum(n == min(chunk, size - s) for s, n, _ in recorded_ranges(parent))


def start_download(url: str, dst: Path) -> subprocess.Popen[bytes]:
    code = "import sys, federate; federate.download(sys.argv[1], sys.argv[2])"
    return subprocess.Popen(
        [sys.executable, "-c", code, url, str(dst)], cwd=ROOT, env=dict(os.environ)
    )


def interrupt_midway(server: FileServer, url: str, dst: Path, sig: int) -> int:
    """Stop a download once its record shows finished ranges; return how many it shows."""
    server.faults.rate = MiB  # per response: 4 MiB/s over 4 workers, ~2 s in all
    proc = start_download(url, dst)
    deadline = time.monotonic() + 20
    while finished_ranges(dst.parent) < 1:
        assert proc.poll() is None, "the download finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=20)
    server.faults.rate = 0
    server.wait_idle()
    return finished_ranges(dst.parent)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_download_resumes_with_what_is_missing(big, federate_home, tmp_path, sig):
    url, dst = big.url("model/"), tmp_path / "out"
    recorded = interrupt_midway(big, url, dst, sig)
    assert recorded >= 1 and not dst.exists()
    assert list(tmp_path.glob(".out.*.partial/tree/weights.bin.incomplete"))
    kept = sum(n for _, n, _ in recorded_ranges(tmp_path))
    first = big.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    second = big.bytes_sent("/model/weights.bin") - first
    assert (dst / "weights.bin").read_bytes() == (big.directory / "model/weights.bin").read_bytes()
    assert second == SIZE - kept  # every byte recorded was reused, nothing else
    assert kept >= recorded * 512 * 1024
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_a_changed_source_is_fetched_whole_again(big, federate_home, tmp_path):
    url, dst = big.url("model/"), tmp_path / "out"
    interrupt_midway(big, url, dst, signal.SIGKILL)
    new = os.urandom(SIZE)  # same size, new bytes: a new ETag and digest
    (big.directory / "model" / "weights.bin").write_bytes(new)
    first = big.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    assert big.bytes_sent("/model/weights.bin") - first == SIZE
    assert (dst / "weights.bin").read_bytes() == new


def test_a_record_that_is_not_whole_is_not_trusted(big, federate_home, tmp_path):
    url, dst = big.url("model/"), tmp_path / "out"
    interrupt_midway(big, url, dst, signal.SIGKILL)
    for record in tmp_path.glob(".out.*.partial/records/*.json"):
        data = json.loads(record.read_text())
        data["ranges"].append([SIZE - 11, 11, 0])  # claims bytes it never wrote
        record.write_text(json.dumps(data))
    first = big.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    assert big.bytes_sent("/model/weights.bin") - first == SIZE
    assert (dst / "weights.bin").read_bytes() == (big.directory / "model/weights.bin").read_bytes()


def test_a_live_owner_is_never_shared_with(big, federate_home, tmp_path):
    url, dst = big.url("model/"), tmp_path / "out"
    interrupt_midway(big, url, dst, signal.SIGKILL)
    (staging,) = tmp_path.glob(".out.*.partial")
    owner = json.loads((staging / "owner.json").read_text())
    owner["pid"] = os.getpid()  # pretend its writer is alive (this very process)
    (staging / "owner.json").write_text(json.dumps(owner))
    before = sorted(p.name for p in (staging / "records").iterdir())
    federate.download(url, dst)
    assert (dst / "weights.bin").read_bytes() == (big.directory / "model/weights.bin").read_bytes()
    assert sorted(p.name for p in (staging / "records").iterdir()) == before


def test_bytes_a_machine_crash_lost_are_fetched_again(big, federate_home, tmp_path):
    """Records are not fsynced (nor the data before them): after a crash of the machine a
    record may claim a range whose bytes never reached the disk. Such a range reads back
    as zeros (a preallocated file) and fails its CRC: it is fetched again, the rest reused."""
    url, dst = big.url("model/"), tmp_path / "out"
    recorded = interrupt_midway(big, url, dst, signal.SIGKILL)
    (record,) = tmp_path.glob(".out.*.partial/records/*.json")
    start, length, _crc = json.loads(record.read_text())["ranges"][0]
    (part,) = tmp_path.glob(".out.*.partial/tree/weights.bin.incomplete")
    with open(part, "r+b") as f:
        f.seek(start)
        f.write(bytes(length))  # the range's blocks as an unwritten extent reads them
    first = big.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    second = big.bytes_sent("/model/weights.bin") - first
    assert (dst / "weights.bin").read_bytes() == (big.directory / "model/weights.bin").read_bytes()
    assert length <= second <= SIZE - (recorded - 1) * 512 * 1024


BIG = 48 * MiB


@pytest.fixture
def big48(
    http_server: FileServer, federate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> FileServer:
    """A 48 MiB file: 6 ranges of the default 8 MiB, all in flight at once."""
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "8")
    (http_server.directory / "model").mkdir()
    (http_server.directory / "model" / "weights.bin").write_bytes(os.urandom(BIG))
    return http_server


def on_disk(dst: Path) -> int:
    """Bytes the download into ``dst`` has written: each 8 MiB range fills its blocks in
    order from its start, and a block of random bytes is never all zeros."""
    parts = list(dst.parent.glob(f".{dst.name}.*.partial/tree/weights.bin.incomplete"))
    if not parts:
        return 0
    data, block, total = parts[0].read_bytes(), 64 * 1024, 0
    zero = bytes(block)
    for start in range(0, len(data), 8 * MiB):
        for offset in range(start, min(start + 8 * MiB, len(data)), block):
            if data[offset : offset + block] == zero[: len(data[offset : offset + block])]:
                break
            total += min(block, len(data) - offset)
    return total


def kill_after(url: str, dst: Path, landed: int) -> subprocess.Popen[bytes]:
    """SIGKILL a download once ``landed`` bytes are on disk."""
    proc = start_download(url, dst)
    deadline = time.monotonic() + 60
    while on_disk(dst) < landed:
        assert proc.poll() is None, "the download finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=20)
    return proc


def killed(server: FileServer, url: str, dst: Path, landed: int) -> list[tuple[int, int, int]]:
    """The records a download killed after ``landed`` bytes left."""
    kill_after(url, dst, landed)
    server.faults.rate = 0
    server.wait_idle()
    return recorded_ranges(dst.parent)


def test_a_kill_with_every_range_in_flight_keeps_what_each_range_wrote(big48, tmp_path):
    """Killed a third of the way through, no 8 MiB range finished: the rerun asks only
    for what each range had not written yet."""
    url, dst = big48.url("model/"), tmp_path / "out"
    big48.faults.rate = MiB  # per response: 6 ranges, 6 MiB/s
    ranges = killed(big48, url, dst, BIG // 3)
    assert len(ranges) == 6 and all(0 < n < 8 * MiB for _, n, _ in ranges), ranges
    kept = sum(n for _, n, _ in ranges)
    first = big48.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    second = big48.bytes_sent("/model/weights.bin") - first
    source = (big48.directory / "model/weights.bin").read_bytes()
    assert (dst / "weights.bin").read_bytes() == source
    assert second == BIG - kept
    assert second < 0.8 * BIG


def test_a_kill_at_any_moment_loses_only_the_last_moment(big48, tmp_path):
    url = big48.url("model/")
    source = (big48.directory / "model/weights.bin").read_bytes()
    for attempt in range(3):
        dst = tmp_path / f"out{attempt}"
        big48.faults.rate = 2 * MiB  # per response: 12 MiB/s
        at = random.randrange(12 * MiB, 40 * MiB)
        kept = sum(n for _, n, _ in killed(big48, url, dst, at))
        # the record is at most SAVE_EVERY_S (0.5 s, 6 MiB here) behind the disk
        assert kept >= at - 8 * MiB, (at, kept)
        first = big48.bytes_sent("/model/weights.bin")
        federate.download(url, dst)
        second = big48.bytes_sent("/model/weights.bin") - first
        assert (dst / "weights.bin").read_bytes() == source, at
        assert second == BIG - kept, at
