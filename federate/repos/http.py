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
or logs. Requests go through :mod:`federate.repos.http_transport`; the engine hands
small files over in batches, pipelined on kept-alive connections
(:mod:`federate.repos.http_pipeline`).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import INVALID_PARAMETER_VALUE, FederateError, redact
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository, RangeSink
from federate.repos.http_index import IndexWalk, parse_index
from federate.repos.http_pipeline import Wanted, download_pipelined
from federate.repos.http_pool import final_url
from federate.repos.http_transport import (
    HttpTransport,
    close_response,
    in_parallel,
    stat_in_parallel,
)
from federate.transfer.settings import TransferSettings

MiB = 1024 * 1024
#: the largest directory index page read (nginx writes ~150 bytes per entry)
_MAX_INDEX = 64 * MiB


class HttpArtifactRepository(ArtifactRepository):
    """Read-only access to files under an http(s) URL."""

    #: small files are fetched pipelined on kept-alive connections (download_many)
    batches_downloads = True
    #: headers sent with every read of a file (a subclass's credentials); None: none
    _headers: Mapping[str, str] | None = None

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
        resp = self._http.request("HEAD", url)
        self._http.check(resp, "HEAD", url, path)
        if final_url(resp, url).split("?", 1)[0].endswith("/"):
            return FileInfo(path, True, None)  # a directory, or the server sent us to one
        return self._http.info(path, resp, url=url)

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries from the index pages. A file the index gives an exact size for and that
        the engine fetches whole needs nothing more (its GET says the rest); the others
        (no size, or big enough to be fetched in ranges pinned to an ETag) get a HEAD."""
        threshold = TransferSettings.from_env().multipart_threshold
        out: list[FileInfo] = []
        unsized: list[str] = []
        level = [path.strip("/")]
        walk = IndexWalk(self._url(path, directory=True))
        depth = 0
        while level:  # breadth first, the index pages of one level fetched in parallel
            walk.level(depth, level[0])
            depth += 1
            below: list[str] = []
            for current, (page, entries) in zip(
                level, in_parallel(self._index, level), strict=True
            ):
                walk.page(current, page, len(entries))
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
        out.extend(stat_in_parallel(self, unsized))
        out.sort(key=lambda f: f.path)
        return out

    def _index(self, path: str) -> tuple[str, builtins.list[tuple[str, bool, int | None]]]:
        """The URL the index page of ``path`` came from (after redirects), and its entries."""
        url = self._url(path, directory=True)
        resp = self._http.request("GET", url, stream=True)
        if resp.status == 404:
            close_response(resp)
            return url, []
        self._http.check(resp, "GET", url, path)
        page = final_url(resp, url)
        kind = resp.headers.get("Content-Type", "")
        if "html" not in kind:
            # a file (some servers ignore the trailing slash) or no listings: nothing to
            # list, and its body, possibly gigabytes, is not read
            close_response(resp)
            return page, []
        body = resp.read(_MAX_INDEX + 1, decode_content=True)
        if len(body) <= _MAX_INDEX:
            resp.release_conn()
        else:
            close_response(resp)
            raise FederateError(
                f"The directory index at {redact(url)} is larger than {_MAX_INDEX // MiB} MiB; "
                "federate does not read index pages that big",
                INVALID_PARAMETER_VALUE,
            )
        charset = kind.partition("charset=")[2].split(";", 1)[0].strip() or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        return page, parse_index(text, url.split("?", 1)[0])

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(path, start, length))

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        url = self._url(path)
        resp = self._http.open_range(url, path, start, length, self._headers)
        yield from self._http.range_body(resp, url, length)

    def read_range_into(self, path: str, start: int, length: int, sink: RangeSink) -> None:
        if length <= 0:
            return
        url = self._url(path)
        resp = self._http.open_range(url, path, start, length, self._headers)
        if resp is not None:
            self._http.body_into(resp, "GET", url, length, sink.write)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> FileInfo:
        """One GET; returns what its headers say (size, ETag, checksum) for the engine to
        check against the listing and the bytes."""
        url = self._url(path)
        return self._http.save(
            self._http.open_whole(url, path, self._headers), url, path, local_path
        )

    def download_many(
        self, files: Iterable[tuple[str, str, int | None]]
    ) -> Iterator[tuple[str, FileInfo | None]]:
        """Many GETs written on one connection before the answers are read (HTTP/1.1
        pipelining, :mod:`federate.repos.http_pipeline`): a tree of small files costs
        about what creating its files costs, not a round trip and a parse per file."""
        wanted = (
            Wanted(path, self._url(path), local, self._headers) for path, local, _size in files
        )
        for item, info in download_pipelined(self._http, wanted):
            yield item.path, info


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
