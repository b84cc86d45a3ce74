"""Files reached through presigned URLs that a registry hands out, a built-in plugin.

Some registries do not vend storage credentials but one URL per file (Databricks'
default storage, ``create-download-url``; any registry fronting private storage). The
registry returns them from ``Registry.read_credentials(mv)`` as :class:`ScopedCredentials`
of kind ``presigned_urls``; :func:`presigned_credentials` builds that value::

    presigned_credentials([
        PresignedUrl("model.pkl", "https://bucket.s3.amazonaws.com/m/1/model.pkl?X-Amz-...",
                     headers={"x-amz-server-side-encryption-customer-key": "..."},
                     expires_at=1767225600.0, size=1234),
        ...
    ])

``values`` holds one field, ``urls``: a JSON list of objects ``{"path", "url",
"headers", "expires_at", "size"}``. ``path`` is relative to the version's location and
'/'-separated (``""`` when the location is a single file); ``headers`` are sent verbatim
with every request; ``expires_at`` (epoch seconds) and ``size`` are optional. The
credentials' own ``expires_at`` is the earliest URL's.

Routing: this plugin claims the credential kind ``presigned_urls``, so the plugin host
opens it for any location that comes with such credentials, whatever the location's
scheme. The registry keeps reporting the version's true location (``s3://...``, shown to
users and recorded in the cache) while the files are read over plain HTTPS, without the
store's SDK. Registries with no location of their own may use ``presigned:<id>``, which
this plugin also claims.

Reads are ``GET`` requests (a URL presigned for GET usually refuses HEAD): ranges with
``Range``, sizes the registry did not give from a one-byte ranged read. Through
:class:`CredentialKeeper` the URL set is renewed shortly before it expires and once when
the store refuses a URL (401, 403, 400 with an expired-signature body); the request is
then retried once, and a refusal of a freshly renewed set is final: PERMISSION_DENIED,
without asking the registry again. Nothing wider is ever tried. The renewal margin
(``FEDERATE_CREDENTIAL_REFRESH_MARGIN``, 60 s) is capped at half the first set's lifetime,
so short-lived URLs are not renewed before every request. Query strings never appear in
messages or logs.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from federate.credentials import (
    CredentialKeeper,
    CredentialRefresher,
    ScopedCredentials,
    refresh_margin,
)
from federate.entities import FileInfo
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    redact,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository, RangeSink
from federate.repos.http_transport import HttpTransport, stat_in_parallel

if TYPE_CHECKING:
    import urllib3

#: The ScopedCredentials kind this repository reads.
PRESIGNED_URLS = "presigned_urls"

T = TypeVar("T")


@dataclass(frozen=True)
class PresignedUrl:
    """One file: where it sits under the location, and the URL that reads it."""

    path: str
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    expires_at: float | None = None
    size: int | None = None


def presigned_credentials(urls: Iterable[PresignedUrl]) -> ScopedCredentials:
    """The ScopedCredentials a registry returns to hand ``urls`` to this repository."""
    items = list(urls)
    payload = [
        {
            "path": u.path,
            "url": u.url,
            "headers": dict(u.headers),
            "expires_at": u.expires_at,
            "size": u.size,
        }
        for u in items
    ]
    expiries = [u.expires_at for u in items if u.expires_at is not None]
    return ScopedCredentials(
        PRESIGNED_URLS, {"urls": json.dumps(payload)}, min(expiries) if expiries else None
    )


def _bad(why: str) -> FederateError:
    return FederateError(
        f"The registry handed out malformed presigned URLs: {why}. Expected ScopedCredentials "
        f"of kind {PRESIGNED_URLS!r} built with federate.repos.presigned.presigned_credentials()",
        INVALID_PARAMETER_VALUE,
    )


def parse_presigned(credentials: ScopedCredentials) -> dict[str, PresignedUrl]:
    """The URLs of ``credentials`` by relative path; INVALID_PARAMETER_VALUE if malformed."""
    if credentials.kind != PRESIGNED_URLS:
        raise _bad(f"credentials of kind {credentials.kind!r}")
    try:
        items = json.loads(credentials.values["urls"])
    except (KeyError, TypeError, ValueError):
        raise _bad("no JSON list in field 'urls'") from None
    if not isinstance(items, list):
        raise _bad("field 'urls' is not a JSON list")
    out: dict[str, PresignedUrl] = {}
    for item in items:
        entry = _entry(item)
        if entry.path in out:
            raise _bad(f"two URLs for {entry.path!r}")
        out[entry.path] = entry
    return out


def _entry(item: object) -> PresignedUrl:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise _bad("an entry without a string 'path'")
    path = item["path"]
    if path and any(part in ("", ".", "..") for part in path.split("/")):
        raise _bad(f"path {path!r} is not relative ('/'-separated, no '.', '..' or '//')")
    url = item.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise _bad(f"the URL for {path!r} is not an http(s) URL")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _bad(f"the headers for {path!r} are not a string-to-string object")
    size, expires_at = item.get("size"), item.get("expires_at")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise _bad(f"the size of {path!r} is not a non-negative integer")
    if expires_at is not None and not isinstance(expires_at, (int, float)):
        raise _bad(f"the expiry of {path!r} is not epoch seconds")
    return PresignedUrl(path, url, headers, expires_at, size)


class _FinalRefusal(FederateError):
    """The store refused a URL set the registry had just renewed: renewing again won't help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, PERMISSION_DENIED)


def _refused(err: BaseException) -> bool:
    return (
        isinstance(err, FederateError)
        and err.error_code == PERMISSION_DENIED
        and not isinstance(err, _FinalRefusal)
    )


def _margin(credentials: ScopedCredentials) -> float:
    """The renewal margin, at most half the URLs' lifetime: URLs that live less than the
    configured margin would otherwise be renewed before every single request."""
    configured = refresh_margin()
    if credentials.expires_at is None:
        return configured
    return max(0.0, min(configured, (credentials.expires_at - time.time()) / 2))


class PresignedArtifactRepository(ArtifactRepository):
    """Read-only access to the files of one location through presigned URLs."""

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        if credentials is None:
            raise FederateError(
                f"{redact(root)} is read through presigned URLs its registry hands out "
                f"(ScopedCredentials of kind {PRESIGNED_URLS!r}), and none were given; "
                "download it by its models:/ URI so the registry can provide them",
                INVALID_PARAMETER_VALUE,
            )
        self._parsed = (credentials, parse_presigned(credentials))
        self._keeper = CredentialKeeper(credentials, refresh, _margin(credentials))
        self._http = HttpTransport()
        #: a URL set renewed because the store refused the last one, until a read works:
        #: a refusal of it is final, so a registry handing out bad URLs is not asked again
        self._unproven: ScopedCredentials | None = None

    # -- the URL set -------------------------------------------------------------------

    def _urls(self, credentials: ScopedCredentials | None = None) -> dict[str, PresignedUrl]:
        creds = credentials or self._keeper.current()
        held, urls = self._parsed
        if creds is not held and creds is not None:
            urls = parse_presigned(creds)
            self._parsed = (creds, urls)
        return urls

    def _missing(self, path: str) -> FederateError:
        return FederateError(
            f"No file {path!r} among the presigned URLs the registry handed out for "
            f"{redact(self.root)}",
            RESOURCE_DOES_NOT_EXIST,
        )

    def _call(self, path: str, fn: Callable[[PresignedUrl], T]) -> T:
        """``fn(url of path)``, with the URL set renewed and ``fn`` retried once if refused."""
        tries = 0

        def attempt(creds: ScopedCredentials | None) -> T:
            nonlocal tries
            tries += 1
            if tries > 1:
                self._unproven = creds  # renewed after a refusal: it must work before more
            entry = self._urls(creds).get(path)
            if entry is None:
                raise self._missing(path)
            try:
                result = fn(entry)
            except FederateError as err:
                if _refused(err) and creds is self._unproven:
                    raise self._refused_again(err, path) from None
                if _refused(err) and self.refresh is None:
                    raise self._refused_for_good(err, path) from None
                raise
            if creds is self._unproven:
                self._unproven = None
            return result

        return self._keeper.call(attempt, _refused)

    def _refused_again(self, err: FederateError, path: str) -> _FinalRefusal:
        return _FinalRefusal(
            f"{err.message}. The registry renewed the presigned URLs for {redact(self.root)} "
            f"and the store refused the new URL for {path or 'the file'!r} too: these scoped "
            "credentials from the registry are already expired or not valid for this file. "
            "Check that it grants read access to this version and that this machine's clock "
            "is right"
        )

    def _refused_for_good(self, err: FederateError, path: str) -> _FinalRefusal:
        """A refusal with no way to renew (opened without ``refresh``): say whose URLs they
        were and keep the store's answer, not just that nothing could be renewed."""
        return _FinalRefusal(
            f"{err.message}. The store refused the presigned URL for {path or 'the file'!r} "
            f"(scoped credentials from the registry for {redact(self.root)}) and there is no "
            "way to ask the registry for new ones here; download the version by its models:/ "
            "URI so the registry can renew them"
        )

    # -- reading -----------------------------------------------------------------------

    def stat(self, path: str = "") -> FileInfo:
        path = path.strip("/")
        urls = self._urls()
        entry = urls.get(path)
        if entry is None:
            prefix = f"{path}/" if path else ""
            if not path or any(p.startswith(prefix) for p in urls):  # the root is a directory
                return FileInfo(path, True, None)
            raise self._missing(path)
        if entry.size is not None:
            return FileInfo(path, False, entry.size)
        return self._call(path, lambda e: self._probe(path, e))

    def _probe(self, path: str, entry: PresignedUrl) -> FileInfo:
        """Size, ETag and digest from a one-byte ranged GET (presigned GETs refuse HEAD)."""
        return self._http.probe(entry.url, path, entry.headers)

    def list(self, path: str = "", recursive: bool = False) -> builtins.list[FileInfo]:
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        dirs: set[str] = set()
        files: dict[str, PresignedUrl] = {}
        for rel, entry in self._urls().items():
            if not rel.startswith(prefix) or rel == prefix.rstrip("/"):
                continue
            parts = rel[len(prefix) :].split("/")
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                dirs.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                files[rel] = entry
        out = [FileInfo(d, True, None) for d in dirs]
        out += [FileInfo(p, False, e.size) for p, e in files.items() if e.size is not None]
        out += stat_in_parallel(self, [p for p, e in files.items() if e.size is None])
        out.sort(key=lambda f: f.path)
        return out

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(path, start, length))

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        resp, url = self._open_range(path, start, length)
        yield from self._http.range_body(resp, url, length)

    def read_range_into(self, path: str, start: int, length: int, sink: RangeSink) -> None:
        if length <= 0:
            return
        resp, url = self._open_range(path, start, length)
        if resp is not None:
            self._http.body_into(resp, "GET", url, length, sink.write)

    def _open_range(
        self, path: str, start: int, length: int
    ) -> tuple[urllib3.BaseHTTPResponse | None, str]:
        def open_range(entry: PresignedUrl) -> tuple[urllib3.BaseHTTPResponse | None, str]:
            resp = self._http.open_range(entry.url, path, start, length, entry.headers, entry.size)
            return resp, entry.url

        return self._call(path, open_range)

    def download_file(self, path: str, local_path: str, size: int | None = None) -> FileInfo:
        """One GET; returns what its headers say, for the engine to check."""

        def open_whole(entry: PresignedUrl) -> tuple[urllib3.BaseHTTPResponse, str]:
            return self._http.open_whole(entry.url, path, entry.headers), entry.url

        resp, url = self._call(path, open_whole)
        return self._http.save(resp, url, path, local_path)


@hookimpl(trylast=True)
def federate_artifact_repos() -> builtins.list[RepoPlugin]:
    return [
        RepoPlugin(
            name="presigned",
            schemes=("presigned",),
            factory=PresignedArtifactRepository,
            description="Files behind presigned URLs a registry hands out (read-only)",
            credential_kinds=(PRESIGNED_URLS,),
        )
    ]
