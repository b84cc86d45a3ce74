"""Interrupted downloads resume from their record, only when provably the same version."""

from __future__ import annotations

import contextlib
import json
import os
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


def finished_ranges(parent: Path) -> int:
    total = 0
    for record in parent.glob(".*.partial/records/*.json"):
        with contextlib.suppress(ValueError, KeyError, OSError):  # mid-rename
            total += len(json.loads(record.read_text())["ranges"])
    return total


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
    first = big.bytes_sent("/model/weights.bin")
    federate.download(url, dst)
    second = big.bytes_sent("/model/weights.bin") - first
    assert (dst / "weights.bin").read_bytes() == (big.directory / "model/weights.bin").read_bytes()
    assert 0 < second <= SIZE - recorded * 512 * 1024
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
