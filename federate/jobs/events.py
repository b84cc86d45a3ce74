"""Webhook events for jobs: ``job.succeeded`` and ``job.failed``.

The worker that ends a job announces it through the webhook machinery of the registry
whose database holds the queue (:func:`federate.registry.sql.webhooks.emit`): a webhook
subscribed to ``job.succeeded`` or ``job.failed`` there hears of every job that ends,
whichever host ran it. ``job.failed`` covers FAILED and TIMEOUT (``status`` says which);
an attempt that will be retried, a job put back (SIGTERM) or canceled sends nothing.
The data is the job as it was stored: ``id``, ``name``, ``status``, ``params``,
``error`` (redacted as stored), ``result`` and ``retry_count``.
"""

from __future__ import annotations

import logging
from typing import Any

from federate.entities import WebhookEvent
from federate.errors import FederateError
from federate.jobs.entities import FAILED, SUCCEEDED, TIMEOUT, Job
from federate.jobs.store import JobStore

logger = logging.getLogger(__name__)

_EVENTS = {
    SUCCEEDED: WebhookEvent.JOB_SUCCEEDED,
    FAILED: WebhookEvent.JOB_FAILED,
    TIMEOUT: WebhookEvent.JOB_FAILED,
}


def event_data(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "params": job.params,
        "error": job.error,
        "result": job.result,
        "retry_count": job.retry_count,
    }


def announce(store: JobStore, job_id: str) -> None:
    """Send the event of the job ``job_id`` that just ended (nothing if it has not
    ended in SUCCEEDED, FAILED or TIMEOUT). Never raises: the job has ended either way."""
    from federate.registry.sql.webhooks import emit

    try:
        job = store.get(job_id)
    except FederateError as err:
        logger.warning("federate jobs: no webhook event for %s: %s", job_id, err.message)
        return
    event = _EVENTS.get(job.status)
    if event is not None:
        emit(store.engine, store.session.read, event, event_data(job))
