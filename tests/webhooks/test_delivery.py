"""The dispatcher against a real HTTP receiver: retries, give-ups, a bounded queue, flush,
the exit hook, and logs without secrets."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from federate.testing.webhooks import FAST_RETRIES
from federate.webhooks.delivery import Delivery, Dispatcher, DispatchSettings
from federate.webhooks.signing import DELIVERY_HEADER, verify

SECRET = "s3cret-signing-key"


def _delivery(url: str, n: int = 0, secret: str | None = SECRET) -> Delivery:
    body = b'{"n":%d}' % n
    return Delivery("wh-1", url, "model_version.created", f"d{n:031d}", body, secret)


def _run(dispatcher: Dispatcher, *deliveries: Delivery) -> dict[str, int]:
    try:
        for delivery in deliveries:
            assert dispatcher.submit(delivery)
        assert dispatcher.flush(10)
        return dispatcher.stats()
    finally:
        dispatcher.close()


def test_retries_5xx_and_429_with_the_same_delivery_id_and_fresh_signatures(webhook_receiver):
    webhook_receiver.answer_with(503, 429)
    stats = _run(Dispatcher(FAST_RETRIES), _delivery(webhook_receiver.url))
    got = webhook_receiver.requests
    assert [r.header(DELIVERY_HEADER) for r in got] == ["d" + "0" * 31] * 3
    assert all(verify(SECRET, r.headers, r.body) for r in got)
    assert stats == {"delivered": 1, "failed": 0, "retried": 2, "dropped": 0}
    # exponential backoff: the second wait is about twice the first
    gaps = [b.received_at - a.received_at for a, b in zip(got, got[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09


def test_retry_after_from_the_receiver_stretches_the_backoff(webhook_receiver):
    webhook_receiver.answer_with(429, headers={"Retry-After": "0.4"})
    stats = _run(Dispatcher(FAST_RETRIES), _delivery(webhook_receiver.url))
    first, second = webhook_receiver.requests
    assert second.received_at - first.received_at >= 0.39  # not FAST_RETRIES' 0.05 s
    assert stats["delivered"] == 1 and stats["retried"] == 1


def test_gives_up_after_max_attempts(webhook_receiver):
    webhook_receiver.answer_with(500, 500, 500, 500, 500)
    stats = _run(Dispatcher(FAST_RETRIES), _delivery(webhook_receiver.url))
    assert len(webhook_receiver.requests) == FAST_RETRIES.max_attempts == 4
    assert stats["failed"] == 1 and stats["delivered"] == 0


def test_client_errors_and_redirects_are_final(webhook_receiver):
    webhook_receiver.answer_with(400, 302)
    url = webhook_receiver.url
    for n in (1, 2):
        stats = _run(Dispatcher(FAST_RETRIES), _delivery(url, n))
        assert stats["failed"] == 1 and stats["retried"] == 0
    assert len(webhook_receiver.requests) == 2


def test_full_queue_drops_new_deliveries_instead_of_blocking(webhook_receiver, caplog):
    webhook_receiver.delay_s = 0.3
    settings = DispatchSettings(queue_size=2, max_attempts=1, backoff_s=0.05, workers=1)
    dispatcher = Dispatcher(settings)
    try:
        started = time.monotonic()
        accepted = [dispatcher.submit(_delivery(webhook_receiver.url, n)) for n in range(5)]
        assert time.monotonic() - started < 0.2
        assert accepted == [True, True, False, False, False]
        assert dispatcher.flush(10)
        assert dispatcher.stats()["dropped"] == 3 and dispatcher.stats()["delivered"] == 2
        drops = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
        assert len(drops) == 1 and "dropped 1 deliveries" in drops[0]  # not one line per drop
    finally:
        dispatcher.close()


def test_flush_reports_a_timeout_then_completes(webhook_receiver):
    webhook_receiver.delay_s = 0.5
    dispatcher = Dispatcher(FAST_RETRIES)
    try:
        dispatcher.submit(_delivery(webhook_receiver.url))
        assert dispatcher.flush(0.05) is False
        assert dispatcher.pending() == 1
        assert dispatcher.flush(10) is True
        assert dispatcher.pending() == 0
    finally:
        dispatcher.close()


def test_logs_name_the_delivery_but_never_the_secret_or_url_token(dead_webhook_url, caplog):
    caplog.set_level(logging.DEBUG, logger="federate")
    url = dead_webhook_url + "?token=tok-8c1f"
    stats = _run(Dispatcher(FAST_RETRIES), _delivery(url))
    assert stats["failed"] == 1 and stats["retried"] == FAST_RETRIES.max_attempts - 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Gave up on model_version.created delivery" in text and "wh-1" in text
    assert "ConnectionError" in text
    assert SECRET not in text and "tok-8c1f" not in text


def test_pending_deliveries_are_sent_at_interpreter_exit(webhook_receiver):
    webhook_receiver.delay_s = 0.3
    code = (
        "import sys; from federate.webhooks.delivery import Delivery, get_dispatcher; "
        "d = get_dispatcher(); "
        "[d.submit(Delivery('wh', sys.argv[1], 'prompt.created', f'id{n}', b'{}')) "
        "for n in range(3)]"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, webhook_receiver.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={"FEDERATE_WEBHOOKS_WORKERS": "1", "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.header(DELIVERY_HEADER) for r in webhook_receiver.requests) == [
        "id0",
        "id1",
        "id2",
    ]


def test_at_exit_a_dead_receiver_gets_one_last_attempt_not_the_retry_schedule(dead_webhook_url):
    code = (
        "import sys; from federate.webhooks.delivery import Delivery, get_dispatcher; "
        "get_dispatcher().submit(Delivery('wh', sys.argv[1], 'prompt.created', 'id0', b'{}'))"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, dead_webhook_url],
        capture_output=True,
        text=True,
        timeout=60,
        # without the last-attempt rule, exit would wait out 1 + 2 + 4 s of backoff
        env={"FEDERATE_WEBHOOKS_BACKOFF_SECONDS": "1", "FEDERATE_WEBHOOKS_EXIT_TIMEOUT": "30"},
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 3.5
    assert "Gave up on prompt.created delivery id0" in proc.stderr
