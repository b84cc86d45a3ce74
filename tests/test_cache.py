"""The model cache: fetched once, served from disk, offline, shared by concurrent processes."""

from __future__ import annotations

import hashlib
import json
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
    assert res.exit_code == 0 and "m\t1\t3.0 MiB\t2\tused 0.0d ago" in res.stdout
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
    assert "m\t1\t" in res.output and "partial: interrupted 0.0d ago, resumes" in res.output
    res = runner.invoke(cli, ["cache", "prune", "--older-than", "1d"], catch_exceptions=False)
    assert "removed" not in res.output  # fresh: kept for a resume
    res = runner.invoke(cli, ["cache", "prune", "--max-size", "1B"], catch_exceptions=False)
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


def _cache_root() -> Path:
    return Path(os.environ["FEDERATE_HOME"]) / "cache"


def _gets(server: FileServer) -> int:
    return sum(a.method == "GET" for a in server.access_log)


def test_editing_a_downloaded_file_never_reaches_the_cache(remote_model, tmp_path):
    original = tree_digest(remote_model.directory / "m1")
    federate.download("models:/m/1", tmp_path / "a")
    edited = tmp_path / "a" / "weights.bin"
    with open(edited, "r+b") as f:  # as root, read-only bits would not have stopped this
        f.write(b"EDITED")
    f_size = edited.stat().st_size
    with open(edited, "ab") as f:
        f.write(b"more")
    assert edited.stat().st_size == f_size + 4
    fetched = len(remote_model.access_log)
    assert tree_digest(federate.download("models:/m/1", tmp_path / "b")) == original
    assert tree_digest(federate.download("models:/m/1")) == original  # the snapshot itself
    assert len(remote_model.access_log) == fetched  # served from the cache, untouched
    blob = _cache_root() / "blobs" / "sha256" / original["weights.bin"]
    assert not os.path.samefile(blob, edited)
    assert not os.path.samefile(blob, tmp_path / "b" / "weights.bin")


def test_hard_links_are_opt_in_and_an_edit_through_one_is_fetched_again(
    remote_model, tmp_path, monkeypatch
):
    original = tree_digest(remote_model.directory / "m1")
    reg = federate.get_registry()
    reg.create_model_version("m", source=remote_model.url("m1/"))  # version 2, same files
    monkeypatch.setenv("FEDERATE_CACHE_LINK", "hardlink")
    federate.download("models:/m/1", tmp_path / "a")
    federate.download("models:/m/2", tmp_path / "a2")
    blob = _cache_root() / "blobs" / "sha256" / original["weights.bin"]
    assert os.path.samefile(blob, tmp_path / "a" / "weights.bin")  # asked for: shared
    with open(tmp_path / "a" / "weights.bin", "r+b") as f:
        f.write(b"EDITED")  # changes the cache too: it has to notice
    fetched = _gets(remote_model)
    assert tree_digest(federate.download("models:/m/1", tmp_path / "b")) == original
    assert _gets(remote_model) > fetched  # the damaged version was fetched again
    fetched = _gets(remote_model)
    assert tree_digest(federate.download("models:/m/2")) == original  # shared the bad blob
    assert _gets(remote_model) > fetched
    monkeypatch.setenv("FEDERATE_CACHE_LINK", "symlink")
    with raises_federate_error("INVALID_PARAMETER_VALUE", "FEDERATE_CACHE_LINK", "hardlink"):
        federate.download("models:/m/1", tmp_path / "c")


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_a_blob_changed_on_disk_is_fetched_again_not_served(remote_model, tmp_path, damage):
    original = tree_digest(remote_model.directory / "m1")
    federate.download("models:/m/1", tmp_path / "a")
    blob = _cache_root() / "blobs" / "sha256" / original["weights.bin"]
    with open(blob, "r+b") as f:
        if damage == "truncate":
            f.truncate(1000)
        else:
            f.seek(12345)
            f.write(b"\0" * 16)
    fetched = _gets(remote_model)
    assert tree_digest(federate.download("models:/m/1", tmp_path / "b")) == original
    assert _gets(remote_model) > fetched
    assert tree_digest(federate.download("models:/m/1")) == original
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == original["weights.bin"]


def test_offline_a_damaged_version_is_refused_not_served(remote_model, tmp_path, monkeypatch):
    federate.download("models:/m@champion", tmp_path / "a")
    snapshot = Path(federate.download("models:/m/1"))
    with open(snapshot / "MLmodel", "ab") as f:
        f.write(b"# edited\n")
    monkeypatch.setenv("FEDERATE_OFFLINE", "1")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "FEDERATE_OFFLINE", "changed after"):
        federate.download("models:/m@champion", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_cache_verify_finds_a_bit_flip_that_keeps_size_and_time(remote_model, tmp_path):
    original = tree_digest(remote_model.directory / "m1")
    federate.download("models:/m/1", tmp_path / "a")
    runner = CliRunner()
    res = runner.invoke(cli, ["cache", "verify"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "checked 1 versions (2 files) and 2 blobs: nothing damaged" in res.output
    blob = _cache_root() / "blobs" / "sha256" / original["weights.bin"]
    before = blob.stat()
    with open(blob, "r+b") as f:
        f.seek(4321)
        byte = f.read(1)
        f.seek(4321)
        f.write(bytes([byte[0] ^ 1]))
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and time as recorded
    res = runner.invoke(cli, ["cache", "verify"], catch_exceptions=False)
    assert res.exit_code == 1, res.output
    assert f"damaged blob: sha256/{original['weights.bin']} (bytes do not match" in res.output
    assert "damaged m/1: weights.bin (sha256 differs from when it was cached); removed" in (
        res.output
    )
    assert "2 damaged" in res.output
    assert not blob.exists()
    fetched = _gets(remote_model)
    assert tree_digest(federate.download("models:/m/1", tmp_path / "b")) == original
    assert _gets(remote_model) > fetched
    res = runner.invoke(cli, ["cache", "verify", "--json"], catch_exceptions=False)
    assert res.exit_code == 0
    assert json.loads(res.output) == {"versions": 1, "files": 2, "blobs": 2, "damaged": []}


_DOWNLOADER = """
import sys
import time
from pathlib import Path

import federate
from federate.testing.trees import tree_digest

uri, out, rounds, want = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for i in range(rounds):
    time.sleep(0.005 * (i % 3))  # gaps in which prune finds the version unused
    dst = out / str(i)
    try:
        federate.download(uri, dst)
    except federate.FederateError as err:
        print("error", err.error_code, err, flush=True)
        continue
    got = tree_digest(dst)
    print("ok" if repr(sorted(got.items())) == want else f"WRONG {i} {len(got)} files", flush=True)
"""

_PRUNER = """
import sys
from pathlib import Path

from federate.cache import ModelCache

stop = Path(sys.argv[1])
pruned = 0
while not stop.exists():
    pruned += len(ModelCache().prune(0.0, 0))
print(pruned)
"""


def test_prune_racing_downloads_never_installs_a_partial_model(federate_home, tmp_path):
    """Downloads (materializing and filling) while another process prunes everything
    over and over: each download is the whole tree, byte-equal, or a FederateError."""
    model = tmp_path / "many"
    for d in range(6):
        (model / f"d{d}").mkdir(parents=True)
        for f in range(25):
            (model / f"d{d}" / f"f{f}.bin").write_bytes(os.urandom(2000 + 97 * f))
    reg = federate.get_registry()
    reg.create_registered_model("many")
    reg.create_model_version("many", source=model.as_uri())
    want = repr(sorted(tree_digest(model).items()))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stop = tmp_path / "stop"
    pruner = subprocess.Popen(
        [sys.executable, "-c", _PRUNER, str(stop)], env=env, stdout=subprocess.PIPE, text=True
    )
    downloaders = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _DOWNLOADER,
                "models:/many/1",
                str(tmp_path / f"out{n}"),
                "15",
                want,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    results = []
    for proc in downloaders:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.extend(out.splitlines())
    stop.touch()
    pruned, _ = pruner.communicate(timeout=60)
    assert pruner.returncode == 0
    assert int(pruned) > 0  # it did race them
    assert len(results) == 45
    assert [r for r in results if not r.startswith(("ok", "error"))] == []
    assert sum(r == "ok" for r in results) > 0


def test_a_destination_that_cannot_take_the_files_is_refused_before_fetching(
    remote_model, tmp_path
):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old.txt").write_text("old")
    with raises_federate_error("RESOURCE_ALREADY_EXISTS", str(busy), "not empty"):
        federate.download("models:/m/1", busy)
    assert remote_model.access_log == []  # refused before fetching, not after
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with raises_federate_error("INVALID_PARAMETER_VALUE", f"{a_file} is a file, not a directory"):
        federate.download("models:/m/1", a_file / "sub" / "dst")
    with raises_federate_error("INVALID_PARAMETER_VALUE", f"Destination {a_file} is a file"):
        federate.download("models:/m/1", a_file)
    with raises_federate_error("INVALID_PARAMETER_VALUE", f"{a_file} is a file, not a directory"):
        federate.download(remote_model.url("m1/"), a_file / "dst")  # a storage URI too
    assert remote_model.access_log == []  # not one request
    assert list(_cache_root().glob("snapshots/*/*/*")) == []
    assert list(_cache_root().glob("blobs/*/*")) == []
    assert sorted(os.listdir(busy)) == ["old.txt"] and a_file.read_text() == "x"
    if os.geteuid() != 0:  # root writes into read-only directories
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with raises_federate_error("PERMISSION_DENIED", f"{locked} is not writable"):
            federate.download("models:/m/1", locked / "dst")
        assert remote_model.access_log == []


def test_a_read_only_cache_still_serves_offline(remote_model, tmp_path, monkeypatch):
    federate.download("models:/m@champion", tmp_path / "a")
    cache = _cache_root()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(cache), str(cache)]).returncode
    if mounted != 0:
        pytest.skip("needs a read-only bind mount (root in a container that allows mount)")
    try:
        with pytest.raises(OSError):
            (cache / "probe").write_bytes(b"")  # read-only indeed, even for root
        monkeypatch.setenv("FEDERATE_OFFLINE", "1")
        got = federate.download("models:/m@champion", tmp_path / "b")
        assert tree_digest(got) == tree_digest(remote_model.directory / "m1")
    finally:
        subprocess.run(["umount", str(cache)], check=True)


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
