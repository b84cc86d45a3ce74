"""Reading directory index pages: entries, directories, the sizes servers print; and
listing a whole tree from a real server, bounded, with loops refused."""
# ruff: noqa: E501 -- the index pages are quoted as servers send them

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import federate
from federate.errors import INVALID_PARAMETER_VALUE
from federate.repos.http_index import parse_index
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer

BASE = "http://host/models/m/"

NGINX = """<html>
<head><title>Index of /models/m/</title></head>
<body>
<h1>Index of /models/m/</h1><hr><pre><a href="../">../</a>
<a href="sub/">sub/</a>                                               23-Nov-2026 11:11                   -
<a href="a%20b.bin">a b.bin</a>                                            23-Nov-2026 11:11               16384
<a href="a-very-long-name-that-nginx-cuts-in-the-text-of-the-page.bin">a-very-long-name-that-nginx-cuts-in-the-text-of..&gt;</a> 23-Nov-2026 11:11            7
</pre><hr></body>
</html>
"""

APACHE = """<table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=S;O=A">Size</a></th></tr>
<tr><td><a href="/models/">Parent Directory</a></td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="tiny.json">tiny.json</a></td><td align="right">2026-11-23 11:11  </td><td align="right">612 </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="w.bin">w.bin</a></td><td align="right">2026-11-23 11:11  </td><td align="right"> 16K</td><td>&nbsp;</td></tr>
</table>
"""

PLAIN = """<ul><li><a href="x.bin">x.bin</a></li><li><a href="d/">d/</a></li>
<li><a href="http://elsewhere/y.bin">y</a></li></ul>"""


def test_nginx_index_gives_exact_sizes():
    assert parse_index(NGINX, BASE) == [
        ("a b.bin", False, 16384),
        ("a-very-long-name-that-nginx-cuts-in-the-text-of-the-page.bin", False, 7),
        ("sub", True, None),
    ]


def test_apache_rounded_sizes_are_unknown_exact_ones_kept():
    assert parse_index(APACHE, BASE) == [("tiny.json", False, 612), ("w.bin", False, None)]


def test_an_index_without_sizes_lists_names_only():
    assert parse_index(PLAIN, BASE) == [("d", True, None), ("x.bin", False, None)]


def test_an_entry_with_a_nul_in_its_name_is_an_error_naming_the_index():
    for page, shown in (
        ('<a href="ok.bin">ok</a> <a href="bad%00name.bin">bad</a>', "'bad\\x00name.bin'"),
        ('<a href="ok.bin">ok</a> <a href="bad\x00raw.bin">bad</a>', "'bad\\x00raw.bin'"),
    ):
        with raises_federate_error(
            INVALID_PARAMETER_VALUE, f"The directory index at {BASE} lists", shown, "NUL"
        ):
            parse_index(page, BASE)


# -- listing a whole tree from a real server: bounded, loops refused -------------------------


def test_an_index_that_contains_itself_stops_at_the_depth_limit(
    http_server: FileServer, federate_home: Path, tmp_path: Path
) -> None:
    model = http_server.directory / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"w")
    (model / "loop").symlink_to(model)  # /model/loop/loop/... is served without end
    dst = tmp_path / "dst"
    with raises_federate_error(INVALID_PARAMETER_VALUE, "more than 64 directory levels", "loop"):
        federate.download(http_server.url("model/"), dst)
    assert not dst.exists()
    depth = max(a.path.count("loop/") for a in http_server.access_log)
    assert depth == 64  # the root and 64 levels below it read, not one more


def test_the_depth_limit_is_configurable(http_server, federate_home, tmp_path, monkeypatch):
    model = http_server.directory / "model"
    (model / "a" / "b" / "c").mkdir(parents=True)
    (model / "a" / "b" / "c" / "f.txt").write_text("deep")
    monkeypatch.setenv("FEDERATE_MAX_LISTING_DEPTH", "2")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "FEDERATE_MAX_LISTING_DEPTH"):
        federate.download(http_server.url("model/"), tmp_path / "dst")
    monkeypatch.setenv("FEDERATE_MAX_LISTING_DEPTH", "3")
    federate.download(http_server.url("model/"), tmp_path / "dst")
    assert (tmp_path / "dst" / "a" / "b" / "c" / "f.txt").read_text() == "deep"


def test_a_listing_larger_than_the_entry_limit_is_refused(
    http_server, federate_home, tmp_path, monkeypatch
):
    model = http_server.directory / "model"
    (model / "sub").mkdir(parents=True)
    for n in range(4):
        (model / "sub" / f"{n}.txt").write_text(str(n))
    monkeypatch.setenv("FEDERATE_MAX_LISTING_ENTRIES", "4")  # 1 directory + 4 files: too many
    with raises_federate_error(INVALID_PARAMETER_VALUE, "more than 4 files", "ENTRIES"):
        federate.download(http_server.url("model/"), tmp_path / "dst")
    monkeypatch.setenv("FEDERATE_MAX_LISTING_ENTRIES", "5")
    federate.download(http_server.url("model/"), tmp_path / "dst")
    assert len(list((tmp_path / "dst" / "sub").iterdir())) == 4


class _RedirectingIndex(BaseHTTPRequestHandler):
    """``/m/`` lists ``a/`` and ``f.txt``; ``/m/a/`` (and ``/m/a/a/``...) redirect back to
    ``/m/``, whose links then lead to ``/m/a/a/``...: a listing that never ends."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/m/a/") and self.path.endswith("/"):
            self.send_response(301)
            self.send_header("Location", "/m/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'<a href="a/">a/</a> <a href="f.txt">f.txt</a>' if self.path == "/m/" else b"f"
        kind = "text/html" if self.path == "/m/" else "application/octet-stream"
        self.send_response(200 if self.path in ("/m/", "/m/f.txt") else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RedirectingIndex)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/m/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_index_redirecting_to_a_page_already_read_is_a_loop(
    redirecting_server: str, federate_home: Path, tmp_path: Path
) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, "reached again", "'a'", "loops back"):
        federate.download(redirecting_server, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
