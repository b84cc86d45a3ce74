"""Fixtures of the repository tests: ``store`` (the conformance suite's parameter, one real
store per id) and ``small_ranges``."""

from __future__ import annotations

import pytest

from federate.testing.stores import StoreUnderTest

#: Every store the conformance suite runs against; each has a ``store_<name>`` fixture.
STORES = ["local", "http", "s3", "gcs", "azure", "presigned"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> StoreUnderTest:
    return request.getfixturevalue(f"store_{request.param}")


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB ranges for files from 2 MiB up and quick retries: a 5 MiB file takes 6 reads."""
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1MiB")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "2MiB")
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0.01")
