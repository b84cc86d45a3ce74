"""The model cache: fetched once, served from disk, offline, shared by concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import federate
from federate.cli import cli
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer
from federate.testing.trees import tree_digest

ROOT = Path(federate.__file__).resolve().parents[1]
MiB = 1024 * 1024


@pytest.fixture
def remote_model(http_server: FileServer, federate_home: Path, monkeypatch) -> FileServer:
    """Version 1 of model "m" (alias champion) lives on the HTTP server: 3 MiB + a small file."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    model = http_server.directory / "m1"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(3 * MiB + 1))
    (model / "MLmodel").write_text("flavors: {}\n")
    reg = federate.get_registry()
    reg.create_registered_model("m")
    reg.create_model_version("m", source=http_server.url("m1/"))
    reg.set_registered_model_alias("m", "champion", 1)
    return http_server


def test_a_version_is_fetched_once_then_served_from_the_cache(remote_model, tmp_path):
    first = federate.download("models:/m@champion", tmp_path / "a")
    fetched = len(remote_model.access_log)
    second = federate.download("models:/m/1", tmp_path / "b")
    assert len(remote_model.access_log) == fetched  # not a single request
    assert tree_digest(first) == tree_digest(second) == tree_digest(remote_model.directory / "m1")
    cache = Path(os.environ["FEDERATE_HOME"]) / "cache"
    blobs = sorted(p.name for p in (cache / "blobs" / "sha256").iterdir())
    assert blobs == sorted(tree_digest(second).values())
    snapshot = Path(federate.download("models:/m@champion"))
    assert snapshot == next((cache / "snapshots").glob("*/m/1"))
    assert (snapshot / "weights.bin").stat().st_ino == (
        cache / "blobs" / "sha256" / tree_digest(snapshot)["weights.bin"]
    ).stat().st_ino


def test_versions_with_the_same_files_share_blobs(remote_model, tmp_path):
    reg = federate.get_registry()
    reg.create_model_version("m", source=remote_model.url("m1/"))  # version 2, same files
    federate.download("models:/m/1", tmp_path / "a")
    federate.download("models:/m/2", tmp_path / "b")
    blobs = list((Path(os.environ["FEDERATE_HOME"]) / "cache" / "blobs" / "sha256").iterdir())
    assert len(blobs) == 2


def test_offline_serves_the_cache_and_names_what_is_missing(remote_model, tmp_path, monkeypatch):
    federate.download("models:/m@champion", tmp_path / "a")
    remote_model.stop()  # no network from here on
    monkeypatch.setenv("FEDERATE_OFFLINE", "1")
    got = federate.download("models:/m@champion", tmp_path / "b")
    assert tree_digest(got) == tree_digest(tmp_path / "a")
    assert tree_digest(federate.download("models:/m/1")) == tree_digest(tmp_path / "a")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "FEDERATE_OFFLINE", "models:/m@prod"):
        federate.download("models:/m@prod", tmp_path / "c")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "FEDERATE_OFFLINE", "version 7"):
        federate.download("models:/m/7", tmp_path / "d")
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_eight_processes_fetch_the_version_once(remote_model, tmp_path):
    code = "import sys, federate; print(federate.download('models:/m@champion', sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / f"out{i}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    size = (remote_model.directory / "m1" / "weights.bin").stat().st_size
    assert remote_model.bytes_sent("/m1/weights.bin") == size  # one network fetch
    assert sum(a.method == "GET" for a in remote_model.access_log if a.path == "/m1/MLmodel") == 1
    digests = [tree_digest(tmp_path / f"out{i}") for i in range(8)]
    assert all(d == tree_digest(remote_model.directory / "m1") for d in digests)


def test_cache_ls_and_prune(remote_model, tmp_path):
    federate.download("models:/m@champion", tmp_path / "a")
    runner = CliRunner()
    res = runner.invoke(cli, ["cache", "ls"], catch_exceptions=False)
    assert res.exit_code == 0 and "m/1\t3.0 MiB\t2 files" in res.output
    res = runner.invoke(cli, ["cache", "prune", "--older-than", "1d"], catch_exceptions=False)
    assert "removed" not in res.output
    res = runner.invoke(cli, ["cache", "prune", "--max-size", "1MiB"], catch_exceptions=False)
    assert res.exit_code == 0 and "removed" in res.output
    cache = Path(os.environ["FEDERATE_HOME"]) / "cache"
    assert list((cache / "blobs" / "sha256").iterdir()) == []
    assert tree_digest(tmp_path / "a") == tree_digest(remote_model.directory / "m1")  # dst kept
    res = runner.invoke(cli, ["cache", "prune"])
    assert res.exit_code == 1 and "--older-than" in res.output


def test_an_interrupted_download_into_the_cache_is_listed_and_pruned(
    remote_model, tmp_path, monkeypatch
):
    from federate.errors import TEMPORARILY_UNAVAILABLE

    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "1")
    remote_model.faults.drop_after["/m1/weights.bin"] = [1000, 100]  # the HEAD has no body
    with raises_federate_error(TEMPORARILY_UNAVAILABLE):
        federate.download("models:/m@champion", tmp_path / "a")
    runner = CliRunner()
    res = runner.invoke(cli, ["cache", "ls"], catch_exceptions=False)
    assert "m/1\t" in res.output and "partial: interrupted 0.0d ago, resumes" in res.output
    res = runner.invoke(cli, ["cache", "prune", "--older-than", "1d"], catch_exceptions=False)
    assert "removed" not in res.output  # fresh: kept for a resume
    res = runner.invoke(cli, ["cache", "prune", "--max-size", "1"], catch_exceptions=False)
    assert res.exit_code == 0 and "removed" in res.output and ".partial" in res.output
    assert "partial" not in runner.invoke(cli, ["cache", "ls"]).output
    remote_model.faults.drop_after.clear()
    federate.download("models:/m@champion", tmp_path / "b")
    assert tree_digest(tmp_path / "b") == tree_digest(remote_model.directory / "m1")


def test_a_download_in_progress_is_never_pruned(remote_model, tmp_path):
    from federate.cache import ModelCache
    from federate.config import registry_config
    from federate.transfer.staging import Staging

    cache = ModelCache()
    snap = cache.snapshot(registry_config(None, None).uri, "m", 1)
    snap.path.parent.mkdir(parents=True)
    staging = Staging.open(snap.path, "http://example.invalid/m1/")  # owned by this process
    (staging.tree / "weights.bin.incomplete").write_bytes(b"x" * 1000)
    (part,) = cache.partials()
    assert part["active"] and part["version"] == "1" and part["name"] == "m"
    assert cache.prune(0.0, 0) == []
    assert staging.path.exists()
    staging.release()  # handed back, as after Ctrl-C
    assert not cache.partials()[0]["active"]
    assert cache.prune(None, 0) == [f"{snap.registry_id}/m/{staging.path.name}"]


def test_an_unusable_cache_directory_is_one_error_naming_it_and_federate_home(
    remote_model, federate_home, tmp_path
):
    # a regular file where the cache directory goes: unwritable even for root
    (federate_home / "cache").write_text("not a directory")
    with raises_federate_error(
        INVALID_PARAMETER_VALUE,
        f"Cannot write to the cache directory {federate_home / 'cache'}",
        "set FEDERATE_HOME",
    ):
        federate.download("models:/m@champion", tmp_path / "api")
    res = run_federate("download", "models:/m/1", str(tmp_path / "cli"))
    assert res.returncode == 1 and res.stdout == "" and res.stderr.count("\n") == 1
    assert "cache directory" in res.stderr and "FEDERATE_HOME" in res.stderr
    assert "[INVALID_PARAMETER_VALUE]" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
