"""Workers: queued copies run once, survive a SIGKILLed worker, stop cleanly on SIGTERM;
the ``federate copy --queue`` and ``federate jobs`` commands."""

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
from federate.jobs.entities import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED
from federate.jobs.store import JobStore
from federate.jobs.worker import Worker
from federate.registries import open_registry
from federate.registry.sql.db import prepare

ROOT = Path(federate.__file__).resolve().parents[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def registries(federate_home: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``team`` (the default) and ``company``, both SQLite with local artifact roots."""
    for name in ("team", "company"):
        (tmp_path / f"{name}-artifacts").mkdir()
    Path("federate.toml").write_text(
        'default_registry = "team"\n'
        + "".join(
            f'[registries.{name}]\nuri = "sqlite:///{tmp_path / name}.db"\n'
            f'artifact_root = "{tmp_path / name}-artifacts"\n'
            for name in ("team", "company")
        )
    )
    for name in ("team", "company"):
        prepare(registry_config(profile=name).uri, create=True)
    return tmp_path


def _queue() -> JobStore:
    return JobStore(registry_config().uri)


def _company_versions(name: str) -> list[int]:
    company = open_registry(registry_config(profile="company"))
    return [mv.version for mv in company.search_model_versions(f"name = '{name}'")]


def test_a_queued_copy_runs_once_with_progress(registries, model_tree):
    federate.register(model_tree, "churn", tags={"k": "v"})
    job = federate.copy("models:/churn/1", "company", alias="prod", queue=True)
    assert job.status == PENDING and _company_versions("churn") == []  # nothing copied yet
    assert Worker(_queue(), poll=0.01).run(once=True) == 1
    done = _queue().get(job.id)
    assert done.status == SUCCEEDED, done.error
    assert json.loads(done.result)["version"] == 1
    total = sum(len(b) for b in _tree(model_tree).values())
    assert (done.progress.bytes_done, done.progress.bytes_total) == (total, total)
    assert done.progress.files_done == done.progress.files_total == len(_tree(model_tree))
    out = federate.download("models://company/churn@prod")
    assert _tree(Path(out)) == _tree(model_tree)
    # the same copy queued again finds the copy: still one version
    federate.copy("models:/churn/1", "company", queue=True)
    Worker(_queue(), poll=0.01).run(once=True)
    assert _company_versions("churn") == [1]


def test_a_missing_source_fails_at_once_naming_the_uri(registries, model_tree):
    federate.register(model_tree, "other")
    job = federate.copy("models:/nope/3", "company", queue=True)
    assert job.max_retries > 0
    Worker(_queue(), poll=0.01).run(once=True)
    failed = _queue().get(job.id)
    assert (failed.status, failed.retry_count) == (FAILED, 0)
    assert "models:/nope/3" in failed.error and "does not exist" in failed.error


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_queue_show_ls_cancel_retry(registries, model_tree):
    federate.register(model_tree, "churn")
    code, out, _ = _cli("copy", "models:/churn/1", "--to", "company", "--queue")
    assert code == 0
    job_id = out.strip().splitlines()[-1]
    code, out, _ = _cli("jobs", "show", job_id, "--json")
    shown = json.loads(out)
    assert shown["id"] == job_id and shown["name"] == "copy" and shown["status"] == PENDING
    assert shown["result"] is None and shown["retry_count"] == 0 and shown["max_retries"] == 3
    assert shown["params"]["src"] == "models:/churn/1" and shown["error"] is None
    assert set(shown["progress"]) == {"bytes_done", "bytes_total", "files_done", "files_total"}
    code, out, _ = _cli("jobs", "ls")
    assert out.splitlines() == [
        "id\tname\tstatus\tbytes\tfiles\tparams",
        f"{job_id}\tcopy\tPENDING\t0/0\t0/0\tsrc=models:/churn/1 to=company",
    ]
    assert _cli("jobs", "cancel", job_id)[1].strip() == f"Job {job_id} is {CANCELED}"
    listed = json.loads(_cli("jobs", "ls", "--status", "CANCELED", "--json")[1])
    assert [j["id"] for j in listed] == [job_id]
    assert json.loads(_cli("jobs", "ls", "--status", "PENDING", "--json")[1]) == []
    assert _cli("jobs", "retry", job_id)[1].strip() == f"Job {job_id} is {PENDING}"
    code, _, err = _cli("jobs", "retry", job_id)
    assert code == 1 and "is PENDING; only a FAILED, TIMEOUT or CANCELED job" in err
    code, _, err = _cli("jobs", "show", "f" * 32)
    assert code == 1 and "No job" in err and "RESOURCE_DOES_NOT_EXIST" in err
    code, out, _ = _cli("copy", "models:/churn/1", "--to", "company", "-q")
    assert code == 0 and "Copied models:/churn/1 to churn version 1" in out


# -- real worker processes ---------------------------------------------------------------------


@pytest.fixture
def slow_source(registries, http_server):  # type: ignore[no-untyped-def]
    """models:/slow/1 in the team registry: files on the test HTTP server, served at
    256 KiB/s (about 6 s for the version)."""
    files = {"weights.bin": os.urandom(1536 * 1024), "MLmodel": b"flavors: {}\n"}
    for path, data in files.items():
        (http_server.directory / "slow" / path).parent.mkdir(parents=True, exist_ok=True)
        (http_server.directory / "slow" / path).write_bytes(data)
    team = open_registry(registry_config(profile="team"))
    team.create_registered_model("slow")
    team.create_model_version("slow", source=http_server.url("slow/"))
    http_server.faults.rate = 256 * 1024
    return http_server, files


def _worker(*args: str, **env: str) -> subprocess.Popen[bytes]:
    environ = os.environ | {
        "PYTHONPATH": str(ROOT),
        "FEDERATE_JOBS_LEASE_SECONDS": "2",
        "FEDERATE_JOBS_POLL_SECONDS": "0.1",
        "FEDERATE_MULTIPART_THRESHOLD": "256k",
        "FEDERATE_CHUNK_SIZE": "128k",
        # one connection: the throttle is per connection, so the copy lasts seconds, long
        # enough to be killed mid-way even on a loaded machine
        "FEDERATE_MAX_WORKERS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "federate", *(args or ("jobs", "work"))],
        env=environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _sigterm(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``worker``: it exits 0 within 30 s."""
    try:
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
        assert time.monotonic() - started < 30
    finally:
        worker.kill()
    assert code == 0, worker.stderr.read() if worker.stderr else ""


def _wait(what, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_copy_is_finished_by_the_next(slow_source):
    server, files = slow_source
    job = federate.copy("models:/slow/1", "company", queue=True)
    first = _worker()
    try:
        _wait(lambda: _queue().get(job.id).progress.bytes_done > 0)  # mid-copy
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert _queue().get(job.id).status == RUNNING  # its lease still runs
    server.faults.rate = 0
    second = _worker()
    try:
        done = _wait(lambda: (j := _queue().get(job.id)).status == SUCCEEDED and j)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert done.retry_count == 0  # a lost lease spends no retry
    assert _company_versions("slow") == [1]
    out = federate.download("models://company/slow/1")
    assert _tree(Path(out)) == files


def test_sigterm_puts_the_running_job_back_and_exits_0(slow_source):
    job = federate.copy("models:/slow/1", "company", queue=True)
    worker = _worker()
    try:
        _wait(lambda: _queue().get(job.id).progress.bytes_done > 0)
    finally:
        _sigterm(worker)
    back = _queue().get(job.id)
    assert (back.status, back.lease_owner) == (PENDING, None)
    assert _company_versions("slow") == []


def test_worker_runs_jobs_concurrently_and_sigterm_requeues_them_all(slow_source):
    team = open_registry(registry_config(profile="team"))
    team.create_model_version("slow", source=team.get_model_version("slow", 1).source)
    jobs = [federate.copy(f"models:/slow/{v}", "company", queue=True) for v in (1, 2)]
    worker = _worker("worker", "--concurrency", "2")
    try:
        # both copies under way at once, each under its own lease
        running = _wait(
            lambda: (
                all(_queue().get(job.id).progress.bytes_done > 0 for job in jobs)
                and [_queue().get(job.id) for job in jobs]
            )
        )
        assert all(j.status == RUNNING for j in running)
        assert len({j.lease_owner for j in running}) == 2
    finally:
        _sigterm(worker)
    for job in jobs:
        back = _queue().get(job.id)
        assert (back.status, back.lease_owner, back.retry_count) == (PENDING, None, 0)
    assert _company_versions("slow") == []
    # `federate worker --once` then runs both, and `jobs work --concurrency` is the same
    http_server, files = slow_source
    http_server.faults.rate = 0
    code, _, err = _cli("worker", "--concurrency", "2", "--once")
    assert code == 0, err
    assert [_queue().get(job.id).status for job in jobs] == [SUCCEEDED, SUCCEEDED]
    assert sorted(_company_versions("slow")) == [1, 2]
    for version in (1, 2):
        assert _tree(Path(federate.download(f"models://company/slow/{version}"))) == files


def test_concurrency_must_be_at_least_one(registries):
    code, _, err = _cli("worker", "--concurrency", "0")
    assert code == 2 and "--concurrency" in err
    with pytest.raises(federate.FederateError, match="concurrency must be an integer >= 1"):
        Worker(_queue(), concurrency=0)
