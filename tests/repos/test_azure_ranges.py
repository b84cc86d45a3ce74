"""Ranged reads from Azurite with the blob replaced between ranges: every read is pinned
to the ETag the listing saw, so the store refuses the new version's bytes (412) instead
of their landing beside the old one's. The blob is uploaded in one request without an
MD5, so nothing else would notice a mixed file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import federate
from federate.errors import INTERNAL_ERROR
from federate.testing.azure import Azurite
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest

MiB = 1024 * 1024
SIZE = 6 * MiB + 3


def put_in_blocks(azurite: Azurite, store: StoreUnderTest, path: str, data: bytes) -> None:
    """Upload as a block list: Azure keeps no MD5 of such a blob (one Put Blob it would)."""
    container, _, rest = store.root.removeprefix("wasbs://").partition("@")
    prefix = rest.partition("/")[2]
    blob = azurite.service_client().get_blob_client(container, f"{prefix}/{path}")
    blob.stage_block("AAAA", data[: len(data) // 2])
    blob.stage_block("AAAB", data[len(data) // 2 :])
    blob.commit_block_list(["AAAA", "AAAB"])


def test_a_blob_replaced_between_ranges_is_never_mixed(
    store_azure: StoreUnderTest,
    azurite_blob: Azurite,
    fault_proxy,
    federate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")  # later ranges start after the swap
    put_in_blocks(azurite_blob, store_azure, "m/big.bin", os.urandom(SIZE))
    repo = store_azure.open_repo()
    assert repo.stat("m/big.bin").checksum is None  # no MD5: only the pin can tell
    proxy = fault_proxy(f"http://127.0.0.1:{azurite_blob.port}")
    endpoint = f"{proxy.url}/{azurite_blob.blob_endpoint.rsplit('/', 1)[1]}"
    connection = azurite_blob.connection_string().replace(azurite_blob.blob_endpoint, endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    seen = 0
    lock = threading.Lock()

    def hook(request: str, headers: dict[str, str]) -> None:
        nonlocal seen
        if not request.startswith("GET ") or not request.split("?")[0].endswith("/m/big.bin"):
            return
        with lock:
            seen += 1
            mine = seen == 3
        if mine:
            put_in_blocks(azurite_blob, store_azure, "m/big.bin", os.urandom(SIZE))  # new ETag

    proxy.on_request = hook
    with raises_federate_error(INTERNAL_ERROR, "big.bin", "changed on the store", "ETag"):
        federate.download(store_azure.uri("m"), tmp_path / "out")
    assert seen > 3
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


@pytest.mark.parametrize("threshold", [None, "16MiB"], ids=["sdk-size", "set"])
def test_blobs_up_to_the_sdks_single_get_size_are_read_in_one_request(
    store_azure: StoreUnderTest,
    azurite_blob: Azurite,
    fault_proxy,
    federate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    threshold: str | None,
):
    # 20 MiB: above the engine's 16 MiB split threshold, within azure-storage-blob's 32 MiB
    # single GET; ranges only when the user set the threshold
    if threshold is not None:
        monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", threshold)
    data = os.urandom(20 * MiB)
    store_azure.put("m/w.bin", data)
    proxy = fault_proxy(f"http://127.0.0.1:{azurite_blob.port}")
    endpoint = f"{proxy.url}/{azurite_blob.blob_endpoint.rsplit('/', 1)[1]}"
    connection = azurite_blob.connection_string().replace(azurite_blob.blob_endpoint, endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    ranges: list[str | None] = []

    def hook(request: str, headers: dict[str, str]) -> None:
        if request.startswith("GET ") and request.split("?")[0].endswith("/m/w.bin"):
            ranges.append(headers.get("x-ms-range") or headers.get("Range"))

    proxy.on_request = hook
    out = federate.download(store_azure.uri("m"), tmp_path / "out")
    assert (Path(out) / "w.bin").read_bytes() == data
    if threshold is None:
        assert ranges == [None]
    else:
        assert len(ranges) == 3 and None not in ranges
