"""federate mirror: versions fetched into this host's cache, now, every interval as an
alias moves, or as a job on a worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import federate
from federate.cli.root import cli
from federate.config import registry_config
from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.jobs.entities import FAILED, PENDING, SUCCEEDED
from federate.jobs.store import JobStore
from federate.jobs.worker import Worker

ROOT = Path(federate.__file__).resolve().parents[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _offline(uri: str, dst: Path) -> dict[str, bytes]:
    """What a download of ``uri`` serves from the cache alone."""
    os.environ["FEDERATE_OFFLINE"] = "1"
    try:
        return _tree(Path(federate.download(uri, dst)))
    finally:
        del os.environ["FEDERATE_OFFLINE"]


@pytest.fixture
def two_versions(federate_home: Path, model_tree: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """churn 1 (@champion) and churn 2 (other files) in the default registry."""
    second = tmp_path / "second"
    second.mkdir()
    (second / "MLmodel").write_text("flavors: {}\n")
    (second / "weights.bin").write_bytes(os.urandom(300_000))
    federate.register(model_tree, "churn", alias="champion")
    federate.register(second, "churn")
    return model_tree, second


def test_mirror_caches_what_each_uri_names_for_offline_use(two_versions, tmp_path):
    first, second = two_versions
    done = federate.mirror(["models:/churn@champion", "models:/churn/latest"], progress=False)
    assert [(m.uri, m.name, m.version) for m in done] == [
        ("models:/churn@champion", "churn", 1),
        ("models:/churn/latest", "churn", 2),
    ]
    assert _tree(Path(done[0].path)) == _tree(first)
    assert _offline("models:/churn/1", tmp_path / "a") == _tree(first)
    assert _offline("models:/churn/2", tmp_path / "b") == _tree(second)


def test_bad_mirrors_are_refused(two_versions):
    with pytest.raises(FederateError) as err:
        federate.mirror(["prompts:/p/1"])
    assert err.value.error_code == INVALID_PARAMETER_VALUE and "prompt URI" in err.value.message
    with pytest.raises(FederateError) as err:
        federate.mirror([])
    assert "at least one models:/ URI" in err.value.message
    result = CliRunner().invoke(cli, ["mirror", "models:/churn/1", "--queue", "--every", "1s"])
    assert result.exit_code == 2 and "--every runs here and cannot be queued" in result.stderr
    result = CliRunner().invoke(cli, ["mirror", "models:/churn/1", "--every", "soon"])
    assert result.exit_code == 1 and "Invalid duration 'soon'" in result.stderr


def test_a_queued_mirror_warms_the_workers_cache(two_versions, tmp_path):
    first, _ = two_versions
    result = CliRunner().invoke(cli, ["mirror", "models:/churn@champion", "--queue"])
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip().splitlines()[-1]
    store = JobStore(registry_config().uri)
    assert store.get(job_id).status == PENDING
    with pytest.raises(FederateError):  # nothing cached by queueing it
        _offline("models:/churn/1", tmp_path / "before")
    assert Worker(store, poll=0.01).run(once=True) == 1
    done = store.get(job_id)
    assert done.status == SUCCEEDED, done.error
    assert json.loads(done.result)["versions"] == [
        {"uri": "models:/churn@champion", "name": "churn", "version": 1}
    ]
    size = sum(len(b) for b in _tree(first).values())
    assert (done.progress.bytes_done, done.progress.bytes_total) == (size, size)
    assert done.progress.files_done == done.progress.files_total == len(_tree(first))
    assert _offline("models:/churn/1", tmp_path / "after") == _tree(first)
    # a model that is not there fails the job at once, naming the URI
    missing = federate.mirror(["models:/nope@champion"], queue=True)
    Worker(store, poll=0.01).run(once=True)
    failed = store.get(missing.id)
    assert (failed.status, failed.retry_count) == (FAILED, 0)
    assert "models:/nope@champion" in failed.error


def _read_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return line.strip()
        if proc.poll() is not None:
            raise AssertionError(f"mirror exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
    raise AssertionError("timed out")


def test_every_follows_the_alias_and_sigterm_exits_0(two_versions, tmp_path):
    first, second = two_versions
    proc = subprocess.Popen(
        [sys.executable, "-m", "federate", "mirror", "models:/churn@champion", "--every", "1s"],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _read_line(proc).startswith("Cached models:/churn@champion (churn version 1) at ")
        federate.get_registry().set_registered_model_alias("churn", "champion", 2)
        assert _read_line(proc).startswith("Cached models:/churn@champion (churn version 2) at ")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        proc.kill()
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    assert _offline("models:/churn/2", tmp_path / "v2") == _tree(second)
    assert _offline("models:/churn/1", tmp_path / "v1") == _tree(first)
