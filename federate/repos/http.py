"""Plain ``http://`` and ``https://`` locations (static file servers, presigned URLs), a
built-in plugin.

A URL ending in ``/`` (or one the server redirects there) is a directory, listed from
its HTML index (nginx ``autoindex``, Apache, ``python -m http.server``); anything else
is one file. ``HEAD`` gives size, ``ETag`` and a checksum (``Repr-Digest``/``Digest``
sha-256 or md5, ``Content-MD5``, ``x-goog-hash``); reads are ``Range`` requests pinned
to the ETag with ``If-Match``, so a file replaced mid-download fails instead of mixing
versions. Query strings (presigned signatures) never appear in messages or logs.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

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

if TYPE_CHECKING:
    import requests

_PIECE = 1024 * 1024
_DIGEST_NAMES = {"sha-256": "sha256", "md5": "md5", "crc32c": "crc32c"}


def _timeout() -> tuple[float, float]:
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


def _guard_http_logs() -> None:
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
        logger = logging.getLogger(name)
        if _redacting not in logger.filters:
            logger.addFilter(_redacting)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


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
        self._local = threading.local()
        self._etags: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests  # lazily: only users of http locations pay for it

            _guard_http_logs()
            session = requests.Session()
            self._local.session = session
        return session

    def _url(self, path: str, directory: bool = False) -> str:
        url = self._base if not path else f"{self._base.rstrip('/')}/{quote(path.strip('/'))}"
        if directory and not url.endswith("/"):
            url += "/"
        # a presigned query signs the root object; a directory's entries carry their own
        return f"{url}?{self._query}" if self._query and not path else url

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        import requests

        try:
            return self._session.request(method, url, timeout=_timeout(), **kwargs)
        except requests.RequestException as err:
            raise self._unreachable(method, url, err) from None

    def _unreachable(self, method: str, url: str, err: BaseException) -> FederateError:
        # requests' messages repeat the URL with its query string: name only the kind
        return FederateError(
            f"{method} {redact(url)} failed: {type(err).__name__}", TEMPORARILY_UNAVAILABLE
        )

    def _check(self, resp: requests.Response, method: str, url: str, path: str) -> None:
        status = resp.status_code
        if status < 400:
            return
        resp.close()
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

    def _pin(self, path: str) -> dict[str, str]:
        etag = self._etags.get(path)
        return {"If-Match": etag} if etag and not etag.startswith("W/") else {}

    # -- reading -----------------------------------------------------------------------

    def stat(self, path: str = "") -> FileInfo:
        url = self._url(path)
        if url.split("?", 1)[0].endswith("/"):
            self._check(self._request("HEAD", url), "HEAD", url, path)
            return FileInfo(path, True, None)
        resp = self._request("HEAD", url, allow_redirects=True)
        self._check(resp, "HEAD", url, path)
        if resp.url.split("?", 1)[0].endswith("/"):
            return FileInfo(path, True, None)  # the server sent us to a directory
        return self._info(path, resp)

    def _info(self, path: str, resp: requests.Response) -> FileInfo:
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
        out: list[FileInfo] = []
        files: list[str] = []
        pending = [path.strip("/")]
        while pending:
            current = pending.pop()
            for name, is_dir in self._index(current):
                rel = f"{current}/{name}" if current else name
                if is_dir:
                    out.append(FileInfo(rel, True, None))
                    if recursive:
                        pending.append(rel)
                else:
                    files.append(rel)
        out.extend(self._stat_many(files))
        out.sort(key=lambda f: f.path)
        return out

    def _stat_many(self, paths: builtins.list[str]) -> builtins.list[FileInfo]:
        """HEAD every file, in parallel, each retried on its own (an index has no sizes)."""
        from concurrent.futures import ThreadPoolExecutor

        from federate.transfer.retry import with_retries
        from federate.transfer.settings import TransferSettings

        settings = TransferSettings.from_env()

        def one(rel: str) -> FileInfo:
            return with_retries(self, settings, f"Looking up {rel}", lambda: self.stat(rel))

        if len(paths) <= 1:
            return [one(p) for p in paths]
        with ThreadPoolExecutor(min(settings.max_workers, len(paths))) as pool:
            return list(pool.map(one, paths))

    def _index(self, path: str) -> builtins.list[tuple[str, bool]]:
        url = self._url(path, directory=True)
        resp = self._request("GET", url)
        if resp.status_code == 404:
            return []
        self._check(resp, "GET", url, path)
        if "html" not in resp.headers.get("Content-Type", ""):
            return []  # a file, or a server without listings: nothing to list
        parser = _Links()
        parser.feed(resp.text)
        base = url.split("?", 1)[0]
        entries: dict[str, bool] = {}
        for href in parser.hrefs:
            target = urljoin(base, href).split("?", 1)[0].split("#", 1)[0]
            if not target.startswith(base) or target == base:
                continue  # parent links, sort links, other sites
            rest = target[len(base) :]
            is_dir = rest.endswith("/")
            name = unquote(rest.rstrip("/"))
            if name and "/" not in name and name not in (".", ".."):
                entries[name] = is_dir
        return sorted(entries.items())

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(path, start, length))

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        url = self._url(path)
        headers = {"Range": f"bytes={start}-{start + length - 1}", **self._pin(path)}
        resp = self._request("GET", url, headers=headers, stream=True)
        self._check(resp, "GET", url, path)
        skip = start if resp.status_code == 200 else 0  # a server that ignores Range
        yield from self._stream(resp, "GET", url, skip, length)

    def _stream(
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
            raise self._unreachable(method, url, err) from None

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        url = self._url(path)
        resp = self._request("GET", url, headers=self._pin(path), stream=True)
        self._check(resp, "GET", url, path)
        with open(local_path, "wb") as out:
            for piece in self._stream(resp, "GET", url, 0, None):
                out.write(piece)


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
