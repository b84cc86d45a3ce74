"""``store``: the conformance suite's parameter, one real store per id."""

from __future__ import annotations

import pytest

from federate.testing.stores import StoreUnderTest

#: Every store the conformance suite runs against; each has a ``store_<name>`` fixture.
STORES = ["local", "http", "s3", "gcs", "azure"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> StoreUnderTest:
    return request.getfixturevalue(f"store_{request.param}")
