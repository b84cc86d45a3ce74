"""Webhooks of the SQL registry on every database: CRUD and validation, deliveries a real
receiver gets (payload, headers, signature), retries, and writes that never wait for
or depend on a receiver."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from federate.config import RegistryConfig
from federate.entities import WebhookEvent
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from federate.registry.sql.db import dispose_engines
from federate.registry.sql.store import SqlRegistry
from federate.testing.errors import raises_federate_error
from federate.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)

SECRET = "whsec-7f3a9c"
#: the events registry writes send (job.* come from workers: tests/jobs/test_job_events.py)
ALL_EVENTS = [event.value for event in WebhookEvent if not event.value.startswith("job.")]

pytestmark = pytest.mark.usefixtures("webhook_dispatcher")


def _events(requests):
    return sorted(r.header(EVENT_HEADER) for r in requests)


# -- CRUD -------------------------------------------------------------------------------


def test_create_get_update_delete_round_trip(registry):
    hook = registry.create_webhook(
        "deploys",
        "https://hooks.example.com/federate?team=ml",
        ["model_version.created", WebhookEvent.MODEL_VERSION_ALIAS_CREATED],
        description="tell the deploy bot",
        secret=SECRET,
    )
    assert (hook.name, hook.url, hook.description) == (
        "deploys",
        "https://hooks.example.com/federate?team=ml",
        "tell the deploy bot",
    )
    assert hook.events == (
        WebhookEvent.MODEL_VERSION_CREATED,
        WebhookEvent.MODEL_VERSION_ALIAS_CREATED,
    )
    assert (hook.status, hook.has_secret) == ("ACTIVE", True)
    assert len(hook.id) == 32 and hook.creation_timestamp == hook.last_updated_timestamp
    assert registry.get_webhook(hook.id) == hook

    time.sleep(0.002)
    changed = registry.update_webhook(
        hook.id, events=["prompt.created"], status="disabled", description="paused"
    )
    assert changed.events == (WebhookEvent.PROMPT_CREATED,)
    assert (changed.status, changed.description, changed.name) == ("DISABLED", "paused", "deploys")
    assert changed.url == hook.url and changed.has_secret
    assert changed.last_updated_timestamp > hook.last_updated_timestamp
    assert registry.update_webhook(hook.id, secret="").has_secret is False

    registry.delete_webhook(hook.id)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"Webhook {hook.id!r} does not exist"):
        registry.get_webhook(hook.id)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, hook.id):
        registry.delete_webhook(hook.id)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.update_webhook("nope", name="x")


def test_list_webhooks_pages_oldest_first(registry):
    created = [
        registry.create_webhook(f"hook-{n}", f"http://127.0.0.1/{n}", ["prompt.created"])
        for n in range(5)
    ]
    first = registry.list_webhooks(max_results=2)
    assert len(first) == 2 and first.token
    second = registry.list_webhooks(max_results=2, page_token=first.token)
    third = registry.list_webhooks(max_results=2, page_token=second.token)
    assert third.token is None
    # creation time, then id for webhooks created in the same millisecond
    oldest_first = sorted(created, key=lambda h: (h.creation_timestamp, h.id))
    assert [*first, *second, *third] == oldest_first
    with raises_federate_error(INVALID_PARAMETER_VALUE, "max_results"):
        registry.list_webhooks(max_results=0)


def test_the_secret_is_never_handed_back(registry):
    hook = registry.create_webhook("h", "http://127.0.0.1/x", ALL_EVENTS, secret=SECRET)
    for shown in (
        hook,
        registry.get_webhook(hook.id),
        registry.list_webhooks()[0],
        registry.update_webhook(hook.id, name="renamed"),
    ):
        assert SECRET not in repr(shown) and SECRET not in str(shown.to_dict())
        assert not hasattr(shown, "secret")
        assert shown.to_dict()["has_secret"] is True
    assert shown.to_dict()["events"] == ALL_EVENTS


@pytest.mark.parametrize(
    "url, fragments",
    [
        ("ftp://files.example.com/hook", ["scheme 'ftp'", "http://, https://"]),
        ("file:///etc/passwd", ["scheme 'file'", "http://, https://"]),
        ("javascript:alert(1)", ["scheme 'javascript'"]),
        ("hooks.example.com/x", ["scheme '(none)'", "http://, https://"]),
        ("https:///no-host", ["has no host"]),
        ("http://", ["has no host"]),
        ("http://h:99999/x", ["not a valid URL"]),
        ("http://h/a b", ["whitespace"]),
        ("", ["non-empty string"]),
    ],
)
def test_invalid_urls_are_refused_naming_the_accepted_schemes(registry, url, fragments):
    with raises_federate_error(INVALID_PARAMETER_VALUE, *fragments):
        registry.create_webhook("h", url, ["prompt.created"])
    assert list(registry.list_webhooks()) == []


def test_url_query_strings_stay_out_of_error_messages(registry):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "ftp://h/x?<redacted>") as _:
        registry.create_webhook("h", "ftp://h/x?token=tok-9", ["prompt.created"])


def test_unknown_events_and_bad_fields_are_refused(registry):
    accepted = ", ".join(ALL_EVENTS)
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "Unknown webhook event 'model.deleted'", accepted
    ):
        registry.create_webhook("h", "http://h/x", ["prompt.created", "model.deleted"])
    with raises_federate_error(INVALID_PARAMETER_VALUE, "at least one event", accepted):
        registry.create_webhook("h", "http://h/x", [])
    with raises_federate_error(INVALID_PARAMETER_VALUE, "list of event names"):
        registry.create_webhook("h", "http://h/x", "prompt.created")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "status 'PAUSED'", "ACTIVE, DISABLED"):
        registry.create_webhook("h", "http://h/x", ["prompt.created"], status="PAUSED")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "name must be a non-empty string"):
        registry.create_webhook(" ", "http://h/x", ["prompt.created"])
    hook = registry.create_webhook("h", "http://h/x", ["prompt.created", "prompt.created"])
    assert hook.events == (WebhookEvent.PROMPT_CREATED,)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "Unknown webhook event 'nope'"):
        registry.update_webhook(hook.id, events=["nope"])
    with raises_federate_error(INVALID_PARAMETER_VALUE, "scheme 'gopher'"):
        registry.update_webhook(hook.id, url="gopher://h/x")
    assert registry.get_webhook(hook.id) == hook  # a refused update changed nothing


def test_migration_0002_goes_down_and_up_keeping_the_registry(registry):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from federate.registry.sql import db
    from federate.registry.sql.models import Base

    def migrate(step, revision: str) -> None:
        config = db.alembic_config(registry.engine)
        with registry.engine.begin() as conn:
            config.attributes["connection"] = conn
            step(config, revision)

    registry.create_registered_model("kept")
    registry.create_model_version("kept", "s3://b/1", tags={"k": "v"})
    registry.create_webhook("h", "http://h/x", ["prompt.created"])
    migrate(command.downgrade, "0001")
    tables = set(sa.inspect(registry.engine).get_table_names())
    assert "webhooks" not in tables and "webhook_events" not in tables
    migrate(command.upgrade, "head")
    assert registry.get_model_version("kept", 1).tags == {"k": "v"}
    assert list(registry.list_webhooks()) == []
    assert registry.create_webhook("again", "http://h/x", ["prompt.created"]).name == "again"
    with registry.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# -- deliveries -------------------------------------------------------------------------


def test_delivery_is_a_signed_json_post_with_the_change(registry, webhook_receiver):
    hook = registry.create_webhook(
        "h", webhook_receiver.url, ["model_version.created"], secret=SECRET
    )
    registry.create_registered_model("iris")
    before = time.time()
    mv = registry.create_model_version("iris", "s3://b/iris/1", run_id="r1", tags={"k": "v"})

    (request,) = webhook_receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.header("Content-Type") == "application/json"
    assert request.header(EVENT_HEADER) == "model_version.created"
    assert abs(int(request.header(TIMESTAMP_HEADER)) - before) <= 2
    assert request.header("User-Agent").startswith("federate-webhooks/")
    assert verify(SECRET, request.headers, request.body)
    assert not verify("another secret", request.headers, request.body)
    assert request.header(SIGNATURE_HEADER).startswith("v1=")
    payload = request.json()
    assert payload["delivery_id"] == request.header(DELIVERY_HEADER)
    assert (payload["event"], payload["webhook_id"]) == ("model_version.created", hook.id)
    assert payload["data"] == {
        "name": "iris",
        "version": mv.version,
        "source": "s3://b/iris/1",
        "storage_location": None,
        "run_id": "r1",
        "status": "READY",
        "tags": {"k": "v"},
        "description": None,
    }
    assert abs(payload["timestamp"] / 1000 - before) <= 2
    assert SECRET.encode() not in request.body


def test_every_event_reaches_its_subscribers(registry, webhook_receiver):
    registry.create_webhook("all", webhook_receiver.url, ALL_EVENTS)
    registry.create_registered_model("m", tags={"team": "a"}, description="d")
    registry.create_model_version("m", "s3://b/m/1")
    registry.set_model_version_tag("m", "1", "validated", "yes")
    registry.delete_model_version_tag("m", 1, "validated")
    registry.set_registered_model_alias("m", "champion", 1)
    registry.delete_registered_model_alias("m", "champion")
    registry.register_prompt("p", "Hi {{ x }}", commit_message="c1")
    registry.register_prompt("p", "Hello {{ x }}")
    registry.set_prompt_alias("p", "prod", "2")
    registry.delete_prompt_alias("p", "prod")

    got = webhook_receiver.wait_for(11)
    data = {}
    for request in got:
        data.setdefault(request.header(EVENT_HEADER), []).append(request.json()["data"])
    assert sorted(data) == sorted(ALL_EVENTS)
    assert data["registered_model.created"] == [
        {"name": "m", "tags": {"team": "a"}, "description": "d"}
    ]
    assert data["model_version_tag.set"] == [
        {"name": "m", "version": 1, "key": "validated", "value": "yes"}
    ]
    assert data["model_version_tag.deleted"] == [{"name": "m", "version": 1, "key": "validated"}]
    assert data["model_version_alias.created"] == [{"name": "m", "alias": "champion", "version": 1}]
    assert data["model_version_alias.deleted"] == [{"name": "m", "alias": "champion"}]
    assert data["prompt.created"] == [{"name": "p"}]  # once, on the first version only
    assert sorted(data["prompt_version.created"], key=lambda d: d["version"]) == [
        {"name": "p", "version": 1, "template": "Hi {{ x }}", "commit_message": "c1", "tags": {}},
        {
            "name": "p",
            "version": 2,
            "template": "Hello {{ x }}",
            "commit_message": None,
            "tags": {},
        },
    ]
    assert data["prompt_alias.created"] == [{"name": "p", "alias": "prod", "version": 2}]
    assert data["prompt_alias.deleted"] == [{"name": "p", "alias": "prod"}]


def test_a_pending_version_is_announced_when_it_is_ready(
    registry, webhook_receiver, webhook_dispatcher
):
    registry.create_webhook("h", webhook_receiver.url, ["model_version.created"])
    registry.create_registered_model("m")
    pending = registry.create_model_version("m", "s3://b/src", status="PENDING_REGISTRATION")
    assert webhook_dispatcher.flush(10)
    assert webhook_receiver.requests == []  # not downloadable yet: nothing to announce

    registry.finish_model_version("m", pending.version, "s3://registry/m/1")
    registry.finish_model_version("m", pending.version, "s3://registry/m/1")  # once only
    assert webhook_dispatcher.flush(10)
    (request,) = webhook_receiver.requests
    data = request.json()["data"]
    assert (data["version"], data["status"]) == (pending.version, "READY")
    assert (data["source"], data["storage_location"]) == ("s3://b/src", "s3://registry/m/1")


def test_only_active_subscribers_of_an_event_get_it(registry, webhook_receiver, webhook_dispatcher):
    aliases = registry.create_webhook("a", webhook_receiver.url + "/aliases", ["prompt.created"])
    paused = registry.create_webhook(
        "p", webhook_receiver.url + "/paused", ["registered_model.created"], status="DISABLED"
    )
    registry.create_registered_model("m1")
    assert webhook_dispatcher.flush(10)
    assert webhook_receiver.requests == []

    registry.update_webhook(paused.id, status="ACTIVE")
    registry.update_webhook(aliases.id, events=["registered_model.created"])
    registry.create_registered_model("m2")
    got = webhook_receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/hook/aliases", "/hook/paused"]
    assert {r.json()["data"]["name"] for r in got} == {"m2"}

    registry.delete_webhook(paused.id)
    registry.create_registered_model("m3")
    assert webhook_dispatcher.flush(10)
    assert [r.path for r in webhook_receiver.requests[2:]] == ["/hook/aliases"]


def test_a_receiver_answering_503_twice_gets_the_delivery_on_the_third_try(
    registry, webhook_receiver, webhook_dispatcher
):
    registry.create_webhook("h", webhook_receiver.url, ["registered_model.created"], secret=SECRET)
    webhook_receiver.answer_with(503, 503)
    registry.create_registered_model("m")
    assert webhook_dispatcher.flush(10)
    got = webhook_receiver.requests
    assert len(got) == 3
    assert len({r.header(DELIVERY_HEADER) for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(verify(SECRET, r.headers, r.body) for r in got)
    assert webhook_dispatcher.stats() == {"delivered": 1, "failed": 0, "retried": 2, "dropped": 0}


def test_a_dead_receiver_neither_fails_nor_slows_writes(
    registry, dead_webhook_url, webhook_dispatcher
):
    registry.create_registered_model("m")
    registry.create_model_version("m", "s3://b/warm-up")

    def median_write_s() -> float:
        times = []
        for _ in range(15):
            started = time.perf_counter()
            registry.create_model_version("m", "s3://b/x")
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    without = median_write_s()
    registry.create_webhook("dead", dead_webhook_url, ["model_version.created"])
    with_dead = median_write_s()
    assert webhook_dispatcher.flush(20)
    stats = webhook_dispatcher.stats()
    assert stats["failed"] == 15 and stats["delivered"] == 0
    # the writer only queues: a refused connection happens on a worker thread
    assert with_dead < without * 3 + 0.005, (without, with_dead)
    assert registry.get_latest_version("m").version == 31


def test_a_slow_receiver_does_not_hold_up_the_writer(
    registry, webhook_receiver, webhook_dispatcher
):
    webhook_receiver.delay_s = 1.0
    registry.create_webhook("slow", webhook_receiver.url, ["registered_model.created"])
    started = time.perf_counter()
    for n in range(3):
        registry.create_registered_model(f"m{n}")
    assert time.perf_counter() - started < 0.6
    assert webhook_dispatcher.flush(10)
    assert len(webhook_receiver.requests) == 3
    assert webhook_dispatcher.stats()["delivered"] == 3


def test_a_rolled_back_write_sends_nothing(registry, webhook_receiver, webhook_dispatcher):
    registry.create_webhook("h", webhook_receiver.url, ALL_EVENTS)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s3://b/1")
    assert len(webhook_receiver.wait_for(2)) == 2

    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m' has no version 7"):
        registry.set_registered_model_alias("m", "champion", 7)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.create_model_version("nope", "s3://b/1")
    with raises_federate_error("RESOURCE_ALREADY_EXISTS", "'m' already exists"):
        registry.create_registered_model("m")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'ghost'"):
        registry.delete_registered_model_alias("ghost", "champion")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "version 9"):
        registry.set_model_version_tag("m", 9, "k", "v")
    assert webhook_dispatcher.flush(10)
    assert len(webhook_receiver.requests) == 2
    assert registry.get_registered_model("m").aliases == {}


def test_webhooks_from_another_process_are_seen_within_the_refresh_interval(
    registry, webhook_receiver, monkeypatch
):
    monkeypatch.setenv("FEDERATE_WEBHOOKS_REFRESH_SECONDS", "0.5")
    registry.create_registered_model("warm")  # caches "no webhooks" for this database
    dispose_engines()  # the next registry object gets its own engine, as another process would
    other = SqlRegistry(RegistryConfig(uri=registry.uri, artifact_root=registry.artifact_root))
    other.create_webhook("h", webhook_receiver.url, ["registered_model.created"])

    registry.create_registered_model("too-soon")
    time.sleep(0.6)
    registry.create_registered_model("after-refresh")
    (request,) = webhook_receiver.wait_for(1)
    time.sleep(0.2)
    assert [r.json()["data"]["name"] for r in webhook_receiver.requests] == ["after-refresh"]
    assert request.json()["data"]["name"] == "after-refresh"


# -- test_webhook -------------------------------------------------------------------------


def test_test_webhook_sends_an_example_event_and_reports_the_answer(registry, webhook_receiver):
    hook = registry.create_webhook(
        "h", webhook_receiver.url, ["prompt_alias.created"], secret=SECRET, status="DISABLED"
    )
    result = registry.test_webhook(hook.id)
    assert (result.success, result.status_code, result.response_body) == (True, 200, "ok")
    assert result.event == WebhookEvent.PROMPT_ALIAS_CREATED and result.error_message is None
    (request,) = webhook_receiver.requests  # sent synchronously: already there
    assert verify(SECRET, request.headers, request.body)
    payload = request.json()
    assert payload["test"] is True and payload["delivery_id"] == result.delivery_id
    assert payload["data"] == {"name": "example-prompt", "alias": "production", "version": 1}

    webhook_receiver.answer_with(500)
    failed = registry.test_webhook(hook.id, "model_version.created")
    assert (failed.success, failed.status_code, failed.event) == (
        False,
        500,
        WebhookEvent.MODEL_VERSION_CREATED,
    )
    assert failed.error_message == "The receiver answered HTTP 500"
    assert len(webhook_receiver.requests) == 2  # a test is one attempt, never retried


def test_test_webhook_reports_an_unreachable_receiver(registry, dead_webhook_url):
    hook = registry.create_webhook("h", dead_webhook_url + "?key=k-77", ["prompt.created"])
    result = registry.test_webhook(hook.id)
    assert (result.success, result.status_code) == (False, None)
    assert "ConnectionError" in result.error_message and "k-77" not in result.error_message
    with raises_federate_error(INVALID_PARAMETER_VALUE, "Unknown webhook event 'x'"):
        registry.test_webhook(hook.id, "x")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'missing'"):
        registry.test_webhook("missing")


def test_federate_register_announces_each_step_once(
    sqlite_registry, model_tree, webhook_receiver, webhook_dispatcher
):
    import federate

    sqlite_registry.create_webhook("h", webhook_receiver.url, ALL_EVENTS)
    mv = federate.register(model_tree, "iris", alias="champion")
    assert webhook_dispatcher.flush(10)
    got = {r.header(EVENT_HEADER): r.json()["data"] for r in webhook_receiver.requests}
    assert sorted(got) == [
        "model_version.created",
        "model_version_alias.created",
        "registered_model.created",
    ]
    assert len(webhook_receiver.requests) == 3
    created = got["model_version.created"]
    assert (created["status"], created["storage_location"]) == ("READY", mv.storage_location)


# -- secrets at rest ------------------------------------------------------------------------


def _stored_secret(registry, webhook_id: str) -> str | None:
    with registry.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT secret FROM webhooks WHERE id = :id"), {"id": webhook_id}
        ).scalar()


def test_with_a_key_secrets_are_stored_encrypted_and_still_sign(
    registry, webhook_receiver, webhook_dispatcher, monkeypatch, caplog
):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("FEDERATE_WEBHOOKS_SECRET_KEY", key)
    hook = registry.create_webhook(
        "h", webhook_receiver.url, ["registered_model.created"], secret=SECRET
    )
    stored = _stored_secret(registry, hook.id)
    assert stored.startswith("fernet:") and SECRET not in stored
    registry.create_registered_model("m1")
    (request,) = webhook_receiver.wait_for(1)
    assert verify(SECRET, request.headers, request.body)
    assert registry.test_webhook(hook.id).success

    # another key, or none: refuse to sign, and never send unsigned instead
    for other in (Fernet.generate_key().decode(), ""):
        monkeypatch.setenv("FEDERATE_WEBHOOKS_SECRET_KEY", other)
        registry.update_webhook(hook.id, description=f"key {other[:4]}")  # drops the cache
        registry.create_registered_model(f"m-{other[:4]}")
        with raises_federate_error("INTERNAL_ERROR", "FEDERATE_WEBHOOKS_SECRET_KEY"):
            registry.test_webhook(hook.id)
    assert webhook_dispatcher.flush(10)
    assert len(webhook_receiver.requests) == 2  # the event and the test, nothing since
    refusals = [r.getMessage() for r in caplog.records if "Not delivering" in r.getMessage()]
    assert len(refusals) == 2 and all(hook.id in m for m in refusals)
    assert "with another key" in refusals[0] and "is encrypted: set" in refusals[1]
    assert not any(key in r.getMessage() or SECRET in r.getMessage() for r in caplog.records)


def test_without_a_key_secrets_are_stored_tagged_plain(registry, monkeypatch):
    monkeypatch.delenv("FEDERATE_WEBHOOKS_SECRET_KEY", raising=False)
    hook = registry.create_webhook("h", "http://h/x", ["prompt.created"], secret="fernet:abc")
    assert _stored_secret(registry, hook.id) == "plain:fernet:abc"
    assert _stored_secret(registry, registry.update_webhook(hook.id, secret="").id) is None
