"""Small files fetched in batches (``download_many``) by stores that batch: every file once,
in lanes sharing one queue; a batch cut off by a transient error finishes file by file;
other errors end the download with nothing installed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from federate.errors import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.testing.errors import raises_federate_error
from federate.testing.trees import tree_digest
from federate.transfer.engine import download


@pytest.fixture
def batching(counting):
    class BatchingStore(counting):
        """The counting local store, fetching small files through ``download_many``; it can
        break a batch after ``break_after`` files with ``fault``."""

        batches_downloads = True

        def __init__(self, root: str, break_after: int | None = None, fault=None) -> None:
            super().__init__(root)
            self.batches: list[list[str]] = []
            self.break_after = break_after
            self.fault = fault or ConnectionResetError("connection reset by peer")
            self.batched = 0
            self._count = threading.Lock()

        def download_many(self, files):
            mine: list[str] = []
            with self._count:
                self.batches.append(mine)
            for path, local_path, _size in files:
                with self._count:
                    if self.break_after is not None and self.batched >= self.break_after:
                        self.break_after = None  # one fault
                        raise self.fault
                    self.batched += 1
                mine.append(path)
                with open(self._full(path), "rb") as src, open(local_path, "wb") as out:
                    out.write(src.read())
                yield path, None

    return BatchingStore


@pytest.fixture
def many(tmp_path: Path) -> Path:
    root = tmp_path / "many"
    for i in range(300):
        sub = root / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(os.urandom(100 + i))
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # too big to batch
    return root


def test_small_files_go_in_batches_on_lanes_sharing_one_queue(
    batching, many, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_BATCH_CONNECTIONS", "3")
    store = batching(str(many))
    download(store, tmp_path / "out")
    assert tree_digest(tmp_path / "out") == tree_digest(many)
    batched = [p for batch in store.batches for p in batch]
    assert len(store.batches) == 3  # 300 files: enough for every lane asked for
    assert sorted(batched) == sorted(p for p in _files(many) if p != "big.bin")  # each once
    assert store.whole == ["big.bin"]  # bigger than a batch takes: on its own


def test_batching_can_be_switched_off(batching, many, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_BATCH_CONNECTIONS", "0")
    store = batching(str(many))
    download(store, tmp_path / "out")
    assert tree_digest(tmp_path / "out") == tree_digest(many)
    assert store.batches == [] and len(store.whole) == 301


def test_a_batch_cut_off_by_a_reset_finishes_file_by_file(batching, many, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDERATE_BATCH_CONNECTIONS", "1")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0")
    store = batching(str(many), break_after=50)
    download(store, tmp_path / "out")
    assert tree_digest(tmp_path / "out") == tree_digest(many)
    assert len(store.batches) == 2  # the lane started a new batch for the rest
    assert len(store.batches[0]) == 50
    # the one handed over when the reset came was fetched on its own
    assert len(store.whole) == 2 and "big.bin" in store.whole


def test_a_missing_file_in_a_batch_fails_the_download_and_installs_nothing(
    batching, many, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_BATCH_CONNECTIONS", "2")
    gone = FederateError("No such file at d3/f3.bin", RESOURCE_DOES_NOT_EXIST)
    store = batching(str(many), break_after=10, fault=gone)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "d3/f3.bin"):
        download(store, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert os.listdir(tmp_path) == ["many"]  # no staging directory left behind


def test_a_wrong_byte_in_a_batched_file_is_caught(batching, many, tmp_path):
    class Corrupting(batching):
        def download_many(self, files):
            for path, sent in super().download_many(files):
                if path == "d0/f7.bin":
                    for candidate in tmp_path.glob(".out.*.partial/tree/d0/f7.bin"):
                        data = bytearray(candidate.read_bytes())
                        data[0] ^= 1
                        candidate.write_bytes(data)
                yield path, sent

    with raises_federate_error(INTERNAL_ERROR, "d0/f7.bin: sha256 checksum mismatch"):
        download(Corrupting(str(many)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
