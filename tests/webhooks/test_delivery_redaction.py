"""Webhook URLs whose path, query or password is the credential (Slack, Discord, ``?token=``):
with every logger at DEBUG, neither federate's lines nor requests' and urllib3's show
them, and neither does the error a failed delivery reports."""

from __future__ import annotations

from federate.testing.logs import debug_logs
from federate.testing.webhooks import FAST_RETRIES
from federate.webhooks.delivery import Delivery, Dispatcher, send_now

SECRET = "whsec-redaction-5e1d"
PATH_TOKEN = "T01ABCD/B02EFGH/xoxbPathToken77"
QUERY_TOKEN = "tok-QueryToken-9a"
PASSWORD = "pw-Userinfo-3c"
TOKENS = [SECRET, PATH_TOKEN, QUERY_TOKEN, PASSWORD]


def _with_tokens(url: str) -> str:
    origin = url.rsplit("/", 1)[0].replace("http://", f"http://bot:{PASSWORD}@")
    return f"{origin}/services/{PATH_TOKEN}?token={QUERY_TOKEN}"


def _delivery(url: str, n: int = 0) -> Delivery:
    return Delivery("wh-9", url, "prompt.created", f"r{n:031d}", b"{}", SECRET)


def test_deliveries_log_no_url_token_at_debug(webhook_receiver):
    url = _with_tokens(webhook_receiver.url)
    dispatcher = Dispatcher(FAST_RETRIES)
    webhook_receiver.answer_with(503)  # one retry: federate logs the attempt
    with debug_logs() as logs:
        try:
            assert dispatcher.submit(_delivery(url))
            assert dispatcher.flush(10)
        finally:
            dispatcher.close()
    first, retried = webhook_receiver.wait_for(2)
    assert first.path == retried.path == f"/services/{PATH_TOKEN}?token={QUERY_TOKEN}"
    logs.assert_hidden(TOKENS)
    assert logs.count("urllib3") >= 2 and logs.count("federate.webhooks") >= 1
    assert any("Attempt 1 of prompt.created delivery" in r.getMessage() for r in logs.records)
    assert SECRET not in repr(_delivery(url)) and PATH_TOKEN not in repr(_delivery(url))


def test_a_failed_delivery_reports_no_url_token(dead_webhook_url):
    with debug_logs() as logs:
        result = send_now(_delivery(_with_tokens(dead_webhook_url), 1), timeout_s=2)
    assert result.error is not None and result.error.startswith("ConnectionError: ")
    for token in TOKENS:
        assert token not in result.error
    logs.assert_hidden(TOKENS)
