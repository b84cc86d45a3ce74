"""What downloads leave behind: an interrupted one says where it resumes, ``cache ls``
and ``cache prune`` see staging directories beside any destination, ``--dry-run``
removes nothing, ``--max-size`` needs a unit, and a cache hit ends its progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import federate
from federate.testing.cli import python_path
from federate.testing.http import FileServer

MiB = 1024 * 1024


def _interrupted_download(server: FileServer, dst: Path) -> tuple[str, Path]:
    """``federate download`` of a slow 4 MiB file, Ctrl-C'd once bytes have landed."""
    (server.directory / "m").mkdir()
    (server.directory / "m" / "big.bin").write_bytes(os.urandom(4 * MiB))
    server.faults.rate = 512 * 1024
    env = {**os.environ, "PYTHONPATH": python_path(base=os.environ.get("PYTHONPATH"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "federate", "download", "-q", server.url("m/"), str(dst)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    staged: list[Path] = []
    while time.monotonic() < deadline:
        staged = list(dst.parent.glob(f".{dst.name}.*.partial"))
        if staged:
            break
        time.sleep(0.05)
    time.sleep(1)  # a few hundred KiB have landed (of 8 seconds' worth)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (staging,) = staged
    return err, staging


def test_an_interrupted_download_is_found_listed_and_pruned(run, http_server, tmp_path):
    dst = tmp_path / "out"
    err, staging = _interrupted_download(http_server, dst)
    assert f"the partial download is kept in {staging}" in err
    assert "running the same command again resumes it" in err
    assert staging.is_dir() and not dst.exists()

    listed = json.loads(run("cache", "ls", "--json").stdout)["staging"]
    assert [(s["path"], s["destination"], s["active"]) for s in listed] == [
        (str(staging), str(dst), False)
    ]
    table = run("cache", "ls", "--no-header").stdout
    assert f"interrupted 0.0d ago, resumes on the next download into {dst}\t{staging}" in table

    res = run("cache", "prune", "--older-than", "0s", "--dry-run")
    assert res.exit_code == 0 and f"would remove {staging}" in res.stdout
    assert staging.is_dir()  # a dry run removes nothing
    res = run("cache", "prune", "--older-than", "0s")
    assert res.exit_code == 0 and f"removed {staging}" in res.stdout
    assert not staging.exists()
    assert json.loads(run("cache", "ls", "--json").stdout)["staging"] == []


def test_a_finished_download_leaves_nothing_to_list(run, http_server, tmp_path):
    (http_server.directory / "m").mkdir()
    (http_server.directory / "m" / "a.txt").write_text("a")
    federate.download(http_server.url("m/"), tmp_path / "out", progress=False)
    assert json.loads(run("cache", "ls", "--json").stdout)["staging"] == []
    assert list((Path(os.environ["FEDERATE_HOME"]) / "staging").iterdir()) == []


def test_prune_dry_run_lists_and_removes_nothing(run, model_tree, tmp_path):
    run("register", str(model_tree), "iris")
    run("download", "models:/iris/1", str(tmp_path / "a"))
    before = json.loads(run("cache", "ls", "--json").stdout)
    res = run("cache", "prune", "--max-size", "1B", "--dry-run")
    assert res.exit_code == 0
    assert res.stdout.splitlines()[0].startswith("would remove ")
    assert "/iris/1" in res.stdout
    assert json.loads(run("cache", "ls", "--json").stdout) == before
    res = run("cache", "prune", "--max-size", "1B")
    assert res.stdout.splitlines()[0].startswith("removed ")
    assert json.loads(run("cache", "ls", "--json").stdout)["versions"] == []


def test_max_size_without_a_unit_removes_nothing_and_says_so(run, model_tree, tmp_path):
    run("register", str(model_tree), "iris")
    run("download", "models:/iris/1", str(tmp_path / "a"))
    res = run("cache", "prune", "--max-size", "10")
    assert res.exit_code == 1
    assert "--max-size 10 has no unit; nothing was removed" in res.stderr
    assert "10G" in res.stderr and "[INVALID_PARAMETER_VALUE]" in res.stderr
    versions = json.loads(run("cache", "ls", "--json").stdout)["versions"]
    assert [(v["name"], v["version"]) for v in versions] == [("iris", 1)]


def test_a_version_served_from_the_cache_still_sends_a_final_event(
    federate_home, model_tree, tmp_path
):
    federate.register(model_tree, "iris")
    first: list[federate.transfer.progress.ProgressEvent] = []
    federate.download("models:/iris/1", tmp_path / "a", progress=first.append)
    assert first and first[-1].finished
    again: list[federate.transfer.progress.ProgressEvent] = []
    federate.download("models:/iris/1", tmp_path / "b", progress=again.append)
    assert len(again) == 1 and again[-1].finished
    assert (again[-1].bytes_total, again[-1].files_total) == (
        first[-1].bytes_total,
        first[-1].files_total,
    )
    cached: list[federate.transfer.progress.ProgressEvent] = []
    federate.download("models:/iris/1", progress=cached.append)  # no dst: the snapshot
    assert len(cached) == 1 and cached[0].finished


def test_the_quickstart_example_leaves_nothing_behind(tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDERATE_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=python_path())
    example = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"
    out = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "identical to the source" in out.stdout
    assert list(home.iterdir()) == []
    # the SQLite registry's process lock file (federate/registry/sql) is all that stays
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("federate-db-")] == []
