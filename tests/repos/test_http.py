"""The http(s) repository against a real server that drops, refuses and corrupts on purpose."""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import federate
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer

MiB = 1024 * 1024


@pytest.fixture
def served(http_server: FileServer, federate_home: Path, small_ranges: None) -> FileServer:
    """model/ with a 5 MiB + 5 B file (5 ranges of 1 MiB and a tail) and a small one."""
    model = http_server.directory / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(5 * MiB + 5))
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    return http_server


def same_tree(a: Path, b: Path) -> bool:
    from federate.testing.trees import tree_digest

    return tree_digest(a) == tree_digest(b)


def test_large_file_arrives_as_range_requests(served, federate_home, tmp_path):
    dst = federate.download(served.url("model/"), tmp_path / "out")
    assert same_tree(Path(dst), served.directory / "model")
    ranges = sorted(
        a.range for a in served.access_log if a.path == "/model/weights.bin" and a.range
    )
    assert len(ranges) == 6
    assert served.bytes_sent("/model/weights.bin") == 5 * MiB + 5


def test_a_dropped_connection_refetches_only_the_rest(served, federate_home, tmp_path):
    served.faults.drop_after["/model/weights.bin"] = [300_000, 2]
    served.faults.drop_after["/model/sub/config.json"] = [5, 1]
    dst = federate.download(served.url("model/"), tmp_path / "out")
    assert same_tree(Path(dst), served.directory / "model")
    gets = [a for a in served.access_log if a.path == "/model/weights.bin" and a.method == "GET"]
    # 6 ranges + a retry per drop that cut one; the 5-byte last range can use up a planned
    # drop without being cut, so 1 or 2 retries happen
    assert len(gets) in (7, 8)
    # each retry asks for what its range still missed: no byte is sent twice
    assert served.bytes_sent("/model/weights.bin") == 5 * MiB + 5


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried_until_success(served, federate_home, tmp_path, status):
    served.faults.fail_with["/model/weights.bin"] = [status] * 3
    served.faults.fail_with["/model/sub/config.json"] = [status] * 2
    dst = federate.download(served.url("model/"), tmp_path / "out")
    assert same_tree(Path(dst), served.directory / "model")
    statuses = [a.status for a in served.access_log if a.path == "/model/sub/config.json"]
    assert statuses.count(status) == 2


def test_out_of_retries_is_a_clear_error(served, federate_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "3")
    served.faults.fail_with["/model/sub/config.json"] = [503] * 10
    with raises_federate_error(
        TEMPORARILY_UNAVAILABLE, "sub/config.json", "after 3 attempts", "HTTP 503"
    ):
        federate.download(served.url("model/"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", ["/model/weights.bin", "/model/sub/config.json"])
def test_wrong_bytes_fail_verification_and_nothing_reaches_dst(
    served, federate_home, tmp_path, path
):
    served.faults.corrupt.add(path)
    with raises_federate_error(INTERNAL_ERROR, path.removeprefix("/model/"), "sha256 checksum"):
        federate.download(served.url("model/"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_single_file_url_and_presigned_query_never_leaks(served, federate_home, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    url = served.url("model/weights.bin") + "?X-Signature=SECRETSIG"
    got = federate.download(url, tmp_path / "w.bin")
    assert Path(got).read_bytes() == (served.directory / "model" / "weights.bin").read_bytes()
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "absent.bin") as _:
        federate.download(served.url("model/absent.bin") + "?X-Signature=SECRETSIG", tmp_path)
    served.faults.fail_with["/model/weights.bin"] = [503] * 20
    with pytest.raises(federate.FederateError) as exc:
        federate.download(url, tmp_path / "again.bin")
    assert "SECRETSIG" not in str(exc.value)
    assert "SECRETSIG" not in caplog.text


def test_a_file_replaced_mid_download_is_an_error_not_a_mix(
    served, federate_home, tmp_path, monkeypatch
):
    import threading
    import time

    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")  # later ranges start after the swap
    served.faults.rate = 2 * MiB  # per response: the download takes about a second
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            federate.download(served.url("model/weights.bin"), tmp_path / "w.bin")
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=fetch)
    worker.start()
    while served.bytes_sent("/model/weights.bin") < MiB:
        time.sleep(0.01)
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(os.urandom(5 * MiB + 5))
    os.replace(fresh, served.directory / "model" / "weights.bin")  # a new version, new ETag
    worker.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], federate.FederateError)
    assert "changed on the server" in str(errors[0])
    assert not (tmp_path / "w.bin").exists()
    assert 412 in [a.status for a in served.access_log]


def test_refusals_are_permission_denied_and_a_plain_400_is_not(served, tmp_path):
    from federate.errors import PERMISSION_DENIED

    url = served.url("model/sub/config.json") + "?X-Signature=SECRETSIG"
    served.faults.fail_with["/model/sub/config.json"] = [403, 400]
    with raises_federate_error(PERMISSION_DENIED, "HTTP 403", "?<redacted>"):
        federate.download(url, tmp_path / "a.json")
    with raises_federate_error(INTERNAL_ERROR, "HTTP 400"):  # no expired-signature body
        federate.download(url, tmp_path / "b.json")


class _Scripted(BaseHTTPRequestHandler):
    """Answers every HEAD and GET with the status, headers and body scripted for its path."""

    protocol_version = "HTTP/1.1"
    routes: dict[str, tuple[list[tuple[str, str]], bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _answer(self, with_body: bool) -> None:
        headers, body = self.routes.get(self.path.split("?")[0], ([("Content-Length", "0")], b""))
        self.send_response(200 if self.path.split("?")[0] in self.routes else 404)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)


@pytest.fixture
def scripted_server():
    """A server on 127.0.0.1 whose answers a test writes by hand: ``start(routes)`` -> URL."""
    servers = []

    def start(routes: dict[str, tuple[list[tuple[str, str]], bytes]]) -> str:
        handler = type("Handler", (_Scripted,), {"routes": routes})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("length", ["abc", "-5", "12abc", " "])
def test_a_head_with_a_content_length_that_is_not_a_number_is_one_error(
    scripted_server, federate_home, tmp_path, length
):
    base = scripted_server({"/f.bin": ([("Content-Length", length)], b"")})
    url = f"{base}/f.bin?sig=s3cret"
    with raises_federate_error(
        INTERNAL_ERROR, f"Content-Length: {length.strip()!r}", "/f.bin", "a number of bytes"
    ):
        federate.download(url, tmp_path / "api")
    res = run_federate("download", url, str(tmp_path / "cli"))
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "Content-Length" in res.stderr
    assert "s3cret" not in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_an_index_entry_with_a_nul_is_one_error_and_nothing_is_written(
    scripted_server, federate_home, tmp_path
):
    page = b'<a href="ok.bin">ok.bin</a> <a href="x%00y.bin">x</a>'
    base = scripted_server(
        {
            "/d/": ([("Content-Type", "text/html"), ("Content-Length", str(len(page)))], page),
            "/d/ok.bin": ([("Content-Length", "2")], b"ok"),
        }
    )
    with raises_federate_error(INVALID_PARAMETER_VALUE, f"index at {base}/d/", "NUL"):
        federate.download(f"{base}/d/", tmp_path / "api")
    res = run_federate("download", f"{base}/d/", str(tmp_path / "cli"))
    assert res.returncode == 1 and res.stdout == "" and res.stderr.count("\n") == 1
    assert "NUL character ('x\\x00y.bin')" in res.stderr
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
