"""The store contract every artifact-store fixture yields, and the local one.

A ``store_<name>`` fixture (``store_local``, ``store_s3``, ``store_azure``, ``store_gcs``,
``store_http``...) yields a :class:`StoreUnderTest`: an empty, writable location in a
real store, and a way to put bytes there *without* going through federate, so tests of a
repository plugin compare what federate reads against what the store's own SDK wrote.
Plugin authors write the same kind of fixture for their store and get the same tests.

Fixtures that need an external tool (Azurite, an emulator) skip when it is missing,
saying how to get it; with ``FEDERATE_TEST_REQUIRE_SERVERS=1`` (CI sets it) they fail
instead, so a missing emulator cannot pass unnoticed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from federate.credentials import ScopedCredentials

REQUIRE_ENV = "FEDERATE_TEST_REQUIRE_SERVERS"


@dataclass
class ScopedAccess:
    """How a store hands out scoped credentials, for the credential conformance tests."""

    #: fresh credentials (what a registry would vend) allowed to read the store's root
    mint: Callable[[], ScopedCredentials]
    #: make the store refuse ``credentials`` from now on, as it does once they expire
    revoke: Callable[[ScopedCredentials], None]
    #: credentials the store refuses outright (a wrong secret)
    wrong: Callable[[], ScopedCredentials]
    #: a context in which the store checks credentials as the real service does (emulators
    #: that skip the checks by default turn them on here); nullcontext if it always does
    enforcing: Callable[[], AbstractContextManager[object]] = nullcontext


@dataclass
class StoreUnderTest:
    """An empty location in a running store, for the duration of one test."""

    #: short store name, used in test ids ("local", "s3", ...)
    name: str
    #: storage URI of the empty location, as a user would write it (no secrets inside)
    root: str
    #: write ``data`` at ``path`` (relative, '/'-separated) under ``root`` with the store's SDK
    put: Callable[[str, bytes], None]
    #: environment a federate process needs to reach the store (endpoints, keys)
    env: dict[str, str] = field(default_factory=dict)
    #: scoped credentials for this store, if it has them (None: those tests skip)
    scoped: ScopedAccess | None = None

    def uri(self, path: str = "") -> str:
        return f"{self.root.rstrip('/')}/{path}" if path else self.root


def server_unavailable(what: str, how_to_get_it: str) -> NoReturn:
    """Skip the test (or fail it under FEDERATE_TEST_REQUIRE_SERVERS=1), saying why and how."""
    message = f"{what} is not available: {how_to_get_it}"
    if os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_prefix() -> str:
    """A fresh prefix, so tests sharing one bucket or container never see each other."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store_local(tmp_path: Path) -> Iterator[StoreUnderTest]:
    """A directory on local disk, addressed by its ``file://`` URI."""
    root = tmp_path / "store"
    root.mkdir()

    def put(path: str, data: bytes) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    yield StoreUnderTest("local", root.as_uri(), put)
