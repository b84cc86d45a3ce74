"""Ranged reads from the GCS emulator answered with other bytes than asked: a ``Range``
shifted on the way, and an object replaced between ranges (the emulator ignores the
generation pin, as a store that ignores preconditions would)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import federate
from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.testing.faults import FaultProxy
from federate.testing.stores import StoreUnderTest

MiB = 1024 * 1024
SIZE = 6 * MiB + 3


@pytest.fixture
def proxied(
    store_gcs: StoreUnderTest, fault_proxy, federate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> FaultProxy:
    """m/big.bin (7 ranges of 1 MiB), read through a fault proxy."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")  # later ranges start after a swap
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
    store_gcs.put("m/big.bin", os.urandom(SIZE))
    proxy = fault_proxy(store_gcs.env["STORAGE_EMULATOR_HOST"])
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    return proxy


def on_media_get(proxy: FaultProxy, number: int, act) -> None:
    """Call ``act(headers)`` on the ``number``-th ranged media GET (from 1)."""
    seen = 0
    lock = threading.Lock()

    def hook(request: str, headers: dict[str, str]) -> None:
        nonlocal seen
        if not request.startswith("GET ") or "alt=media" not in request:
            return
        if "Range" not in headers:
            return
        with lock:
            seen += 1
            mine = seen == number
        if mine:
            act(headers)

    proxy.on_request = hook


def test_an_answer_with_another_range_restarts_the_file(proxied, store_gcs, tmp_path):
    def shift(headers: dict[str, str]) -> None:
        first, last = headers["Range"].removeprefix("bytes=").split("-")
        headers["Range"] = f"bytes={int(first) + 1}-{int(last) + 1}"

    on_media_get(proxied, 2, shift)
    out = federate.download(store_gcs.uri("m"), tmp_path / "out")
    repo = store_gcs.open_repo()
    assert (Path(out) / "big.bin").read_bytes() == repo.read_range("m/big.bin", 0, SIZE)
    media = [r for r in proxied.requests if "alt=media" in r]
    assert len(media) > 7  # the file was fetched again after the wrong answer


def test_an_object_replaced_between_ranges_is_never_mixed(proxied, store_gcs, tmp_path):
    """GCS answers a read pinned to a replaced generation with 412; the emulator serves
    the new one and names no generation in its answers, so here the object's CRC32C is
    what refuses the mix. Either way no file is installed."""
    on_media_get(proxied, 3, lambda headers: store_gcs.put("m/big.bin", os.urandom(SIZE)))
    with raises_federate_error(INTERNAL_ERROR, "big.bin"):
        federate.download(store_gcs.uri("m"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []
