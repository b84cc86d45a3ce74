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
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository
from federate.repos.http_transport import HttpTransport, stat_in_parallel


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


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
        self._http = HttpTransport()

    def _url(self, path: str, directory: bool = False) -> str:
        url = self._base if not path else f"{self._base.rstrip('/')}/{quote(path.strip('/'))}"
        if directory and not url.endswith("/"):
            url += "/"
        # a presigned query signs the root object; a directory's entries carry their own
        return f"{url}?{self._query}" if self._query and not path else url

    # -- reading -----------------------------------------------------------------------

    def stat(self, path: str = "") -> FileInfo:
        url = self._url(path)
        if url.split("?", 1)[0].endswith("/"):
            self._http.check(self._http.request("HEAD", url), "HEAD", url, path)
            return FileInfo(path, True, None)
        resp = self._http.request("HEAD", url, allow_redirects=True)
        self._http.check(resp, "HEAD", url, path)
        if resp.url.split("?", 1)[0].endswith("/"):
            return FileInfo(path, True, None)  # the server sent us to a directory
        return self._http.info(path, resp)

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
        out.extend(stat_in_parallel(self, files))
        out.sort(key=lambda f: f.path)
        return out

    def _index(self, path: str) -> builtins.list[tuple[str, bool]]:
        url = self._url(path, directory=True)
        resp = self._http.request("GET", url)
        if resp.status_code == 404:
            return []
        self._http.check(resp, "GET", url, path)
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
        resp = self._http.open_range(url, path, start, length)
        yield from self._http.range_body(resp, url, start, length)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        url = self._url(path)
        self._http.save(self._http.open_whole(url, path), url, local_path)


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
