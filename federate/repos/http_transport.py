"""HTTP plumbing shared by the repositories that read files over plain http(s): the
``http`` repository (static servers, one presigned URL) and the ``presigned`` one (URL
sets a registry hands out).

:class:`HttpTransport` keeps one ``requests`` session per thread, turns statuses into
FederateErrors, streams bodies and remembers ETags so ranged reads can be pinned with
``If-Match``. Query strings (presigned signatures) never appear in its messages, and
:func:`guard_http_logs` cuts them from urllib3's and requests' DEBUG records.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)

if TYPE_CHECKING:
    import requests

    from federate.repos.base import ArtifactRepository

_PIECE = 1024 * 1024
_DIGEST_NAMES = {"sha-256": "sha256", "md5": "md5", "crc32c": "crc32c"}
#: words in a 400 body that mean the signature or token was refused (GCS answers an
#: expired V4 signature with 400 ExpiredToken, S3 with 400 for some malformed ones)
_REFUSAL_BODY = re.compile(
    rb"expired|ExpiredToken|AuthenticationFailed|SignatureDoesNotMatch|AccessDenied|InvalidToken",
    re.IGNORECASE,
)
#: S3, GCS and Azure error bodies name the reason in <Code>; a code is never a secret
_ERROR_CODE = re.compile(rb"<Code>([A-Za-z]{1,64})</Code>")


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds; ``FEDERATE_HTTP_TIMEOUT`` sets the read timeout."""
    raw = os.environ.get("FEDERATE_HTTP_TIMEOUT", "").strip()
    read = float(raw) if raw else 60.0
    return (min(10.0, read), read)


_QUERY = re.compile(r"\?[^\s\"']+")


class _RedactQueries(logging.Filter):
    """urllib3 logs request lines at DEBUG, presigned signatures included: cut them."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "?" in text:
            record.msg, record.args = _QUERY.sub("?<redacted>", text), ()
        return True


_redacting = _RedactQueries()


def guard_http_logs() -> None:
    """Install the query-cutting filter on the loggers that print request URLs."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
        logger = logging.getLogger(name)
        if _redacting not in logger.filters:
            logger.addFilter(_redacting)


def checksums_from_headers(headers: Any) -> str | None:
    """``Repr-Digest``/``Digest``/``Content-MD5``/``x-goog-hash`` as a FileInfo checksum."""
    found: dict[str, str] = {}
    for header in ("Repr-Digest", "Digest"):
        for item in (headers.get(header) or "").split(","):
            name, sep, value = item.strip().partition("=")
            algorithm = _DIGEST_NAMES.get(name.strip().lower())
            if sep and algorithm:
                found.setdefault(algorithm, value.strip().strip(":"))
    if headers.get("Content-MD5"):
        found.setdefault("md5", headers["Content-MD5"].strip())
    for item in (headers.get("x-goog-hash") or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep and name in ("crc32c", "md5"):
            found.setdefault(name, value)
    return ",".join(f"{k}:{v}" for k, v in found.items()) or None


def stat_in_parallel(repo: ArtifactRepository, paths: list[str]) -> list[FileInfo]:
    """``repo.stat`` of every path, in parallel, each retried on its own (for listings
    that give names but no sizes)."""
    from concurrent.futures import ThreadPoolExecutor

    from federate.transfer.retry import with_retries
    from federate.transfer.settings import TransferSettings

    settings = TransferSettings.from_env()

    def one(rel: str) -> FileInfo:
        return with_retries(repo, settings, f"Looking up {rel}", lambda: repo.stat(rel))

    if len(paths) <= 1:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(min(settings.max_workers, len(paths))) as pool:
        return list(pool.map(one, paths))


def _refusal(status: int, body: bytes) -> str | None:
    """Why the store refused the request, or None if ``status``/``body`` is no refusal."""
    if status not in (400, 401, 403):
        return None
    if status == 400 and not _REFUSAL_BODY.search(body):
        return None
    code = _ERROR_CODE.search(body)
    return code.group(1).decode() if code else "refused"


class HttpTransport:
    """Requests to one kind of http(s) store, shared by that repository's threads."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._etags: dict[str, str] = {}

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests  # lazily: only users of http locations pay for it

            guard_http_logs()
            session = requests.Session()
            self._local.session = session
        return session

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        import requests

        try:
            return self.session.request(method, url, timeout=http_timeout(), **kwargs)
        except requests.RequestException as err:
            raise self.unreachable(method, url, err) from None

    def unreachable(self, method: str, url: str, err: BaseException) -> FederateError:
        # requests' messages repeat the URL with its query string: name only the kind
        return FederateError(
            f"{method} {redact(url)} failed: {type(err).__name__}", TEMPORARILY_UNAVAILABLE
        )

    def check(self, resp: requests.Response, method: str, url: str, path: str) -> None:
        """Raise the FederateError an error status means; PERMISSION_DENIED for refusals
        (401, 403, and 400 with an expired-signature body), which callers may renew on."""
        status = resp.status_code
        if status < 400:
            return
        body = resp.content[:4096] if status in (400, 401, 403) else b""
        resp.close()
        where = redact(url)
        if status == 404:
            raise FederateError(f"No such file at {where}", RESOURCE_DOES_NOT_EXIST)
        reason = _refusal(status, body)
        if reason is not None:
            raise FederateError(
                f"{method} {where}: HTTP {status} ({reason}: expired, revoked or wrong "
                "signature or credentials)",
                PERMISSION_DENIED,
            )
        if status == 412:
            raise FederateError(
                f"{path or where} changed on the server during the download (ETag differs); "
                "download again to get the new version",
                INTERNAL_ERROR,
            )
        if status == 429 or status >= 500:
            raise FederateError(f"{method} {where}: HTTP {status}", TEMPORARILY_UNAVAILABLE)
        raise FederateError(f"{method} {where}: HTTP {status}", INTERNAL_ERROR)

    def pin(self, path: str) -> dict[str, str]:
        """``If-Match`` with the ETag seen for ``path``, so a replaced file fails loudly."""
        etag = self._etags.get(path)
        return {"If-Match": etag} if etag and not etag.startswith("W/") else {}

    def info(self, path: str, resp: requests.Response, size: int | None = None) -> FileInfo:
        """A FileInfo from a response's headers (``size`` when the caller knows better)."""
        length = resp.headers.get("Content-Length")
        etag = resp.headers.get("ETag")
        if etag:
            self._etags[path] = etag
        if size is None and length is not None:
            size = int(length)
        return FileInfo(path, False, size, checksums_from_headers(resp.headers), etag)

    def open_range(
        self,
        url: str,
        path: str,
        start: int,
        length: int,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """The checked response to a ``Range`` GET of ``length`` bytes from ``start``."""
        wanted = {
            **(headers or {}),
            "Range": f"bytes={start}-{start + length - 1}",
            **self.pin(path),
        }
        resp = self.request("GET", url, headers=wanted, stream=True)
        self.check(resp, "GET", url, path)
        return resp

    def open_whole(
        self, url: str, path: str, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """The checked response to a GET of the whole file."""
        resp = self.request("GET", url, headers={**(headers or {}), **self.pin(path)}, stream=True)
        self.check(resp, "GET", url, path)
        return resp

    def range_body(
        self, resp: requests.Response, url: str, start: int, length: int
    ) -> Iterator[bytes]:
        """The asked bytes of a ``Range`` response (cut from a 200 if Range was ignored)."""
        skip = start if resp.status_code == 200 else 0
        yield from self.stream(resp, "GET", url, skip, length)

    def save(self, resp: requests.Response, url: str, local_path: str) -> None:
        with open(local_path, "wb") as out:
            for piece in self.stream(resp, "GET", url, 0, None):
                out.write(piece)

    def stream(
        self, resp: requests.Response, method: str, url: str, skip: int, length: int | None
    ) -> Iterator[bytes]:
        import requests

        try:
            with resp:
                for piece in resp.iter_content(_PIECE):
                    if skip:
                        cut = min(skip, len(piece))
                        piece, skip = piece[cut:], skip - cut
                    if length is not None:
                        piece = piece[:length]
                        length -= len(piece)
                    if piece:
                        yield piece
                    if length == 0:
                        return
        except requests.RequestException as err:
            raise self.unreachable(method, url, err) from None
