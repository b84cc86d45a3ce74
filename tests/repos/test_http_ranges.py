"""Ranged reads from servers that answer with other bytes than asked: another range, the
whole file, or a new version of the file despite ``If-Match``. The server sends no digest,
so nothing but the checks of each answer stands between them and a file of wrong bytes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import federate
from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.testing.http import Access, FileServer

MiB = 1024 * 1024
PATH = "/model/weights.bin"


@pytest.fixture
def bare(tmp_path: Path, federate_home: Path, small_ranges: None) -> Iterator[FileServer]:
    """A server without digest headers serving model/weights.bin (5 MiB + 5 B: 6 ranges)."""
    root = tmp_path / "served"
    (root / "model").mkdir(parents=True)
    (root / "model" / "weights.bin").write_bytes(os.urandom(5 * MiB + 5))
    server = FileServer(root, send_digest=False).start()
    yield server
    server.stop()


def ranged_gets(server: FileServer) -> list[Access]:
    return [a for a in server.access_log if a.path == PATH and a.method == "GET" and a.range]


def leftovers(tmp_path: Path) -> list[str]:
    return [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_an_answer_with_another_range_restarts_the_file(bare, tmp_path):
    bare.faults.shift_range[PATH] = [1, 1]  # the first ranged GET gets the bytes one on
    dst = federate.download(bare.url("model/"), tmp_path / "out")
    assert (Path(dst) / "weights.bin").read_bytes() == (bare.directory / PATH[1:]).read_bytes()
    asked = [a.range for a in ranged_gets(bare)]
    assert asked.count(asked[0]) >= 2  # the range answered wrongly was asked for again
    assert len(set(asked)) == 6


def test_a_server_answering_other_ranges_every_time_fails_clearly(bare, tmp_path):
    bare.faults.shift_range[PATH] = [-7, 10_000]
    with raises_federate_error(
        INTERNAL_ERROR, "weights.bin", "asked for bytes", "the answer holds bytes", "2 times"
    ):
        federate.download(bare.url("model/"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_two_versions_are_never_mixed_when_if_match_is_ignored(bare, tmp_path, monkeypatch):
    """The file is replaced (new bytes, new ETag) after the second ranged GET, and the
    server serves the new one whatever ``If-Match`` says."""
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")  # later ranges start after the swap
    bare.faults.ignore_if_match = True
    seen = 0
    lock = threading.Lock()

    def swap(access: Access) -> None:
        nonlocal seen
        with lock:
            if access.path != PATH or not access.range:
                return
            seen += 1
            if seen != 3:
                return
        fresh = tmp_path / "fresh.bin"
        fresh.write_bytes(os.urandom(5 * MiB + 5))
        os.replace(fresh, bare.directory / PATH[1:])  # in-flight answers keep the old file

    bare.faults.on_request = swap
    with raises_federate_error(INTERNAL_ERROR, "weights.bin", "ETag", "ignored If-Match"):
        federate.download(bare.url("model/"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_server_ignoring_ranges_gets_one_whole_read_never_a_body_at_an_offset(bare, tmp_path):
    # python -m http.server answers every ranged GET with the whole file (HTTP 200)
    bare.faults.ignore_range.add(PATH)
    dst = federate.download(bare.url("model/"), tmp_path / "out")
    assert (Path(dst) / "weights.bin").read_bytes() == (bare.directory / PATH[1:]).read_bytes()
    gets = ranged_gets(bare)
    assert {a.status for a in gets} == {200}
    # the first ranges (taken by the workers together, so some may be sent after the first
    # answer already showed the server ignores ranges) and one whole read
    whole = [a for a in gets if a.range == f"bytes=0-{5 * MiB + 5 - 1}"]
    assert len(whole) == 1
    assert len(gets) <= 6 + 1
    assert not leftovers(tmp_path)


def test_a_whole_file_answer_to_a_range_of_the_whole_file_is_used(bare, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "8MiB")  # one range: the whole file
    bare.faults.ignore_range.add(PATH)
    dst = federate.download(bare.url("model/"), tmp_path / "out")
    assert (Path(dst) / "weights.bin").read_bytes() == (bare.directory / PATH[1:]).read_bytes()
    assert [a.status for a in ranged_gets(bare)] == [200]
