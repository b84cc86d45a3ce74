"""A real HTTP file server on 127.0.0.1 for tests, with Range support and fault injection.

:class:`FileServer` serves a directory the way a static web server or a presigned-URL
store does (``ETag``, ``Accept-Ranges``, ``206 Partial Content``, a ``Repr-Digest``
sha-256 header, HTML directory listings with nginx ``autoindex``'s date and exact size
after each file, or bare links with ``listing_sizes=False``) and can misbehave on purpose
through
:class:`Faults`: drop the connection after N bytes, answer 500/503/429 K times before
succeeding, send wrong bytes, send slowly, answer a range with another range or with the
whole file, or serve a replaced file despite ``If-Match``. Every request lands in ``access_log``, so
a test can assert how many bytes a download really fetched. A ``gate`` may refuse
requests before they are served (:mod:`federate.testing.presigned` checks signatures
there).
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from federate.testing.stores import StoreUnderTest, unique_prefix

_BLOCK = 64 * 1024
_FLIPPED = bytes(b ^ 0x5A for b in range(256))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # clients that hang up mid-body (killed downloads, cancelled ranges) are expected
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Access:
    method: str
    path: str
    range: str | None
    status: int
    #: the client's port: one per connection, so a test can count connections
    peer: int = 0
    sent: int = 0
    #: the response is over (sent whole, or the client went away)
    finished: bool = False


@dataclass
class Faults:
    """Misbehaviour per path (the URL path, e.g. ``/t-abc/big.bin``); thread-safe."""

    #: path -> [bytes, times]: cut the connection after sending that many body bytes
    drop_after: dict[str, list[int]] = field(default_factory=dict)
    #: path -> statuses to answer, one per request, before serving normally
    fail_with: dict[str, list[int]] = field(default_factory=dict)
    #: paths whose body bytes are flipped (the headers still describe the true file)
    corrupt: set[str] = field(default_factory=set)
    #: bytes per second per response, 0 for unlimited
    rate: int = 0
    #: serve whatever is there now even when ``If-Match`` names another ETag
    ignore_if_match: bool = False
    #: path -> [shift, times]: answer that many ranged GETs with the bytes ``shift``
    #: further on (or back), a 206 whose ``Content-Range`` says so: another range than asked
    shift_range: dict[str, list[int]] = field(default_factory=dict)
    #: paths whose ranged GETs are answered 200 with the whole file (``Range`` ignored)
    ignore_range: set[str] = field(default_factory=set)
    #: called with each request's :class:`Access` before it is served (a test replaces
    #: the file there, say, to have two versions served in one download)
    on_request: Callable[[Access], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def shift_of(self, path: str) -> int:
        with self.lock:
            plan = self.shift_range.get(path)
            if not plan or plan[1] <= 0:
                return 0
            plan[1] -= 1
            return plan[0]

    def next_failure(self, path: str) -> int | None:
        with self.lock:
            queue = self.fail_with.get(path)
            return queue.pop(0) if queue else None

    def drop_point(self, path: str) -> int | None:
        with self.lock:
            plan = self.drop_after.get(path)
            if not plan or plan[1] <= 0:
                return None
            plan[1] -= 1
            return plan[0]


#: ``gate(method, path, query, headers)`` (header names lowercase): None serves the
#: request, (status, body) refuses it
Gate = Callable[[str, str, str, Mapping[str, str]], "tuple[int, str] | None"]


class FileServer:
    """Serves ``directory`` on a free port of 127.0.0.1 until :meth:`stop`."""

    def __init__(
        self, directory: Path, *, send_digest: bool = True, listing_sizes: bool = True
    ) -> None:
        self.directory = directory
        self.send_digest = send_digest
        self.listing_sizes = listing_sizes
        self.faults = Faults()
        self.gate: Gate | None = None
        self.access_log: list[Access] = []
        self._log_lock = threading.Lock()
        self._digests: dict[tuple[str, int, int], str] = {}
        self.httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{quote(path)}"

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def record(self, access: Access) -> None:
        with self._log_lock:
            self.access_log.append(access)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every response started so far is over (e.g. after killing a client)."""
        deadline = time.monotonic() + timeout
        while any(not a.finished for a in list(self.access_log)):
            if time.monotonic() > deadline:
                raise TimeoutError("the test HTTP server is still sending")
            time.sleep(0.01)

    def bytes_sent(self, path: str | None = None) -> int:
        with self._log_lock:
            return sum(a.sent for a in self.access_log if path is None or a.path == path)

    def digest_of(self, full: Path, st: os.stat_result) -> str:
        key = (str(full), st.st_mtime_ns, st.st_size)
        if key not in self._digests:
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._digests[key] = base64.b64encode(h.digest()).decode()
        return self._digests[key]


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` -> (start, end exclusive); None for no or bad range."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    try:
        if not first:
            n = int(last)
            return (max(0, size - n), size)
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    return (start, min(end, size)) if start < size else None


def _handler_for(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the access log is kept as data instead

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            access = Access(
                self.command, path, self.headers.get("Range"), 200, self.client_address[1]
            )
            server.record(access)
            try:
                headers = {k.lower(): v for k, v in self.headers.items()}
                refusal = server.gate and server.gate(self.command, path, parts.query, headers)
                if refusal:
                    return self._plain(refusal[0], access, refusal[1])
                self._respond(path, body, access)
            finally:
                access.finished = True

        def _plain(self, status: int, access: Access, text: str = "") -> None:
            access.status = status
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _respond(self, path: str, body: bool, access: Access) -> None:
            faults = server.faults
            if faults.on_request is not None:
                faults.on_request(access)
            failure = faults.next_failure(path)
            if failure is not None:
                return self._plain(failure, access, "injected failure")
            full = (server.directory / unquote(path).lstrip("/")).resolve()
            if full != server.directory and server.directory not in full.parents:
                return self._plain(403, access)
            if full.is_dir():
                return self._listing(path, full, access)
            try:
                st = full.stat()
            except OSError:
                return self._plain(404, access, "not found")
            etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
            wanted = self.headers.get("If-Match")
            if wanted and wanted not in ("*", etag) and not server.faults.ignore_if_match:
                return self._plain(412, access, "precondition failed")
            span = _parse_range(self.headers.get("Range"), st.st_size)
            if span and path in faults.ignore_range:
                span = None
            if span and self.command == "GET" and (shift := faults.shift_of(path)):
                first = min(max(0, span[0] + shift), st.st_size - 1)
                span = (first, min(st.st_size, first + span[1] - span[0]))
            start, end = span or (0, st.st_size)
            access.status = 206 if span else 200
            self.send_response(access.status)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            if span:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{st.st_size}")
            if server.send_digest:
                self.send_header("Repr-Digest", f"sha-256=:{server.digest_of(full, st)}:")
            self.end_headers()
            if body:
                self._send_body(full, path, start, end, access)

        def _send_body(self, full: Path, path: str, start: int, end: int, access: Access) -> None:
            drop = server.faults.drop_point(path)
            corrupt = path in server.faults.corrupt
            began = time.monotonic()
            for block in _blocks(full, start, end):
                if drop is not None and access.sent + len(block) > drop:
                    block = block[: drop - access.sent]
                    self.wfile.write(block)
                    access.sent += len(block)
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if corrupt:
                    block = block.translate(_FLIPPED)
                self.wfile.write(block)
                access.sent += len(block)
                if server.faults.rate:
                    ahead = access.sent / server.faults.rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)

        def _listing(self, path: str, full: Path, access: Access) -> None:
            if not path.endswith("/"):
                access.status = 301
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            rows = []
            for entry in sorted(os.scandir(full), key=lambda e: e.name):
                name = entry.name + ("/" if entry.is_dir() else "")
                row = f'<a href="{quote(name)}">{html.escape(name)}</a>'
                if server.listing_sizes:  # as nginx prints them: date, then bytes or "-"
                    st = entry.stat()
                    when = time.strftime("%d-%b-%Y %H:%M", time.gmtime(st.st_mtime))
                    size = "-" if entry.is_dir() else str(st.st_size)
                    row += f"{' ' * max(1, 50 - len(name))} {when} {size:>19}"
                rows.append(row)
            data = ("<html><body>\n" + "\n".join(rows) + "\n</body></html>\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def _blocks(full: Path, start: int, end: int) -> Iterator[bytes]:
    with open(full, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(_BLOCK, left))
            if not block:
                return
            left -= len(block)
            yield block


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[FileServer]:
    """A :class:`FileServer` over an empty directory (``server.directory``)."""
    served = tmp_path / "http-root"
    served.mkdir()
    server = FileServer(served).start()
    yield server
    server.stop()


@pytest.fixture
def store_http(http_server: FileServer) -> Iterator[StoreUnderTest]:
    """An empty directory on the test HTTP server, addressed by its ``http://`` URL."""
    prefix = unique_prefix()
    (http_server.directory / prefix).mkdir()

    def put(path: str, data: bytes) -> None:
        target = http_server.directory / prefix / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    yield StoreUnderTest("http", http_server.url(prefix + "/"), put)
