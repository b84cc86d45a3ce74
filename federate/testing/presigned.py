"""A presigned-URL store for tests: the HTTP file server behind an HMAC signature check.

:class:`UrlSigner` signs ``GET`` URLs of a :class:`~federate.testing.http.FileServer`
the way S3/GCS/Azure presign them: method, path and expiry under an HMAC in the query
string. The server then answers 403 (S3's ``AccessDenied`` "Request has expired", or
GCS's 400 ``ExpiredToken`` with ``expired_status=400``) to expired URLs, 403
``SignatureDoesNotMatch`` to forged or revoked ones and to other methods (a GET URL
does not allow HEAD), and 403 when a header the URL was issued with is missing. The
server's clock can be moved forward to make issued URLs expire mid-download.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest

from federate.testing.http import FileServer

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
