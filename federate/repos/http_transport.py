"""HTTP plumbing shared by the repositories that read files over plain http(s): the
``http`` repository (static servers, one presigned URL) and the ``presigned`` one (URL
sets a registry hands out).

:class:`HttpTransport` sends requests through one urllib3 pool per repository
(:mod:`federate.repos.http_pool`: proxies, CA bundle, timeouts, query strings cut from
urllib3's logs), turns statuses into FederateErrors, streams bodies to disk and
remembers ETags so ranged reads can be pinned with ``If-Match``. Query strings
(presigned signatures) never appear in its messages.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)
from federate.repos.http_pool import HttpPool
from federate.repos.ranged_answer import RangesIgnored, WrongRange, check_content_range, check_etag
from federate.transfer.retry import with_retries
from federate.transfer.settings import TransferSettings, max_workers

if TYPE_CHECKING:
    import urllib3

    from federate.repos.base import ArtifactRepository

T = TypeVar("T")
_PIECE = 1024 * 1024
#: bytes per read of a body into a thread's buffer (:meth:`HttpTransport.body_into`): small
#: enough to stay in the CPU cache between the socket's copy, the CRC and the file's copy
_READ = 256 * 1024
_buffers = threading.local()
_DIGEST_NAMES = {"sha-256": "sha256", "md5": "md5", "crc32c": "crc32c"}
#: words in a 400 body that mean the signature or token was refused (GCS answers an
#: expired V4 signature with 400 ExpiredToken, S3 with 400 for some malformed ones)
_REFUSAL_BODY = re.compile(
    rb"expired|ExpiredToken|AuthenticationFailed|SignatureDoesNotMatch|AccessDenied|InvalidToken",
    re.IGNORECASE,
)
#: S3, GCS and Azure error bodies name the reason in <Code>; a code is never a secret
_ERROR_CODE = re.compile(rb"<Code>([A-Za-z]{1,64})</Code>")


#: every response header :meth:`HttpTransport.info_from_headers` reads (the pipelined
#: fetcher keeps only these)
INFO_HEADERS = ("Content-Length", "ETag", "Repr-Digest", "Digest", "Content-MD5", "x-goog-hash")


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


def in_parallel(call: Callable[[str], T], items: list[str]) -> list[T]:
    """``[call(i) for i in items]``, on the engine's number of threads."""
    if len(items) <= 1:
        return [call(i) for i in items]
    with ThreadPoolExecutor(min(max_workers(), len(items))) as pool:
        return list(pool.map(call, items))


def stat_in_parallel(repo: ArtifactRepository, paths: list[str]) -> list[FileInfo]:
    """``repo.stat`` of every path, in parallel, each retried on its own (for listings
    that give names but no sizes)."""
    settings = TransferSettings.from_env()

    def one(rel: str) -> FileInfo:
        return with_retries(repo, settings, f"Looking up {rel}", lambda: repo.stat(rel))

    return in_parallel(one, paths)


def _refusal(status: int, body: bytes) -> str | None:
    """Why the store refused the request, or None if ``status``/``body`` is no refusal."""
    if status not in (400, 401, 403):
        return None
    if status == 400 and not _REFUSAL_BODY.search(body):
        return None
    code = _ERROR_CODE.search(body)
    return code.group(1).decode() if code else "refused"


def error_for_status(status: int, body: bytes, method: str, url: str, path: str) -> FederateError:
    """The FederateError an error status (400 and up) of ``method url`` means, ``body``
    being the first 4 KiB of the answer (only read for 400, 401 and 403).
    PERMISSION_DENIED for refusals (401, 403, and 400 with an expired-signature body),
    which callers may renew on. The URL is named without its query string."""
    where = redact(url)
    if status == 404:
        return FederateError(f"No such file at {where}", RESOURCE_DOES_NOT_EXIST)
    reason = _refusal(status, body)
    if reason is not None:
        return FederateError(
            f"{method} {where}: HTTP {status} ({reason}: expired, revoked or wrong "
            "signature or credentials)",
            PERMISSION_DENIED,
        )
    if status == 412:
        return FederateError(
            f"{path or where} changed on the server during the download (ETag differs); "
            "download again to get the new version",
            INTERNAL_ERROR,
        )
    if status == 429 or status >= 500:
        return FederateError(f"{method} {where}: HTTP {status}", TEMPORARILY_UNAVAILABLE)
    return FederateError(f"{method} {where}: HTTP {status}", INTERNAL_ERROR)


def _content_range_total(value: str | None) -> int | None:
    """``bytes 0-0/1234`` or ``bytes */1234`` -> 1234."""
    total = (value or "").rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _body_start(resp: urllib3.BaseHTTPResponse) -> bytes:
    """The first 4 KiB of an error body, streamed or already read."""
    return resp.read(4096, decode_content=False) or (resp.data or b"")[:4096]


def close_response(resp: urllib3.BaseHTTPResponse) -> None:
    """Drop a response whose body is not wanted (its connection cannot be reused)."""
    resp.close()
    resp.release_conn()


def _write_all(out: BinaryIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0 :]


def content_length(value: str, where: str) -> int:
    """A ``Content-Length`` header's byte count; anything but digits is the server's error."""
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise FederateError(
            f"The server sent Content-Length: {shown!r} for {where}; "
            "it must be a number of bytes (digits only)",
            INTERNAL_ERROR,
        )
    return int(text)


def network_failure(err: BaseException) -> str:
    """What went wrong on the wire, in words ("connection refused"), from urllib3's
    exception, whose own message repeats the URL with its query string (never shown)."""
    import urllib3

    reason = getattr(err, "reason", None) or err  # MaxRetryError wraps the last failure
    text = str(reason).lower()
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "host name not found"
    if "connection refused" in text:
        return "connection refused"
    if isinstance(reason, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLS handshake failed (check the certificate, or REQUESTS_CA_BUNDLE)"
    if "reset" in text or "aborted" in text or "closed" in text:
        return "connection closed by the server"
    return type(reason).__name__


class HttpTransport:
    """Requests to one kind of http(s) store, shared by that repository's threads."""

    def __init__(self, tls: Mapping[str, Any] | None = None) -> None:
        """``tls``: the pool's TLS arguments, for a server with settings of its own
        (see :class:`~federate.repos.http_pool.HttpPool`)."""
        self._tls = dict(tls) if tls else None
        self._pool: HttpPool | None = None
        self._pool_lock = threading.Lock()
        self._etags: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        #: files whose :meth:`probe` was answered with the whole file (HTTP 200): their
        #: server ignores ``Range``
        self.ranges_ignored: set[str] = set()

    @property
    def pool(self) -> HttpPool:
        """One pool for all workers, with a kept-alive connection for each of them."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = HttpPool(max_workers() + 1, self._tls)
        return self._pool

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """The response (its body read unless ``stream``); unreachable -> FederateError."""
        import urllib3

        try:
            return self.pool.request(method, url, headers, stream)
        except urllib3.exceptions.HTTPError as err:
            raise self.unreachable(method, url, err) from None

    def unreachable(self, method: str, url: str, err: BaseException) -> FederateError:
        return FederateError(
            f"{method} {redact(url)} failed: {network_failure(err)}", TEMPORARILY_UNAVAILABLE
        )

    def check(self, resp: urllib3.BaseHTTPResponse, method: str, url: str, path: str) -> None:
        """Raise the FederateError an error status means (see :func:`error_for_status`)."""
        status = resp.status
        if status < 400:
            return
        body = _body_start(resp) if status in (400, 401, 403) else b""
        close_response(resp)
        raise error_for_status(status, body, method, url, path)

    def pin(self, path: str) -> dict[str, str]:
        """``If-Match`` with the ETag seen for ``path``, so a replaced file fails loudly."""
        etag = self._etags.get(path)
        return {"If-Match": etag} if etag and not etag.startswith("W/") else {}

    def known_size(self, path: str) -> int | None:
        """The size a HEAD or GET of ``path`` said, if one was made."""
        return self._sizes.get(path)

    def info(
        self,
        path: str,
        resp: urllib3.BaseHTTPResponse,
        size: int | None = None,
        url: str | None = None,
    ) -> FileInfo:
        """What a HEAD or a GET of ``url`` says about the file's current version (``size``
        when the caller knows better than ``Content-Length``)."""
        return self.info_from_headers(path, resp.headers, size, url)

    def info_from_headers(
        self, path: str, headers: Any, size: int | None = None, url: str | None = None
    ) -> FileInfo:
        """:meth:`info` from the response headers alone (any mapping whose ``get`` ignores
        the case of names); the ETag is remembered for :meth:`pin`."""
        length = headers.get("Content-Length")
        etag = headers.get("ETag")
        if etag:
            self._etags[path] = etag
        if size is None and length is not None:
            size = content_length(length, redact(url) if url else path or "the file")
        if size is not None:
            self._sizes[path] = size
        return FileInfo(path, False, size, checksums_from_headers(headers), etag)

    def probe(self, url: str, path: str, headers: Mapping[str, str] | None = None) -> FileInfo:
        """Size, ETag and digest of a file from a one-byte ranged GET, for servers whose
        GETs refuse HEAD (presigned URLs) or whose HEAD describes the file otherwise than
        their GETs do (an MLflow server's artifact proxy sends another ETag)."""
        resp = self.request("GET", url, {**(headers or {}), "Range": "bytes=0-0"}, stream=True)
        try:
            if resp.status == 416:  # an empty file has no byte 0
                return FileInfo(
                    path, False, _content_range_total(resp.headers.get("Content-Range")) or 0
                )
            self.check(resp, "GET", url, path)
            total = (
                _content_range_total(resp.headers.get("Content-Range"))
                if resp.status == 206
                else None
            )
            if resp.status == 200:
                self.ranges_ignored.add(path)
            return self.info(path, resp, size=total)
        finally:
            close_response(resp)  # the one byte is not wanted

    def open_range(
        self,
        url: str,
        path: str,
        start: int,
        length: int,
        headers: Mapping[str, str] | None = None,
        size: int | None = None,
    ) -> urllib3.BaseHTTPResponse | None:
        """The checked response to a ``Range`` GET of ``length`` bytes from ``start``: its
        status, and that it holds those bytes of the pinned version (``Content-Range``,
        ``ETag``) of an object of ``size`` bytes (None: the size a HEAD or GET saw), else
        :class:`~federate.repos.ranged_answer.WrongRange` before any byte is read. None
        when the object ends before ``start``."""
        wanted = {
            **(headers or {}),
            "Range": f"bytes={start}-{start + length - 1}",
            **self.pin(path),
        }
        resp = self.request("GET", url, wanted, stream=True)
        if resp.status == 416:  # the range starts at or past the end: no bytes there
            close_response(resp)
            return None
        self.check(resp, "GET", url, path)
        try:
            past_end = self._check_range_answer(resp, url, path, start, length, size)
        except WrongRange:
            close_response(resp)
            raise
        if past_end:
            close_response(resp)
            return None
        return resp

    def _check_range_answer(
        self,
        resp: urllib3.BaseHTTPResponse,
        url: str,
        path: str,
        start: int,
        length: int,
        size: int | None,
    ) -> bool:
        """Raise WrongRange unless ``resp`` holds the bytes asked for; True when it says
        there are none (a whole object that ends before ``start``)."""
        where = path or redact(url)
        size = size if size is not None else self._sizes.get(path)
        headers = resp.headers
        check_etag(where, headers.get("ETag"), self._etags.get(path))
        if resp.status == 206:
            check_content_range(where, headers.get("Content-Range"), start, length, size)
        elif resp.status == 200:
            # the whole object: the bytes asked for only if they are the whole object
            sent = headers.get("Content-Length") or ""
            got = int(sent) if sent.isdigit() else None
            if got is not None and size in (None, got) and start >= got:
                return True
            if start != 0 or got is None or got > length or size not in (None, got):
                raise RangesIgnored(
                    where,
                    f"asked for bytes {start}-{start + length - 1}, the server answered with "
                    "the whole object (HTTP 200): it does not serve byte ranges",
                )
        return False

    def open_whole(
        self, url: str, path: str, headers: Mapping[str, str] | None = None
    ) -> urllib3.BaseHTTPResponse:
        """The checked response to a GET of the whole file."""
        wanted = {**headers, **self.pin(path)} if headers else self.pin(path)
        resp = self.request("GET", url, wanted or None, stream=True)
        self.check(resp, "GET", url, path)
        return resp

    def range_body(
        self, resp: urllib3.BaseHTTPResponse | None, url: str, length: int
    ) -> Iterator[bytes]:
        """The body of a response :meth:`open_range` accepted (None: no bytes)."""
        if resp is not None:
            yield from self.stream(resp, "GET", url, 0, length)

    def body_into(
        self,
        resp: urllib3.BaseHTTPResponse,
        method: str,
        url: str,
        length: int | None,
        write: Callable[[memoryview], object],
    ) -> None:
        """Hand the body (at most ``length`` bytes; None: all of it) to ``write`` in pieces.

        The pieces are views of one buffer this thread reuses, read straight from the
        connection (http.client's ``readinto``): ``write`` must be done with a piece when it
        returns. urllib3's ``stream`` would allocate each piece afresh and copy it twice
        (http.client's ``read`` makes bytes of a new bytearray): at a GiB a second that
        was most of the kernel's work (page faults on new memory) and the cache misses of
        every later copy. A response urllib3 has already read from goes through ``stream``.
        """
        import http.client

        import urllib3

        raw = getattr(resp, "_fp", None)
        if not isinstance(raw, http.client.HTTPResponse) or getattr(resp, "_decoded_buffer", None):
            for piece in self.stream(resp, method, url, 0, length):
                write(memoryview(piece))
            return
        view: memoryview | None = getattr(_buffers, "view", None)
        if view is None:
            view = _buffers.view = memoryview(bytearray(_READ))
        whole = False
        try:
            left = length
            while left is None or left > 0:
                want = view if left is None or left >= _READ else view[:left]
                try:
                    n = raw.readinto(want)
                except TimeoutError as err:
                    raise self.unreachable(method, url, err) from None
                except (OSError, http.client.HTTPException) as err:
                    broken = urllib3.exceptions.ProtocolError(f"Connection broken: {err!r}", err)
                    raise self.unreachable(method, url, broken) from None
                if not n:
                    break
                write(want[:n])
                if left is not None:
                    left -= n
            # http.client closes its side at the body's end: then the connection is reusable
            whole = raw.isclosed()
        finally:
            if not whole:
                close_response(resp)  # unread bytes left: this connection cannot serve another
            resp.release_conn()

    def save(
        self, resp: urllib3.BaseHTTPResponse, url: str, path: str, local_path: str
    ) -> FileInfo:
        """Write a whole-file response to ``local_path``; what its headers say (size, ETag,
        checksum), for the engine to check against the listing and the bytes."""
        sent = self.info(path, resp)
        try:
            out = open(local_path, "wb", buffering=0)  # noqa: SIM115 (closed below)
        except OSError:
            close_response(resp)
            raise
        with out:
            if sent.file_size is not None and sent.file_size <= _PIECE:
                # closing: a local error (a full disk) must not keep the connection
                with contextlib.closing(self.stream(resp, "GET", url, 0, None)) as pieces:
                    _write_all(out, b"".join(pieces))  # one write for a small file
            else:
                self.body_into(resp, "GET", url, None, lambda piece: _write_all(out, piece))
        return sent

    def stream(
        self, resp: urllib3.BaseHTTPResponse, method: str, url: str, skip: int, length: int | None
    ) -> Generator[bytes, None, None]:
        """The body in pieces, ``skip`` bytes dropped and at most ``length`` kept."""
        import urllib3

        whole = False
        try:
            for piece in resp.stream(_PIECE, decode_content=False):
                if skip:
                    cut = min(skip, len(piece))
                    piece, skip = piece[cut:], skip - cut
                if length is not None:
                    piece = piece[:length]
                    length -= len(piece)
                if piece:
                    yield piece
                if length == 0:
                    break
            else:
                whole = True
        except urllib3.exceptions.HTTPError as err:
            raise self.unreachable(method, url, err) from None
        finally:
            if not whole:
                close_response(resp)  # unread bytes left: this connection cannot serve another
            resp.release_conn()
