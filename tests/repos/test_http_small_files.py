"""Many small files over http: one request each, checked against the listing and the GET."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import federate
from federate.entities import FileInfo
from federate.errors import INTERNAL_ERROR, TEMPORARILY_UNAVAILABLE
from federate.repos.http import HttpArtifactRepository
from federate.testing.errors import raises_federate_error
from federate.testing.http import FileServer
from federate.testing.trees import tree_digest
from federate.transfer import download

MiB = 1024 * 1024


def make_tree(root: Path, files: int) -> None:
    for i in range(files):
        target = root / f"d{i % 3}" / f"f{i:03d}.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(1000 + i))


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[FileServer]:
    """A server whose index pages carry no sizes (like ``python -m http.server``)."""
    served = tmp_path / "bare-root"
    served.mkdir()
    server = FileServer(served, listing_sizes=False).start()
    yield server
    server.stop()


@pytest.fixture
def ranges_from_2mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")


def requests_by_method(server: FileServer, prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in server.access_log:
        if a.path.startswith(prefix) and not a.path.endswith("/"):
            out.setdefault(a.method, []).append(a.path)
    return out


def test_small_files_with_listed_sizes_cost_one_get_each(
    http_server, federate_home, tmp_path, ranges_from_2mib, monkeypatch
):
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "4")
    make_tree(http_server.directory / "tree", 60)
    (http_server.directory / "tree" / "big.bin").write_bytes(os.urandom(3 * MiB))
    dst = federate.download(http_server.url("tree/"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")
    seen = requests_by_method(http_server, "/tree/")
    # only the big file is looked up first (its ranges are pinned to the ETag it reports)
    assert seen["HEAD"] == ["/tree/big.bin"]
    small_gets = [p for p in seen["GET"] if p != "/tree/big.bin"]
    assert len(small_gets) == len(set(small_gets)) == 60
    # the workers share kept-alive connections: a handful, not one per file
    assert len({a.peer for a in http_server.access_log}) <= 4 + 1


def test_an_index_without_sizes_falls_back_to_a_head_per_file(bare_server, federate_home, tmp_path):
    make_tree(bare_server.directory / "tree", 12)
    dst = federate.download(bare_server.url("tree/"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(bare_server.directory / "tree")
    seen = requests_by_method(bare_server, "/tree/")
    assert sorted(seen["HEAD"]) == sorted(seen["GET"]) and len(seen["GET"]) == 12


class ChangesAfterListing(HttpArtifactRepository):
    """Lists the real server, then the file ``victim`` is replaced on it by ``new``: the
    moment between a listing and its GETs, produced for real."""

    victim: Path
    new: bytes

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        listed = super().list(path, recursive)
        fresh = self.victim.with_name("fresh")
        fresh.write_bytes(self.new)
        os.replace(fresh, self.victim)
        return listed


def changing_repo(server: FileServer, victim: Path, new: bytes) -> ChangesAfterListing:
    repo = ChangesAfterListing(server.url("tree/"))
    repo.victim, repo.new = victim, new
    return repo


def test_a_get_whose_length_disagrees_with_the_listing_is_an_error(
    http_server, federate_home, tmp_path
):
    make_tree(http_server.directory / "tree", 6)
    victim = http_server.directory / "tree" / "d1" / "f001.bin"
    repo = changing_repo(http_server, victim, os.urandom(5000))
    with raises_federate_error(
        INTERNAL_ERROR,
        "d1/f001.bin changed on the server between listing and download",
        "5000 bytes, the listing said 1001",
    ):
        download(repo, tmp_path / "dl" / "out")
    assert os.listdir(tmp_path / "dl") == []  # no dst, no staging left behind


def test_a_file_changed_between_listing_and_get_is_refused_by_its_etag(
    bare_server, federate_home, tmp_path
):
    make_tree(bare_server.directory / "tree", 6)
    victim = bare_server.directory / "tree" / "d1" / "f001.bin"
    # same size: only the ETag the listing's HEAD saw tells the versions apart
    repo = changing_repo(bare_server, victim, os.urandom(1001))
    with raises_federate_error(INTERNAL_ERROR, "d1/f001.bin changed on the server"):
        download(repo, tmp_path / "dl" / "out")
    assert 412 in [a.status for a in bare_server.access_log]
    assert os.listdir(tmp_path / "dl") == []


def test_a_server_ignoring_if_match_is_caught_by_the_etag_it_sends(
    bare_server, federate_home, tmp_path
):
    bare_server.faults.ignore_if_match = True
    make_tree(bare_server.directory / "tree", 6)
    victim = bare_server.directory / "tree" / "d1" / "f001.bin"
    repo = changing_repo(bare_server, victim, os.urandom(1001))
    with raises_federate_error(
        INTERNAL_ERROR, "changed on the server between listing and download", "ETag"
    ):
        download(repo, tmp_path / "dl" / "out")
    assert os.listdir(tmp_path / "dl") == []


def test_a_small_file_is_verified_with_the_checksum_its_get_reports(
    http_server, federate_home, tmp_path
):
    make_tree(http_server.directory / "tree", 6)
    http_server.faults.corrupt.add("/tree/d2/f002.bin")
    with raises_federate_error(INTERNAL_ERROR, "d2/f002.bin", "sha256 checksum mismatch"):
        federate.download(http_server.url("tree/"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert "HEAD" not in requests_by_method(http_server, "/tree/")  # the GET said it all


def test_a_truncated_small_file_is_retried_then_whole(http_server, federate_home, tmp_path):
    make_tree(http_server.directory / "tree", 6)
    http_server.faults.drop_after["/tree/d0/f003.bin"] = [100, 2]
    dst = federate.download(http_server.url("tree/"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")
    assert requests_by_method(http_server, "/tree/")["GET"].count("/tree/d0/f003.bin") == 3


def test_proxies_from_the_environment_are_used(http_server, federate_home, tmp_path, monkeypatch):
    make_tree(http_server.directory / "tree", 2)
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "1")
    port = port_nobody_listens_on()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "failed"):
        federate.download(http_server.url("tree/"), tmp_path / "out")
    assert http_server.access_log == []  # it went to the (dead) proxy, not the server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    dst = federate.download(http_server.url("tree/"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")


def port_nobody_listens_on() -> int:
    """A port that was free a moment ago: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_small_files_keep_no_resume_records(http_server, federate_home, tmp_path, monkeypatch):
    """A failed run keeps its staging directory for the big file's ranges; small files
    leave no record there (they are fetched again, whole) and the next run completes."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "512KiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1MiB")
    monkeypatch.setenv("FEDERATE_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0")
    make_tree(http_server.directory / "tree", 6)
    (http_server.directory / "tree" / "big.bin").write_bytes(os.urandom(2 * MiB))
    http_server.faults.fail_with["/tree/d0/f000.bin"] = [503] * 2
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "d0/f000.bin", "after 2 attempts"):
        federate.download(http_server.url("tree/"), tmp_path / "dl" / "out")
    (staging,) = (tmp_path / "dl").glob(".out.*.partial")
    assert len(list((staging / "records").iterdir())) == 1  # big.bin's, nothing else
    assert list((staging / "tree").rglob("*.incomplete")) in (
        [],
        [staging / "tree/big.bin.incomplete"],
    )
    dst = federate.download(http_server.url("tree/"), tmp_path / "dl" / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")
    assert os.listdir(tmp_path / "dl") == ["out"]


def test_a_directory_url_without_slash_is_listed_as_a_directory(
    http_server, federate_home, tmp_path
):
    make_tree(http_server.directory / "tree", 3)
    dst = federate.download(http_server.url("tree"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")
    # the listing asks for the index page straight away: no HEAD, no redirect first
    assert (http_server.access_log[0].path, http_server.access_log[0].status) == ("/tree/", 200)


@pytest.mark.parametrize("connections", ["0", "1", "2"])
def test_small_files_are_pipelined_on_as_many_connections_as_asked(
    http_server, federate_home, tmp_path, monkeypatch, connections
):
    monkeypatch.setenv("FEDERATE_BATCH_CONNECTIONS", connections)
    make_tree(http_server.directory / "tree", 150)
    dst = federate.download(http_server.url("tree/"), tmp_path / "out")
    assert tree_digest(Path(dst)) == tree_digest(http_server.directory / "tree")
    gets = [a for a in http_server.access_log if a.method == "GET" and a.path.endswith(".bin")]
    assert len(gets) == 150  # one GET per file, whichever way
    peers = {a.peer for a in gets}
    if connections == "0":
        assert len(peers) > 2  # one request at a time on every worker's connection
    else:
        assert len(peers) == int(connections)  # every file through the batch lanes
