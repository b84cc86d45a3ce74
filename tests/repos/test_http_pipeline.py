"""Pipelined GETs on one connection (http_pipeline) against real servers: the test kit's
FileServer, a raw-socket server for answers FileServer never gives, and nginx if installed."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)
from federate.repos.http_pipeline import Wanted, download_pipelined
from federate.repos.http_transport import HttpTransport
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer

SECRET = "X-Amz-Signature=deadbeefSECRET"
NGINX = "/usr/sbin/nginx"


def content(name: str, size: int = 3000) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


#: ``answer(n, target)`` -> (bytes to send, close after) for the n-th request (from 1) of
#: a connection, or None to leave it unanswered
Answer = Callable[[int, str], "tuple[bytes, bool] | None"]


class RawServer:
    """An HTTP server on a raw socket, answering exactly what ``answer`` says: closing
    after N answers, HTTP/1.0, close-delimited or chunked bodies, redirects."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.answered: list[str] = []  # targets answered, all connections
        self.dropped = 0  # requests received on a connection after it was to close
        self.connections = 0
        self.ended = 0  # connections over (closed by either side)
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        with self._lock:
            for conn in self._open:
                conn.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf, n = b"", 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                n += 1
                target = head.split(b"\r\n", 1)[0].split()[1].decode()
                reply = self.answer(n, target)
                if reply is None:
                    continue
                conn.sendall(reply[0])
                with self._lock:
                    self.answered.append(target)
                if reply[1]:
                    conn.shutdown(socket.SHUT_WR)  # then read on, as nginx's lingering close
                    while data := conn.recv(65536):
                        buf += data
                    with self._lock:
                        self.dropped += buf.count(b"\r\n\r\n")
                    return
        except OSError:
            return  # reset by the client
        finally:
            conn.close()
            with self._lock:
                self.ended += 1


def ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(body: bytes) -> bytes:
    out, sizes, at = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"], [1, 7, 4093], 0
    while at < len(body):
        piece = body[at : at + sizes[len(out) % 3]]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        at += len(piece)
    return b"".join(out) + b"0\r\n\r\n"


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], RawServer]]:
    started: list[RawServer] = []

    def start(answer: Answer) -> RawServer:
        started.append(RawServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def files_on(server: FileServer, names: list[str], size: int = 3000) -> None:
    for name in names:
        (server.directory / name).write_bytes(content(name, size))


def wanted(url: Callable[[str], str], names: list[str], out: Path, query: str = "") -> list[Wanted]:
    out.mkdir(exist_ok=True)
    return [Wanted(n, url(n) + query, str(out / n)) for n in names]


def assert_fetched(got: list[tuple[Wanted, object]], size: int = 3000) -> None:
    for item, _ in got:
        assert Path(item.local_path).read_bytes() == content(item.path, size), item.path


# -- FileServer ------------------------------------------------------------------------


def test_500_files_over_one_connection_in_request_order(http_server, tmp_path):
    names = [f"f{i:03d}.bin" for i in range(500)]
    files_on(http_server, names)
    transport = HttpTransport()
    items = wanted(http_server.url, names, tmp_path / "out", "?" + SECRET)
    got = list(download_pipelined(transport, items))
    assert [item for item, _ in got] == items
    assert_fetched(got)
    info = got[7][1]
    assert info.path == "f007.bin" and info.file_size == 3000
    digest = hashlib.sha256(content("f007.bin")).digest()
    import base64

    assert info.checksum == f"sha256:{base64.b64encode(digest).decode()}"
    assert transport.pin("f007.bin") == {"If-Match": info.etag}  # later ranges are pinned
    assert len({a.peer for a in http_server.access_log}) == 1
    assert len(http_server.access_log) == 500


def test_a_404_in_the_middle_raises_after_the_files_before_it(http_server, tmp_path):
    names = [f"f{i:02d}" for i in range(40)]
    files_on(http_server, names[:20] + names[21:])
    items = wanted(http_server.url, names, tmp_path / "out", "?" + SECRET)
    got = []
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "f20", "?<redacted>"):
        for pair in download_pipelined(HttpTransport(), items, window=8):
            got.append(pair)
    assert [item for item, _ in got] == items[:20]
    assert_fetched(got)


def test_a_403_is_permission_denied_without_the_signature(http_server, tmp_path):
    names = [f"f{i:02d}" for i in range(12)]
    files_on(http_server, names)
    http_server.gate = lambda m, path, q, h: (
        (403, "<Error><Code>AccessDenied</Code></Error>") if path == "/f05" else None
    )
    items = wanted(http_server.url, names, tmp_path / "out", "?" + SECRET)
    with pytest.raises(FederateError) as caught:
        list(download_pipelined(HttpTransport(), items))
    assert caught.value.error_code == PERMISSION_DENIED
    assert "AccessDenied" in str(caught.value) and "SECRET" not in str(caught.value)


def test_a_503_is_temporarily_unavailable(http_server, tmp_path):
    names = [f"f{i:02d}" for i in range(12)]
    files_on(http_server, names)
    http_server.faults.fail_with["/f03"] = [503]
    items = wanted(http_server.url, names, tmp_path / "out", "?" + SECRET)
    with pytest.raises(FederateError) as caught:
        list(download_pipelined(HttpTransport(), items))
    assert caught.value.error_code == TEMPORARILY_UNAVAILABLE
    assert "HTTP 503" in str(caught.value) and "SECRET" not in str(caught.value)


def test_a_connection_cut_mid_body_is_reopened_and_the_file_rewritten(http_server, tmp_path):
    names = [f"f{i:02d}" for i in range(20)]
    files_on(http_server, names)
    http_server.faults.drop_after["/f10"] = [1000, 1]
    got = list(download_pipelined(HttpTransport(), wanted(http_server.url, names, tmp_path)))
    assert [i.path for i, _ in got] == names
    assert_fetched(got)
    assert [a.path for a in http_server.access_log].count("/f10") == 2
    assert len({a.peer for a in http_server.access_log}) == 2


def test_a_big_file_is_streamed_to_disk(http_server, tmp_path):
    big = 8 * 1024 * 1024
    (http_server.directory / "big").write_bytes(content("big", big))
    files_on(http_server, ["a", "b"])
    items = wanted(http_server.url, ["a", "big", "b"], tmp_path / "out")
    tracemalloc.start()
    try:
        got = list(download_pipelined(HttpTransport(), items))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(i.path, info.file_size) for i, info in got] == [("a", 3000), ("big", big), ("b", 3000)]
    assert (tmp_path / "out" / "big").read_bytes() == content("big", big)
    assert peak < 3 * 1024 * 1024  # pieces as they arrive, never the whole body


def test_items_of_another_origin_are_fetched_after_the_pipelined_ones(http_server, tmp_path):
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = FileServer(other_root).start()
    try:
        names = [f"f{i:02d}" for i in range(20)]
        files_on(http_server, names[::2])
        files_on(other, names[1::2])
        items = [
            Wanted(n, (http_server if i % 2 == 0 else other).url(n), str(tmp_path / n))
            for i, n in enumerate(names)
        ]
        got = list(download_pipelined(HttpTransport(), items))
        assert [item for item, _ in got] == items[::2] + items[1::2]
        assert_fetched(got)
        assert len({a.peer for a in http_server.access_log}) == 1
        assert len(other.access_log) == 10
    finally:
        other.stop()


def test_a_proxied_origin_goes_through_the_proxy(http_server, tmp_path, monkeypatch):
    names = [f"f{i:02d}" for i in range(6)]
    files_on(http_server, names)  # the proxy: FileServer serves absolute-URI requests too
    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead = probe.getsockname()[1]  # nothing listens there once closed
    for name in ("no_proxy", "NO_PROXY", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", http_server.url())
    monkeypatch.setenv("http_proxy", http_server.url())
    items = wanted(lambda n: f"http://127.0.0.1:{dead}/{n}", names, tmp_path / "out")
    got = list(download_pipelined(HttpTransport(), items))
    assert [item for item, _ in got] == items
    assert_fetched(got)
    # each file through the proxy once (a GCS client another test left behind may send
    # its background bucket lookup through this proxy too: it is not ours to count)
    through = sorted(a.path for a in http_server.access_log if a.path.lstrip("/") in names)
    assert through == [f"/{n}" for n in names]


def test_without_httptools_every_file_takes_one_request(http_server, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "httptools", None)  # import fails as if not installed
    names = [f"f{i:02d}" for i in range(10)]
    files_on(http_server, names)
    items = wanted(http_server.url, names, tmp_path / "out")
    got = list(download_pipelined(HttpTransport(), items))
    assert [item for item, _ in got] == items
    assert_fetched(got)


def test_header_values_with_line_breaks_are_refused(http_server, tmp_path):
    item = Wanted("a", http_server.url("a"), str(tmp_path / "a"), {"X-Token": "t\r\nEvil: 1"})
    with pytest.raises(FederateError) as caught:
        list(download_pipelined(HttpTransport(), [item]))
    assert caught.value.error_code == INVALID_PARAMETER_VALUE
    assert "X-Token" in str(caught.value) and "Evil" not in str(caught.value)
    assert http_server.access_log == []


def test_a_local_write_error_is_the_os_error(http_server, tmp_path):
    files_on(http_server, ["a"])
    (tmp_path / "plain").write_bytes(b"")
    item = Wanted("a", http_server.url("a"), str(tmp_path / "plain" / "a"))
    with pytest.raises(NotADirectoryError):
        list(download_pipelined(HttpTransport(), [item]))


@pytest.fixture
def tls_server(http_server, tmp_path):
    """``http_server`` behind TLS with a certificate for 127.0.0.1; yields (server, CA file)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    http_server.httpd.socket = context.wrap_socket(http_server.httpd.socket, server_side=True)
    return http_server, cert


def test_https_with_the_configured_ca_bundle(tls_server, tmp_path, monkeypatch):
    server, cert = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    names = [f"f{i:02d}" for i in range(50)]
    files_on(server, names)
    url = lambda n: f"https://127.0.0.1:{server.port}/{n}"  # noqa: E731
    got = list(download_pipelined(HttpTransport(), wanted(url, names, tmp_path / "out")))
    assert [i.path for i, _ in got] == names
    assert_fetched(got)
    assert len({a.peer for a in server.access_log}) == 1


def test_https_with_an_untrusted_certificate_is_refused(tls_server, tmp_path, monkeypatch):
    server, _ = tls_server
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    files_on(server, ["a"])
    url = lambda n: f"https://127.0.0.1:{server.port}/{n}?{SECRET}"  # noqa: E731
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "SSLCertVerificationError"):
        list(download_pipelined(HttpTransport(), wanted(url, ["a"], tmp_path / "out")))
    assert not (tmp_path / "out" / "a").exists()


# -- answers only a raw server gives ---------------------------------------------------


def test_a_server_closing_every_7_answers_gets_the_rest_again(raw_server, tmp_path):
    server = raw_server(
        lambda n, t: (ok(content(t[1:]), "Connection: close\r\n" * (n == 7)), n == 7)
    )
    names = [f"f{i:03d}" for i in range(100)]
    items = wanted(lambda n: server.url(f"/{n}"), names, tmp_path / "out")
    got = list(download_pipelined(HttpTransport(), items, window=32))
    assert [item for item, _ in got] == items
    assert_fetched(got)
    assert server.connections == 15  # ceil(100 / 7)
    assert sorted(server.answered) == [f"/{n}" for n in names]  # each answered once
    assert server.dropped > 0  # requests beyond the 7th were sent again on the next one


def test_chunked_bodies(raw_server, tmp_path):
    server = raw_server(lambda n, t: (chunked(content(t[1:], 10_000)), False))
    names = [f"c{i}" for i in range(30)]
    got = list(
        download_pipelined(HttpTransport(), wanted(lambda n: server.url(f"/{n}"), names, tmp_path))
    )
    assert [i.path for i, _ in got] == names
    assert_fetched(got, 10_000)
    assert got[0][1].file_size is None and server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        lambda body: (b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), True),
        lambda body: (b"HTTP/1.1 200 OK\r\n\r\n" + body, True),  # ends with the connection
    ],
    ids=["http-1.0", "close-delimited"],
)
def test_answers_not_fit_for_pipelining_take_one_request_each(raw_server, tmp_path, answer):
    server = raw_server(lambda n, t: answer(content(t[1:])))
    names = [f"f{i:02d}" for i in range(40)]
    got = list(
        download_pipelined(HttpTransport(), wanted(lambda n: server.url(f"/{n}"), names, tmp_path))
    )
    assert sorted(i.path for i, _ in got) == names
    assert_fetched(got)
    assert server.connections == 1 + 40  # the pipelined one given up, then one per file


def test_redirected_files_are_fetched_after_the_others(raw_server, tmp_path):
    def answer(n: int, target: str) -> tuple[bytes, bool]:
        if target.startswith("/moved/"):
            name = target.rsplit("/", 1)[1]
            return (
                f"HTTP/1.1 302 Found\r\nLocation: /{name}\r\nContent-Length: 0\r\n\r\n".encode(),
                False,
            )
        return ok(content(target[1:])), False

    server = raw_server(answer)
    names = [f"f{i}" for i in range(10)]
    moved = {"f3", "f7"}
    items = [
        Wanted(n, server.url(f"/moved/{n}" if n in moved else f"/{n}"), str(tmp_path / n))
        for n in names
    ]
    got = list(download_pipelined(HttpTransport(), items))
    assert [i.path for i, _ in got] == [n for n in names if n not in moved] + ["f3", "f7"]
    assert_fetched(got)


def test_a_fresh_connection_closed_unanswered_is_temporarily_unavailable(raw_server, tmp_path):
    server = raw_server(lambda n, t: (b"", True))
    items = wanted(lambda n: server.url(f"/{n}"), ["a", "b"], tmp_path, "?" + SECRET)
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, f"127.0.0.1:{server.port}", "closed"):
        try:
            list(download_pipelined(HttpTransport(), items))
        except FederateError as err:
            assert "SECRET" not in str(err)
            raise


def test_a_silent_server_times_out(raw_server, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_HTTP_TIMEOUT", "0.3")
    server = raw_server(lambda n, t: None)
    items = wanted(lambda n: server.url(f"/{n}"), ["a"], tmp_path, "?" + SECRET)
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "no answer within 0.3 s"):
        list(download_pipelined(HttpTransport(), items))


def test_closing_the_generator_early_closes_the_connection(raw_server, tmp_path):
    server = raw_server(lambda n, t: (ok(content(t[1:])), False))
    before = open_fds()
    names = [f"f{i:03d}" for i in range(100)]
    pairs = download_pipelined(
        HttpTransport(), wanted(lambda n: server.url(f"/{n}"), names, tmp_path)
    )
    assert [next(pairs)[0].path for _ in range(3)] == names[:3]
    pairs.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while server.ended < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.ended == 1
    assert open_fds() == before


# -- nginx -----------------------------------------------------------------------------


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """nginx with its defaults (keepalive_requests 1000) serving a directory; yields
    (base URL, the directory, its access log of connection serial numbers)."""
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed")
    root, run = tmp_path / "www", tmp_path / "nginx"
    root.mkdir()
    run.mkdir()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    temps = "".join(
        f"{k}_temp_path {run}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (run / "nginx.conf").write_text(
        f"daemon off; master_process off; pid {run}/nginx.pid; error_log {run}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http { log_format conns '$connection $status';\n"
        f"  access_log {run}/access.log conns; {temps}"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(run), "-e", f"{run}/error.log", "-c", f"{run}/nginx.conf"]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {(run / 'error.log').read_text()}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root, run / "access.log"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(run, ignore_errors=True)


def test_2000_files_from_nginx_over_a_reconnect(nginx, tmp_path):
    base, root, log = nginx
    names = [f"f{i:04d}" for i in range(2000)]
    for name in names:
        (root / name).write_bytes(content(name, 16 * 1024))
    items = wanted(lambda n: f"{base}/{n}", names, tmp_path / "out")
    got = list(download_pipelined(HttpTransport(), items))
    assert [item for item, _ in got] == items
    assert_fetched(got, 16 * 1024)
    assert {info.file_size for _, info in got} == {16 * 1024} and got[0][1].etag
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len(lines) == 2000 and {status for _, status in lines} == {"200"}
    assert len({conn for conn, _ in lines}) == 2  # keepalive_requests 1000: one reconnect
