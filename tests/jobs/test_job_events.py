"""Webhook events for jobs: a real receiver hears job.succeeded and job.failed from the
worker that ended each job, on every database; retried attempts send nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federate.config import RegistryConfig
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.jobs.backoff import Backoff
from federate.jobs.store import JobStore
from federate.jobs.worker import Worker
from federate.registry.sql.db import prepare
from federate.registry.sql.store import SqlRegistry
from federate.webhooks.signing import EVENT_HEADER, verify

SECRET = "whsec-jobs-1"


def _run(job, report, registry_uri):  # type: ignore[no-untyped-def]
    kind = job.params["kind"]
    if kind == "missing":
        raise FederateError("models:/nope/1: no such version", RESOURCE_DOES_NOT_EXIST)
    if kind == "flaky":
        raise FederateError("the store went away")
    return json.dumps({"ran": kind})


def test_job_events_reach_a_real_receiver(
    database_uri: str, tmp_path: Path, webhook_receiver, webhook_dispatcher
):
    prepare(database_uri, create=True)
    registry = SqlRegistry(RegistryConfig(uri=database_uri, artifact_root=str(tmp_path)))
    registry.create_webhook(
        "jobs", webhook_receiver.url, ["job.succeeded", "job.failed"], secret=SECRET
    )
    registry.create_webhook("other", webhook_receiver.url + "/versions", ["model_version.created"])
    store = JobStore(database_uri, backoff=Backoff(0, 0))
    ok = store.create("copy", {"kind": "ok", "src": "models:/m/1"})
    missing = store.create("copy", {"kind": "missing"}, max_retries=3)
    flaky = store.create("copy", {"kind": "flaky"}, max_retries=1)
    worker = Worker(store, poll=0.01, runners={"copy": _run})
    assert worker.run(once=True) == 4  # the flaky one twice: one retry, then FAILED

    got = webhook_receiver.wait_for(3)
    webhook_dispatcher.flush(10)
    assert len(webhook_receiver.requests) == 3  # no event for the retried attempt
    by_id = {}
    for request in got:
        assert request.path == "/hook"
        body = request.json()
        assert request.header(EVENT_HEADER) == body["event"]
        assert verify(SECRET, request.headers, request.body)
        by_id[body["data"]["id"]] = (body["event"], body["data"])
    assert by_id[ok.id] == (
        "job.succeeded",
        {
            "id": ok.id,
            "name": "copy",
            "status": "SUCCEEDED",
            "params": {"kind": "ok", "src": "models:/m/1"},
            "error": None,
            "result": '{"ran": "ok"}',
            "retry_count": 0,
        },
    )
    event, data = by_id[missing.id]
    assert (event, data["status"], data["retry_count"]) == ("job.failed", "FAILED", 0)
    assert "models:/nope/1: no such version" in data["error"]
    event, data = by_id[flaky.id]
    assert (event, data["status"], data["retry_count"]) == ("job.failed", "FAILED", 1)
    assert data["error"] == "the store went away" and data["params"] == {"kind": "flaky"}


def test_job_events_are_valid_subscriptions(database_uri: str, tmp_path: Path):
    prepare(database_uri, create=True)
    registry = SqlRegistry(RegistryConfig(uri=database_uri, artifact_root=str(tmp_path)))
    hook = registry.create_webhook("j", "https://hooks.example.com/x", ["job.failed"])
    assert [e.value for e in registry.get_webhook(hook.id).events] == ["job.failed"]
    with pytest.raises(FederateError, match="job.succeeded, job.failed"):
        registry.create_webhook("bad", "https://hooks.example.com/x", ["job.exploded"])
