"""A presigned-URL store for tests: the HTTP file server behind an HMAC signature check.

:class:`UrlSigner` signs ``GET`` URLs of a :class:`~federate.testing.http.FileServer`
the way S3/GCS/Azure presign them: method, path and expiry under an HMAC in the query
string. The server then answers 403 (S3's ``AccessDenied`` "Request has expired", or
GCS's 400 ``ExpiredToken`` with ``expired_status=400``) to expired URLs, 403
``SignatureDoesNotMatch`` to forged or revoked ones and to other methods (a GET URL
does not allow HEAD), and 403 when a header the URL was issued with is missing. The
server's clock can be moved forward to make issued URLs expire mid-download.

``store_presigned`` makes that server a member of the conformance suite: a read-only,
GET-only store whose root (``presigned:<id>``) opens only with the URL set a registry
would vend, every file under the root signed, with its size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.http import FileServer
from federate.testing.stores import ScopedAccess, StoreUnderTest, unique_prefix

#: The header every signed URL must be sent with, as presigned URLs with SSE-C keys are.
SCOPE_HEADER = "x-federate-test-scope"


def _expired(status: int) -> tuple[int, str]:
    if status == 400:
        return 400, "<Error><Code>ExpiredToken</Code><Message>Invalid argument.</Message></Error>"
    return status, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


class UrlSigner:
    """Signs URLs for ``server`` and makes it refuse everything not signed and current."""

    def __init__(self, server: FileServer, *, expired_status: int = 403) -> None:
        self.server = server
        self.expired_status = expired_status
        self._key = os.urandom(32)
        self._offset = 0.0
        self._lock = threading.Lock()
        #: (status, reason) of every refusal, in order
        self.refusals: list[tuple[int, str]] = []
        server.gate = self.check

    def now(self) -> float:
        """The server's clock (real time plus what :meth:`advance` added)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock: URLs expiring within ``seconds`` are refused from now."""
        self._offset += seconds

    def revoke(self) -> None:
        """Refuse every URL signed so far (a rotated signing key)."""
        self._key = os.urandom(32)

    def _mac(self, method: str, path: str, expires: int) -> str:
        text = f"{method}\n{path}\n{expires}".encode()
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()

    def sign(self, rel: str, ttl: float = 3600.0) -> tuple[str, float]:
        """(URL, expiry) for a GET of file ``rel`` of the served directory, valid ``ttl`` s."""
        path = "/" + quote(rel)
        expires = int(self.now() + ttl)
        sig = self._mac("GET", path, expires)
        return f"{self.server.url(rel)}?X-Expires={expires}&X-Signature={sig}", float(expires)

    def check(
        self, method: str, path: str, query: str, headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        refusal = self._refusal(method, path, query, headers)
        if refusal is not None:
            with self._lock:
                self.refusals.append(refusal)
        return refusal

    def _refusal(
        self, method: str, path: str, query: str, headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        params = parse_qs(query)
        try:
            expires = int(params["X-Expires"][0])
            sig = params["X-Signature"][0]
        except (KeyError, ValueError):
            return 403, "<Error><Code>AccessDenied</Code><Message>Not signed</Message></Error>"
        if not hmac.compare_digest(sig, self._mac(method, path, expires)):
            return 403, "<Error><Code>SignatureDoesNotMatch</Code></Error>"
        if expires <= self.now():
            return _expired(self.expired_status)
        if headers.get(SCOPE_HEADER) != "read":
            return 403, f"<Error><Code>AccessDenied</Code><Message>{SCOPE_HEADER}</Message></Error>"
        return None


@pytest.fixture
def presigned_server(tmp_path: Path) -> Iterator[UrlSigner]:
    """A :class:`UrlSigner` in front of a file server over an empty directory
    (``signer.server.directory``)."""
    served = tmp_path / "presigned-root"
    served.mkdir()
    server = FileServer(served).start()
    yield UrlSigner(server)
    server.stop()


def url_secrets(credentials: ScopedCredentials) -> list[str]:
    """The query string of every URL in a ``presigned_urls`` set, and each of its values:
    what a message, log line or repr must never show."""
    from federate.repos.presigned import parse_presigned

    found: list[str] = []
    for entry in parse_presigned(credentials).values():
        query = urlsplit(entry.url).query
        found += [query, *(value for _, value in parse_qsl(query))]
    return [s for s in found if s]


@pytest.fixture
def store_presigned(presigned_server: UrlSigner) -> Iterator[StoreUnderTest]:
    """A read-only store of presigned URLs: ``put`` writes into the signing server's
    directory; ``scoped.mint()`` signs every file under the root, with its size, as a
    registry hands them out (the root, ``presigned:<id>``, opens only with such a set).
    ``revoke`` rotates the signing key; ``wrong`` signs with a key the server never had,
    and leaves the sizes out, so that listing asks the store too (with sizes a listing
    is the registry's word alone and reaches no store).

    A first URL set is renewed ahead of expiry only within half its remaining lifetime
    (see ``federate.repos.presigned``), so the suite's "about to expire" test passes here
    through the renewal on refusal; ``tests/repos/test_presigned.py`` checks renewal
    before expiry."""
    from federate.repos.presigned import PresignedUrl, presigned_credentials

    prefix = unique_prefix()
    base = presigned_server.server.directory / prefix
    base.mkdir()

    def put(path: str, data: bytes) -> None:
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def url_set(*, forged: bool) -> ScopedCredentials:
        urls = []
        for full in sorted(p for p in base.rglob("*") if p.is_file()):
            url, expires = presigned_server.sign(f"{prefix}/{full.relative_to(base).as_posix()}")
            if forged:
                url = url.rpartition("X-Signature=")[0] + "X-Signature=" + os.urandom(32).hex()
            size = None if forged else full.stat().st_size
            rel = full.relative_to(base).as_posix()
            urls.append(PresignedUrl(rel, url, {SCOPE_HEADER: "read"}, expires, size))
        return presigned_credentials(urls)

    access = ScopedAccess(
        mint=lambda: url_set(forged=False),
        revoke=lambda _credentials: presigned_server.revoke(),
        wrong=lambda: url_set(forged=True),
        secrets=url_secrets,
    )
    yield StoreUnderTest(
        "presigned", f"presigned:{prefix}", put, scoped=access, needs_credentials=True
    )
