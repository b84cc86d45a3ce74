"""What the Unity Catalog tests share: a model tree with a ranged file, small ranges."""

from __future__ import annotations

import os

import pytest

MiB = 1024 * 1024


@pytest.fixture
def tree() -> dict[str, bytes]:
    """A version's files: empty, non-ASCII, small ones and one past the ranged threshold."""
    return {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "empty.txt": b"",
        "data/weights.bin": os.urandom(20 * MiB + 13),
        "data/größe ünïcödé.json": b'{"k": "v"}',
        **{f"extra/f{i:02d}.txt": os.urandom(100 + i) for i in range(20)},
    }


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    # many ranges, few workers: the download lasts long enough to expire credentials in it
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1M")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "4M")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")
