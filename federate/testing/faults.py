"""A reverse proxy that puts real faults on the wire between a client and a store.

Emulators accept any token and never corrupt a byte, so the paths a repository takes when
a store refuses its credentials or sends damaged data cannot be reached through them. A
:class:`FaultProxy` sits in front of one (on 127.0.0.1, a port the OS picks) and
forwards every request unchanged, except that it can

- refuse requests whose bearer token is not among ``accepted_tokens``, answering with
  ``refusal_status`` (401, 403, 429, 503...) and a JSON error body shaped like Google's;
- flip one byte in the body of responses whose request path matches ``corrupt``;
- let ``on_request`` see and change each request's headers before it is forwarded (drop
  ``If-Match`` to make a store that ignores it, shift a ``Range``), or act on the store
  in between (replace an object mid-download).

The client sees real HTTP status codes and real bytes, so the repository's own error
mapping, credential renewal and checksum verification are what get tested.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

#: Request headers not passed on: they describe one hop, not the request.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te"}


#: What Google answers with each status (Azure and S3 clients read only the status).
_MESSAGES = {
    401: "Invalid Credentials",
    403: "Access denied.",
    429: "The rate of requests is too high.",
    503: "Service Unavailable",
}


class FaultProxy:
    """Forwards to ``upstream`` (``http://host:port``); see the module docstring."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        #: bearer tokens let through; None lets every request through
        self.accepted_tokens: set[str] | None = None
        self.refusal_status = 401
        #: flip a byte in successful responses to requests whose path this accepts
        self.corrupt: Callable[[str], bool] | None = None
        #: bearer tokens seen, in order (None for requests without one)
        self.tokens_seen: list[str | None] = []
        #: "METHOD path" of every request, in order
        self.requests: list[str] = []
        #: ``on_request("METHOD path", headers)`` before forwarding; may change ``headers``
        self.on_request: Callable[[str, dict[str, str]], None] | None = None
        self.refusals = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _refuses(self, request: str, authorization: str | None) -> bool:
        token = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
        with self._lock:
            self.requests.append(request)
            self.tokens_seen.append(token)
            refused = self.accepted_tokens is not None and token not in self.accepted_tokens
            self.refusals += refused
        return refused


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output clean

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            # a HEAD answer's Content-Length is the object's size, not its body's (none)
            keep_length = self.command == "HEAD"
            for name, value in headers:
                if name.lower() not in _HOP_HEADERS and (
                    keep_length or name.lower() != "content-length"
                ):
                    self.send_header(name, value)
            if not keep_length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            body = self._body()
            if proxy._refuses(f"{self.command} {self.path}", self.headers.get("Authorization")):
                status = proxy.refusal_status
                message = _MESSAGES.get(status, "Refused by the fault proxy")
                error = {"error": {"code": status, "message": message, "errors": []}}
                payload = json.dumps(error).encode()
                self._reply(status, [("Content-Type", "application/json")], payload)
                return
            upstream = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=30
            )
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Content-Length"] = str(len(body))
                if proxy.on_request is not None:
                    proxy.on_request(f"{self.command} {self.path}", headers)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                damage = proxy.corrupt is not None and proxy.corrupt(self.path)
                if damage and data and answer.status in (200, 206):
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                self._reply(answer.status, answer.getheaders(), data)
            finally:
                upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

    return Handler


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Start a :class:`FaultProxy` in front of a store's URL; all are stopped afterwards."""
    started: list[FaultProxy] = []

    def start(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
