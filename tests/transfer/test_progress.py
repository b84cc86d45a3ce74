"""Progress: events for programs, a bar only on a terminal, bounded memory for big files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import federate
from federate.testing.http import FileServer
from federate.testing.terminal import stderr_on_terminal

ROOT = Path(federate.__file__).resolve().parents[1]
MiB = 1024 * 1024


@pytest.fixture
def model(
    http_server: FileServer, federate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> FileServer:
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    (http_server.directory / "m").mkdir()
    (http_server.directory / "m" / "big.bin").write_bytes(os.urandom(6 * MiB))
    for i in range(5):
        (http_server.directory / "m" / f"small-{i}.txt").write_text(str(i) * 100)
    return http_server


def test_a_callback_sees_bytes_and_files_to_the_end(model, federate_home, tmp_path):
    events = []
    federate.download(model.url("m/"), tmp_path / "out", progress=events.append)
    last = events[-1]
    total = 6 * MiB + 500
    assert (last.bytes_done, last.bytes_total, last.files_done, last.files_total) == (
        total,
        total,
        6,
        6,
    )
    assert last.finished
    done = [e.bytes_done for e in events]
    assert done == sorted(done)


def cli_download(url: str, dst: Path, *flags: str, terminal: bool) -> str:
    """Run ``federate download`` with stderr on a pseudo-terminal or a pipe; return stderr."""
    main = "import sys; from federate.cli import cli; cli(sys.argv[1:], prog_name='federate')"
    cmd = [sys.executable, "-c", main, "download", *flags, url, str(dst)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not terminal:
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr.decode()
    code, drawn = stderr_on_terminal(cmd, env, timeout=60)
    assert code == 0
    return drawn


def test_the_bar_shows_on_a_terminal_only_and_never_with_quiet(model, federate_home, tmp_path):
    model.faults.rate = 8 * MiB  # slow enough for the bar to draw more than once
    shown = cli_download(model.url("m/"), tmp_path / "a", terminal=True)
    assert "%|" in shown and "files" in shown
    assert cli_download(model.url("m/"), tmp_path / "b", "--quiet", terminal=True) == ""
    assert cli_download(model.url("m/"), tmp_path / "c", terminal=False) == ""


def test_memory_stays_bounded_for_a_large_file(http_server, federate_home, tmp_path):
    size = 512 * MiB
    with open(http_server.directory / "big.bin", "wb") as f:
        f.truncate(size)  # sparse: the server reads zeros without disk traffic
        f.seek(size // 2)
        f.write(os.urandom(MiB))
    http_server.send_digest = False
    # VmHWM, the peak of this process's own memory: ru_maxrss would include the forking
    # parent's size (Linux carries it across exec)
    code = (
        "import sys, federate; federate.download(sys.argv[1], sys.argv[2]);"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dst = tmp_path / "out" / "big.bin"  # a single file lands inside the destination
    out = subprocess.run(
        [sys.executable, "-c", code, http_server.url("big.bin"), str(dst.parent)],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    peak_mib = int(out.stdout.split()[-1]) / 1024
    assert dst.stat().st_size == size
    assert peak_mib < 120, f"peak RSS {peak_mib:.0f} MiB"
