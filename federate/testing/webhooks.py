"""Fixtures for testing webhooks against a real HTTP receiver.

``webhook_receiver`` is an HTTP server on 127.0.0.1 (a free port) that records every
request and answers with statuses a test scripts (``answer_with(503, 503)``: two
failures, then 200). ``webhook_dispatcher`` gives the test its own delivery dispatcher
with short retry delays, and discards whatever it still holds afterwards, so one test's
retries never reach into the next. ``dead_webhook_url`` is a local URL nothing listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from federate.webhooks.delivery import Dispatcher, DispatchSettings, reset_dispatcher


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it; ``body`` is the raw bytes (what was signed)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A recording HTTP server; ``url`` is where to point a webhook."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._script: list[tuple[int, dict[str, str]]] = []
        self.delay_s = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers = receiver._record(self, body)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                payload = b"ok" if status < 400 else b"not now"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str]]:
        request = ReceivedRequest(
            handler.command, handler.path, dict(handler.headers.items()), body, time.monotonic()
        )
        with self._lock:
            self._requests.append(request)
            answer = self._script.pop(0) if self._script else (200, {})
            self._lock.notify_all()
        return answer

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def answer_with(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next requests with ``statuses`` in order (each with ``headers``,
        e.g. ``Retry-After``), then 200 again."""
        with self._lock:
            self._script.extend((status, dict(headers or {})) for status in statuses)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(
                    f"webhook receiver got {len(self._requests)} request(s) in {timeout} s, "
                    f"expected {count}"
                )
            return list(self._requests[:count])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A recording HTTP receiver on 127.0.0.1, stopped after the test."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


#: Retry quickly in tests: 0.05 s, 0.1 s, 0.2 s between the four attempts.
FAST_RETRIES = DispatchSettings(
    queue_size=1000, max_attempts=4, backoff_s=0.05, timeout_s=3.0, workers=2, exit_timeout_s=5.0
)


@pytest.fixture
def webhook_dispatcher() -> Iterator[Dispatcher]:
    """A fresh process dispatcher with fast retries; discarded (with its queue) afterwards."""
    dispatcher = reset_dispatcher(FAST_RETRIES)
    yield dispatcher
    reset_dispatcher()


@pytest.fixture
def dead_webhook_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
