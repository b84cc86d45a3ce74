"""The JSON documents webhooks receive.

Every delivery body is one object::

    {"delivery_id": "...", "event": "model_version.created", "webhook_id": "...",
     "timestamp": 1795000000000, "data": {...}}

``timestamp`` is when the registry change committed (milliseconds since the epoch);
``data`` says what changed, with the fields listed in :data:`EXAMPLES` for each event.
``model_version.created`` is sent when the version is READY: for one registered with
``federate.register`` (reserved PENDING_REGISTRATION while its files are copied), that
is when the copy finished.
``job.succeeded`` and ``job.failed`` (FAILED, or TIMEOUT: ``status`` says which; not
sent for an attempt that will be retried) come from the worker that ran the job.
Deliveries sent by ``test_webhook`` carry ``"test": true`` and the example data.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from federate.entities import WebhookEvent

E = WebhookEvent

#: What ``data`` holds for each event (the values are what test deliveries send).
EXAMPLES: dict[WebhookEvent, dict[str, Any]] = {
    E.REGISTERED_MODEL_CREATED: {
        "name": "example-model",
        "tags": {"team": "example"},
        "description": "An example registered model",
    },
    E.MODEL_VERSION_CREATED: {
        "name": "example-model",
        "version": 1,
        "source": "s3://example-bucket/models/example",
        "storage_location": None,
        "run_id": None,
        "status": "READY",
        "tags": {},
        "description": None,
    },
    E.MODEL_VERSION_TAG_SET: {
        "name": "example-model",
        "version": 1,
        "key": "validated",
        "value": "true",
    },
    E.MODEL_VERSION_TAG_DELETED: {"name": "example-model", "version": 1, "key": "validated"},
    E.MODEL_VERSION_ALIAS_CREATED: {"name": "example-model", "alias": "champion", "version": 1},
    E.MODEL_VERSION_ALIAS_DELETED: {"name": "example-model", "alias": "champion"},
    E.PROMPT_CREATED: {"name": "example-prompt"},
    E.PROMPT_VERSION_CREATED: {
        "name": "example-prompt",
        "version": 1,
        "template": "Summarise {{ text }}",
        "commit_message": None,
        "tags": {},
    },
    E.PROMPT_ALIAS_CREATED: {"name": "example-prompt", "alias": "production", "version": 1},
    E.PROMPT_ALIAS_DELETED: {"name": "example-prompt", "alias": "production"},
    E.JOB_SUCCEEDED: {
        "id": "0123456789abcdef0123456789abcdef",
        "name": "copy",
        "status": "SUCCEEDED",
        "params": {"src": "models:/example-model/1", "to": "company", "name": None, "alias": None},
        "error": None,
        "result": '{"name": "example-model", "version": 1, "location": "s3://example/1"}',
        "retry_count": 0,
    },
    E.JOB_FAILED: {
        "id": "0123456789abcdef0123456789abcdef",
        "name": "copy",
        "status": "FAILED",
        "params": {"src": "models:/example-model/9", "to": "company", "name": None, "alias": None},
        "error": "models:/example-model/9: Model version 9 of 'example-model' does not exist",
        "result": None,
        "retry_count": 0,
    },
}


def new_delivery_id() -> str:
    return uuid.uuid4().hex


def event_body(
    event: WebhookEvent,
    webhook_id: str,
    delivery_id: str,
    data: dict[str, Any],
    timestamp_ms: int | None = None,
    test: bool = False,
) -> bytes:
    """The UTF-8 JSON body of one delivery (compact, keys sorted: stable to sign and diff)."""
    document: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event.value,
        "webhook_id": webhook_id,
        "timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "data": data,
    }
    if test:
        document["test"] = True
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()
