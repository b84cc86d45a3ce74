"""Webhook methods of the SQL registry, and the events its writes emit.

Write methods call :meth:`WebhookMethods._emit` after their transaction committed, so
a rolled-back write never notifies anyone. Emitting looks the event up in a
per-database, in-process cache of active subscriptions, so a registry without webhooks
pays one dictionary lookup per write. The cache is dropped when this process changes a
webhook and reloaded at most every ``FEDERATE_WEBHOOKS_REFRESH_SECONDS`` (5) otherwise,
which bounds how long a webhook created, changed or deleted by another process goes
unnoticed here.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from federate.config import RegistryConfig
from federate.entities import (
    WEBHOOK_ACTIVE,
    ModelVersion,
    PagedList,
    Webhook,
    WebhookEvent,
    WebhookTestResult,
)
from federate.envvars import env_float
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.sql import queries as q
from federate.registry.sql.core import SqlRegistryCore
from federate.registry.sql.models import SqlWebhook, SqlWebhookEvent
from federate.webhooks import validation as v
from federate.webhooks.delivery import Delivery, get_dispatcher, send_now
from federate.webhooks.payloads import EXAMPLES, event_body, new_delivery_id
from federate.webhooks.secrets import seal, unseal

logger = logging.getLogger(__name__)

hooks = cast(sa.Table, SqlWebhook.__table__)
hook_events = cast(sa.Table, SqlWebhookEvent.__table__)

_ACTIVE_SUBSCRIPTIONS = (
    select(hooks.c.id, hooks.c.url, hooks.c.secret, hook_events.c.event)
    .select_from(hooks.join(hook_events, hook_events.c.webhook_id == hooks.c.id))
    .where(hooks.c.status == WEBHOOK_ACTIVE)
)


def _refresh_seconds() -> float:
    return env_float(
        "FEDERATE_WEBHOOKS_REFRESH_SECONDS", 5.0, 0, "seconds between reloads of the webhooks"
    )


@dataclass(frozen=True)
class _Target:
    webhook_id: str
    url: str
    secret: str | None = field(repr=False)


class Subscriptions:
    """Which active webhooks want which event, for one database, cached in this process."""

    def __init__(self) -> None:
        self._by_event: dict[str, tuple[_Target, ...]] | None = None
        self._expires = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def targets(self, event: str, conn_factory: Any) -> tuple[_Target, ...]:
        by_event = self._by_event
        if by_event is None or time.monotonic() >= self._expires:
            by_event = self._load(conn_factory)
        return by_event.get(event, ())

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._by_event = None

    def _load(self, conn_factory: Any) -> dict[str, tuple[_Target, ...]]:
        generation = self._generation
        found: dict[str, list[_Target]] = {}
        with conn_factory() as conn:
            rows = conn.execute(_ACTIVE_SUBSCRIPTIONS).all()
        secrets: dict[str, str | None] = {}
        refused: set[str] = set()
        for row in rows:
            if row.id in refused:
                continue
            if row.id not in secrets:
                try:
                    secrets[row.id] = unseal(row.secret)
                except FederateError as err:
                    # never send unsigned what its owner asked to have signed
                    logger.error("Not delivering to webhook %s: %s", row.id, err)
                    refused.add(row.id)
                    continue
            found.setdefault(row.event, []).append(_Target(row.id, row.url, secrets[row.id]))
        by_event = {event: tuple(targets) for event, targets in found.items()}
        with self._lock:
            # a webhook changed while we read: keep the answer for this call only
            if generation == self._generation:
                self._by_event = by_event
                self._expires = time.monotonic() + _refresh_seconds()
        return by_event


_subscriptions: weakref.WeakKeyDictionary[Engine, Subscriptions] = weakref.WeakKeyDictionary()
_subscriptions_lock = threading.Lock()


def subscriptions_for(engine: Engine) -> Subscriptions:
    """The cache shared by every registry object on ``engine`` (one per database)."""
    with _subscriptions_lock:
        subs = _subscriptions.get(engine)
        if subs is None:
            subs = _subscriptions[engine] = Subscriptions()
        return subs


def emit(engine: Engine, read: Any, event: WebhookEvent, data: dict[str, Any]) -> None:
    """Queue ``event`` with ``data`` for the webhooks of the database ``engine`` reaches
    (``read`` opens a connection to look them up) that want it. Call after the change
    committed; never raises: a notification must not undo a committed change."""
    try:
        targets = subscriptions_for(engine).targets(event.value, read)
        if not targets:
            return
        dispatcher = get_dispatcher()
        timestamp = q.now_ms()
        for target in targets:
            delivery_id = new_delivery_id()
            body = event_body(event, target.webhook_id, delivery_id, data, timestamp)
            dispatcher.submit(
                Delivery(
                    target.webhook_id, target.url, event.value, delivery_id, body, target.secret
                )
            )
    except Exception as err:
        logger.warning("Could not queue webhook event %s: %s", event.value, err)


class WebhookMethods(SqlRegistryCore):
    """Webhook CRUD, test deliveries and event emission of the SQL registry."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        _refresh_seconds()  # a bad value fails here, not after a write has committed
        self._subscriptions = subscriptions_for(self.engine)

    # -- emitting ------------------------------------------------------------------------

    def _emit(self, event: WebhookEvent, **data: Any) -> None:
        """Queue ``event`` for the webhooks that want it. Call after commit; never raises."""
        emit(self.engine, self.session.read, event, data)

    def _emit_version_created(self, mv: ModelVersion) -> None:
        """``model_version.created``, sent once the version is READY (downloadable)."""
        self._emit(
            WebhookEvent.MODEL_VERSION_CREATED,
            name=mv.name,
            version=mv.version,
            source=mv.source,
            storage_location=mv.storage_location,
            run_id=mv.run_id,
            status=mv.status,
            tags=mv.tags,
            description=mv.description,
        )

    # -- CRUD ----------------------------------------------------------------------------

    def create_webhook(
        self,
        name: str,
        url: str,
        events: list[str] | list[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: str = WEBHOOK_ACTIVE,
    ) -> Webhook:
        """Register a webhook; with a ``secret``, its deliveries are signed (HMAC-SHA256)."""
        values = {
            "name": v.check_name(name),
            "url": v.check_url(url),
            "description": v.check_description(description),
            "secret": seal(v.check_secret(secret)),
            "status": v.check_status(status),
        }
        checked_events = v.check_events(events)
        webhook_id = uuid.uuid4().hex
        now = q.now_ms()
        with self.session(create=True) as s:
            s.execute(
                insert(hooks).values(
                    id=webhook_id, creation_time=now, last_updated_time=now, **values
                )
            )
            self._insert_events(s, webhook_id, checked_events)
        self._subscriptions.invalidate()
        return self.get_webhook(webhook_id)

    @staticmethod
    def _insert_events(s: Any, webhook_id: str, events: tuple[WebhookEvent, ...]) -> None:
        s.execute(
            insert(hook_events), [{"webhook_id": webhook_id, "event": e.value} for e in events]
        )

    def get_webhook(self, webhook_id: str) -> Webhook:
        with self.session.read() as conn:
            row = conn.execute(select(hooks).where(hooks.c.id == webhook_id)).first()
            if row is None:
                raise FederateError(
                    f"Webhook {webhook_id!r} does not exist", RESOURCE_DOES_NOT_EXIST
                )
            return self._webhooks(conn, [row])[0]

    @staticmethod
    def _webhooks(conn: Any, rows: Sequence[Any]) -> list[Webhook]:
        events: dict[str, list[WebhookEvent]] = {}
        if rows:
            found = conn.execute(
                select(hook_events.c.webhook_id, hook_events.c.event).where(
                    hook_events.c.webhook_id.in_([r.id for r in rows])
                )
            )
            for webhook_id, event in found:
                events.setdefault(webhook_id, []).append(WebhookEvent(event))
        order = {event: i for i, event in enumerate(WebhookEvent)}
        return [
            Webhook(
                id=r.id,
                name=r.name,
                url=r.url,
                events=tuple(sorted(events.get(r.id, ()), key=order.__getitem__)),
                creation_timestamp=r.creation_time,
                last_updated_timestamp=r.last_updated_time,
                description=r.description,
                status=r.status,
                has_secret=bool(r.secret),
            )
            for r in rows
        ]

    def list_webhooks(
        self, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """Webhooks, oldest first."""
        q.check_max_results(max_results, 1000)
        offset = q.decode_page_token(page_token)
        stmt = (
            select(hooks)
            .order_by(hooks.c.creation_time, hooks.c.id)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.session.read() as conn:
            rows = conn.execute(stmt).all()
            found = self._webhooks(conn, rows[:max_results])
        token = q.encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(found, token)

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        url: str | None = None,
        events: list[str] | list[WebhookEvent] | None = None,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Change the given fields; None leaves a field as it is, ``secret=""`` removes the
        secret (deliveries go unsigned)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = v.check_name(name)
        if url is not None:
            values["url"] = v.check_url(url)
        if description is not None:
            values["description"] = v.check_description(description)
        if secret is not None:
            values["secret"] = seal(v.check_secret(secret))
        if status is not None:
            values["status"] = v.check_status(status)
        checked_events = v.check_events(events) if events is not None else None
        with self.session() as s:
            res = s.execute(
                update(hooks)
                .where(hooks.c.id == webhook_id)
                .values(last_updated_time=q.now_ms(), **values)
            )
            if q.affected(res) == 0:
                raise FederateError(
                    f"Webhook {webhook_id!r} does not exist", RESOURCE_DOES_NOT_EXIST
                )
            if checked_events is not None:
                s.execute(delete(hook_events).where(hook_events.c.webhook_id == webhook_id))
                self._insert_events(s, webhook_id, checked_events)
        self._subscriptions.invalidate()
        return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        with self.session() as s:
            s.execute(delete(hook_events).where(hook_events.c.webhook_id == webhook_id))
            res = s.execute(delete(hooks).where(hooks.c.id == webhook_id))
            if q.affected(res) == 0:
                raise FederateError(
                    f"Webhook {webhook_id!r} does not exist", RESOURCE_DOES_NOT_EXIST
                )
        self._subscriptions.invalidate()

    def test_webhook(
        self, webhook_id: str, event: str | WebhookEvent | None = None
    ) -> WebhookTestResult:
        """Send one example ``event`` (default: the webhook's first) now, once, and report
        what the receiver answered. Works for DISABLED webhooks too."""
        webhook = self.get_webhook(webhook_id)
        chosen = v.check_event(event) if event is not None else webhook.events[0]
        with self.session.read() as conn:
            stored = conn.execute(select(hooks.c.secret).where(hooks.c.id == webhook_id)).scalar()
        secret = unseal(stored)
        delivery_id = new_delivery_id()
        body = event_body(chosen, webhook_id, delivery_id, EXAMPLES[chosen], test=True)
        result = send_now(
            Delivery(webhook_id, webhook.url, chosen.value, delivery_id, body, secret)
        )
        return WebhookTestResult(
            success=result.success,
            delivery_id=delivery_id,
            event=chosen,
            status_code=result.status_code,
            response_body=result.response_body,
            error_message=result.error
            or (None if result.success else f"The receiver answered HTTP {result.status_code}"),
        )
