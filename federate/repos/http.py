"""Plain ``http://`` and ``https://`` locations (static file servers, presigned URLs), a
built-in plugin.

A URL ending in ``/`` (or one the server redirects there) is a directory, listed from
its HTML index (nginx ``autoindex``, Apache, ``python -m http.server``); anything else
is one file. ``HEAD`` gives size, ``ETag`` and a checksum (``Repr-Digest``/``Digest``
sha-256 or md5, ``Content-MD5``, ``x-goog-hash``); reads are ``Range`` requests pinned
to the ETag with ``If-Match``, so a file replaced mid-download fails instead of mixing
versions. A small file whose size the index shows costs one request: no ``HEAD``, its
``GET`` reports size, ``ETag`` and checksum, which the engine checks against the
listing and the bytes. Query strings (presigned signatures) never appear in messages
or logs. Requests go through :mod:`federate.repos.http_pool`.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository
from federate.repos.http_index import parse_index
from federate.repos.http_pool import HttpPool, final_url
from federate.transfer.retry import with_retries
from federate.transfer.settings import TransferSettings, max_workers

if TYPE_CHECKING:
    import urllib3

T = TypeVar("T")
_PIECE = 1024 * 1024
_DIGEST_NAMES = {"sha-256": "sha256", "md5": "md5", "crc32c": "crc32c"}


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0 :]


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


class HttpArtifactRepository(ArtifactRepository):
    """Read-only access to files under an http(s) URL."""

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        parts = urlsplit(root)
        self._base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._query = parts.query
        self._pool: HttpPool | None = None
        self._pool_lock = threading.Lock()
        self._etags: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _connections(self) -> HttpPool:
        """One pool for all workers, with a kept-alive connection for each of them."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = HttpPool(self._base, max_workers() + 1)
        return self._pool

    def _url(self, path: str, directory: bool = False) -> str:
        url = self._base if not path else f"{self._base.rstrip('/')}/{quote(path.strip('/'))}"
        if directory and not url.endswith("/"):
            url += "/"
        # a presigned query signs the root object; a directory's entries carry their own
        return f"{url}?{self._query}" if self._query and not path else url

    def _request(
        self, method: str, url: str, headers: dict[str, str] | None = None, stream: bool = False
    ) -> urllib3.BaseHTTPResponse:
        import urllib3

        try:
            return self._connections.request(method, url, headers, stream)
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(method, url, err) from None

    def _unreachable(self, method: str, url: str, err: BaseException) -> FederateError:
        # urllib3's messages repeat the URL with its query string: name only the kind
        return FederateError(
            f"{method} {redact(url)} failed: {type(err).__name__}", TEMPORARILY_UNAVAILABLE
        )

    def _check(self, resp: urllib3.BaseHTTPResponse, method: str, url: str, path: str) -> None:
        status = resp.status
        if status < 400:
            return
        _close(resp)
        where = redact(url)
        if status == 404:
            raise FederateError(f"No such file at {where}", RESOURCE_DOES_NOT_EXIST)
        if status in (401, 403):
            raise FederateError(f"{method} {where}: HTTP {status} (refused)", PERMISSION_DENIED)
        if status == 412:
            raise FederateError(
                f"{path or where} changed on the server during the download (ETag differs); "
                "download again to get the new version",
                INTERNAL_ERROR,
            )
        if status == 429 or status >= 500:
            raise FederateError(f"{method} {where}: HTTP {status}", TEMPORARILY_UNAVAILABLE)
        raise FederateError(f"{method} {where}: HTTP {status}", INTERNAL_ERROR)

    def _pin(self, path: str) -> dict[str, str] | None:
        etag = self._etags.get(path)
        return {"If-Match": etag} if etag and not etag.startswith("W/") else None

    # -- reading -----------------------------------------------------------------------

    def stat(self, path: str = "") -> FileInfo:
        url = self._url(path)
        if url.split("?", 1)[0].endswith("/"):
            self._check(self._request("HEAD", url), "HEAD", url, path)
            return FileInfo(path, True, None)
        resp = self._request("HEAD", url)
        self._check(resp, "HEAD", url, path)
        if final_url(resp, url).split("?", 1)[0].endswith("/"):
            return FileInfo(path, True, None)  # the server sent us to a directory
        return self._info(path, resp)

    def _info(self, path: str, resp: urllib3.BaseHTTPResponse) -> FileInfo:
        """What a HEAD or a whole-file GET says about the file's current version."""
        size = resp.headers.get("Content-Length")
        etag = resp.headers.get("ETag")
        if etag:
            self._etags[path] = etag
        return FileInfo(
            path,
            False,
            int(size) if size is not None else None,
            checksums_from_headers(resp.headers),
            etag,
        )

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries from the index pages. A file the index gives an exact size for and that
        the engine fetches whole needs nothing more (its GET says the rest); the others
        (no size, or big enough to be fetched in ranges pinned to an ETag) get a HEAD."""
        threshold = TransferSettings.from_env().multipart_threshold
        out: list[FileInfo] = []
        unsized: list[str] = []
        level = [path.strip("/")]
        while level:  # breadth first, the index pages of one level fetched in parallel
            below: list[str] = []
            for current, entries in zip(level, _parallel(self._index, level), strict=True):
                for name, is_dir, size in entries:
                    rel = f"{current}/{name}" if current else name
                    if is_dir:
                        out.append(FileInfo(rel, True, None))
                        below.append(rel)
                    elif size is not None and size < threshold:
                        out.append(FileInfo(rel, False, size))
                    else:
                        unsized.append(rel)
            level = below if recursive else []
        out.extend(self._stat_many(unsized))
        out.sort(key=lambda f: f.path)
        return out

    def _stat_many(self, paths: builtins.list[str]) -> builtins.list[FileInfo]:
        """HEAD each file, in parallel, each retried on its own."""
        settings = TransferSettings.from_env()

        def one(rel: str) -> FileInfo:
            return with_retries(self, settings, f"Looking up {rel}", lambda: self.stat(rel))

        return _parallel(one, paths)

    def _index(self, path: str) -> builtins.list[tuple[str, bool, int | None]]:
        url = self._url(path, directory=True)
        resp = self._request("GET", url)
        if resp.status == 404:
            return []
        self._check(resp, "GET", url, path)
        kind = resp.headers.get("Content-Type", "")
        if "html" not in kind:
            return []  # a file, or a server without listings: nothing to list
        charset = kind.partition("charset=")[2].split(";", 1)[0].strip() or "utf-8"
        try:
            page = resp.data.decode(charset, errors="replace")
        except LookupError:
            page = resp.data.decode("utf-8", errors="replace")
        return parse_index(page, url.split("?", 1)[0])

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(path, start, length))

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        url = self._url(path)
        headers = {"Range": f"bytes={start}-{start + length - 1}", **(self._pin(path) or {})}
        resp = self._request("GET", url, headers=headers, stream=True)
        self._check(resp, "GET", url, path)
        skip = start if resp.status == 200 else 0  # a server that ignores Range
        yield from self._stream(resp, "GET", url, skip, length)

    def _stream(
        self, resp: urllib3.BaseHTTPResponse, method: str, url: str, skip: int, length: int | None
    ) -> Generator[bytes, None, None]:
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
            raise self._unreachable(method, url, err) from None
        finally:
            if not whole:
                _close(resp)  # unread bytes left: this connection cannot serve another
            resp.release_conn()

    def download_file(self, path: str, local_path: str, size: int | None = None) -> FileInfo:
        """One GET; returns what its headers say (size, ETag, checksum) for the engine to
        check against the listing and the bytes."""

        url = self._url(path)
        resp = self._request("GET", url, headers=self._pin(path), stream=True)
        self._check(resp, "GET", url, path)
        sent = self._info(path, resp)
        try:
            out = open(local_path, "wb", buffering=0)  # noqa: SIM115 (closed below)
        except OSError:
            _close(resp)
            raise
        with out, contextlib.closing(self._stream(resp, "GET", url, 0, None)) as pieces:
            # closing: a local error (a full disk) must not keep the connection
            if sent.file_size is not None and sent.file_size <= _PIECE:
                _write_all(out, b"".join(pieces))  # one write for a small file
            else:
                for piece in pieces:
                    _write_all(out, piece)
        return sent


def _parallel(call: Callable[[str], T], items: list[str]) -> list[T]:
    """``[call(i) for i in items]``, on the engine's number of threads."""
    if len(items) <= 1:
        return [call(i) for i in items]
    with ThreadPoolExecutor(min(max_workers(), len(items))) as pool:
        return list(pool.map(call, items))


def _close(resp: urllib3.BaseHTTPResponse) -> None:
    resp.close()
    resp.release_conn()


@hookimpl(trylast=True)
def federate_artifact_repos() -> list[RepoPlugin]:
    return [
        RepoPlugin(
            name="http",
            schemes=("http", "https"),
            factory=HttpArtifactRepository,
            description="Files under plain http(s) URLs, presigned URLs included (read-only)",
        )
    ]
