"""Ranged reads from S3 (moto) answered with other bytes than asked: the object replaced
between ranges, with the store honouring ``If-Match`` or (behind a proxy dropping it) not,
and a ``Range`` shifted on the way. The object is a single-part upload listed without a
checksum, so the checks of each answer are all that stands between it and a mixed file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import federate
from federate.errors import INTERNAL_ERROR
from federate.testing.errors import raises_federate_error
from federate.testing.faults import FaultProxy
from federate.testing.s3 import MotoS3
from federate.testing.stores import StoreUnderTest

MiB = 1024 * 1024
SIZE = 6 * MiB + 3


@pytest.fixture
def proxied(
    store_s3: StoreUnderTest,
    s3_env: MotoS3,
    fault_proxy,
    federate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[FaultProxy, str]:
    """m/big.bin (7 ranges of 1 MiB), read through a fault proxy; (proxy, its URL path)."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")  # later ranges start after a swap
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
    store_s3.put("m/big.bin", os.urandom(SIZE))
    proxy = fault_proxy(s3_env.endpoint)
    monkeypatch.setenv("FEDERATE_S3_ENDPOINT_URL", proxy.url)
    bucket = store_s3.root.removeprefix("s3://")
    return proxy, f"/{bucket}/m/big.bin"


def on_ranged_get(
    proxy: FaultProxy, path: str, number: int, act, drop_if_match: bool = False
) -> None:
    """Call ``act(headers)`` on the ``number``-th ranged GET of ``path`` (from 1);
    ``drop_if_match``: the store never sees ``If-Match``."""
    seen = 0
    lock = threading.Lock()

    def hook(request: str, headers: dict[str, str]) -> None:
        nonlocal seen
        if request != f"GET {path}" or "Range" not in headers:
            return
        if drop_if_match:
            headers.pop("If-Match", None)
        with lock:
            seen += 1
            mine = seen == number
        if mine:
            act(headers)

    proxy.on_request = hook


@pytest.mark.parametrize("honours_if_match", [True, False], ids=["if-match", "ignored"])
def test_an_object_replaced_between_ranges_is_never_mixed(
    proxied, store_s3, tmp_path, honours_if_match
):
    proxy, path = proxied

    def replace(headers: dict[str, str]) -> None:
        store_s3.put("m/big.bin", os.urandom(SIZE))  # a new version, a new ETag

    on_ranged_get(proxy, path, 3, replace, drop_if_match=not honours_if_match)
    words = ["big.bin", "PreconditionFailed"] if honours_if_match else ["big.bin", "ETag"]
    with raises_federate_error(INTERNAL_ERROR, *words):
        federate.download(store_s3.uri("m"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_an_answer_with_another_range_restarts_the_file(proxied, store_s3, s3_env, tmp_path):
    proxy, path = proxied

    def shift(headers: dict[str, str]) -> None:
        first, last = headers["Range"].removeprefix("bytes=").split("-")
        headers["Range"] = f"bytes={int(first) + 1}-{int(last) + 1}"

    on_ranged_get(proxy, path, 1, shift)
    out = federate.download(store_s3.uri("m"), tmp_path / "out")
    bucket = store_s3.root.removeprefix("s3://")
    stored = s3_env.client().get_object(Bucket=bucket, Key="m/big.bin")["Body"].read()
    assert (Path(out) / "big.bin").read_bytes() == stored
    ranged = [r for r in proxy.requests if r == f"GET {path}"]
    assert len(ranged) > 7  # the file was fetched again after the wrong answer
