"""The store contract every artifact-store fixture yields, and the local one.

A ``store_<name>`` fixture (``store_local``, ``store_s3``, ``store_azure``, ``store_gcs``,
``store_http``...) yields a :class:`StoreUnderTest`: an empty, writable location in a
real store, and a way to put bytes there *without* going through federate, so tests of a
repository plugin compare what federate reads against what the store's own SDK wrote.
Plugin authors write the same kind of fixture for their store and get the same tests.

A store whose locations open only with the credentials a registry vends (presigned URL
sets: ``store_presigned``) sets ``needs_credentials``; :meth:`StoreUnderTest.open_repo`
then opens it with fresh ``scoped.mint()`` credentials, as a registry would.

Fixtures that need an external tool (Azurite, an emulator) skip when it is missing,
saying how to get it; with ``FEDERATE_TEST_REQUIRE_SERVERS=1`` (CI sets it) they fail
instead, so a missing emulator cannot pass unnoticed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from federate.credentials import ScopedCredentials

if TYPE_CHECKING:
    from federate.credentials import CredentialRefresher
    from federate.repos.base import ArtifactRepository

REQUIRE_ENV = "FEDERATE_TEST_REQUIRE_SERVERS"


def secret_values(credentials: ScopedCredentials) -> Iterable[str]:
    """Every value of ``credentials`` but ``access_key_id`` (a key id names, not proves)."""
    return [v for k, v in credentials.values.items() if k != "access_key_id" and v]


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
    #: the strings of ``credentials`` that must never show in messages or reprs
    secrets: Callable[[ScopedCredentials], Iterable[str]] = secret_values


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
    #: ``root`` opens only with credentials a registry vends (``scoped.mint()``), as a
    #: presigned URL set: :meth:`open_repo` mints them when none are given
    needs_credentials: bool = False

    def uri(self, path: str = "") -> str:
        return f"{self.root.rstrip('/')}/{path}" if path else self.root

    def open_repo(
        self,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> ArtifactRepository:
        """The repository federate opens for ``root``, with ``credentials`` and ``refresh``.

        Without credentials, a store that ``needs_credentials`` is opened with fresh ones
        from ``scoped.mint()``, renewed by minting again: what a registry hands over.
        """
        from federate.plugins.manager import get_plugin_host

        if credentials is None and self.needs_credentials:
            if self.scoped is None:
                raise ValueError(f"store {self.name!r} needs credentials but has no scoped access")
            credentials, refresh = self.scoped.mint(), self.scoped.mint
        return get_plugin_host().open_repo(self.root, credentials, refresh)


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
