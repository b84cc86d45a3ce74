"""``mlflow-artifacts:`` locations: files an MLflow server proxies from its artifact store
(``mlflow server --serve-artifacts``), a built-in plugin.

A location ``mlflow-artifacts:/<path>`` is read from the tracking server it came from:
the MLflow server registry hands its URI over as credentials of kind
:data:`MLFLOW_SERVER` (a location opened on its own uses ``MLFLOW_TRACKING_URI``, as
MLflow's client does). ``mlflow-artifacts://host:port/<path>`` names the host; scheme and
path prefix stay the tracking URI's, as in MLflow. Authentication and TLS are MLflow's
client's (:mod:`federate.registry.mlflow_rest.server`).

The server's artifact API: ``GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>`` lists
one directory (not paged, not recursive, ``{}`` for a missing path), so a tree is listed
level by level, each level's directories in parallel; ``GET .../artifacts/<path>`` sends a
file. Files are read as the ``http`` repository reads them (it is one, with the server's
credentials): ranged GETs pinned to the ETag where the server honours ``Range`` (a local
artifact store), one whole GET per file where it answers ranges with the whole file (an
S3 store behind the proxy), pipelined GETs for small files, sizes checked.

Writes go through the same API, as MLflow's client sends them: ``PUT .../artifacts/<path>``
with a file's bytes (several files at once), ``DELETE .../artifacts/<path>`` for a file or
a whole directory.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote, urlsplit

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import RangeSink
from federate.repos.http import HttpArtifactRepository
from federate.repos.http_transport import HttpTransport, in_parallel
from federate.repos.ranged_answer import RangesIgnored

SCHEME = "mlflow-artifacts"
#: the ScopedCredentials kind naming the tracking server a location belongs to
MLFLOW_SERVER = "mlflow_server"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
API = "/api/2.0/mlflow-artifacts/artifacts"
#: directory levels listed before a tree is called endless (as FEDERATE_MAX_LISTING_DEPTH)
_MAX_DEPTH = 64


def server_credentials(tracking_uri: str) -> ScopedCredentials:
    """What the MLflow server registry hands this repository: its registry URI, an MLflow
    tracking URI or ``databricks[://<profile>]`` (no secret: credentials come from the
    environment, as for MLflow's client)."""
    return ScopedCredentials(MLFLOW_SERVER, {"tracking_uri": tracking_uri})


def _tracking_uri(location: str, credentials: ScopedCredentials | None) -> str:
    if credentials is not None and credentials.kind == MLFLOW_SERVER:
        return credentials.values["tracking_uri"]
    uri = os.environ.get(TRACKING_URI_ENV, "").strip()
    if not uri.lower().startswith(("http://", "https://")):
        raise FederateError(
            f"{location} is in an MLflow server's artifact store: download it through the "
            f"registry (models:/... with the server as registry URI), or set "
            f"{TRACKING_URI_ENV} to the server's http(s):// URI",
            INVALID_PARAMETER_VALUE,
        )
    return uri


def _artifact_path(location: str) -> tuple[str, str]:
    """(host the location names, or "", its path under the artifact root without slashes)."""
    parts = urlsplit(location)
    if parts.scheme.lower() != SCHEME or parts.query or parts.fragment:
        raise FederateError(
            f"Not an mlflow-artifacts location: {location!r} (mlflow-artifacts:/<path> or "
            "mlflow-artifacts://host:port/<path>)",
            INVALID_PARAMETER_VALUE,
        )
    if parts.port is not None and not parts.hostname:
        raise FederateError(f"{location!r} has a port but no host", INVALID_PARAMETER_VALUE)
    return parts.netloc, parts.path.strip("/")


class MlflowArtifactsRepository(HttpArtifactRepository):
    """Files under an ``mlflow-artifacts:`` location: read, written and deleted."""

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        from federate.registry.mlflow_rest.server import server_for
        from federate.registry.rest_client import RestClient

        netloc, self._prefix = _artifact_path(root)
        server = server_for(_tracking_uri(root, credentials))
        if netloc:  # the location names the host; the tracking URI's scheme and path stay
            track = urlsplit(server.base_url)
            server = replace(server, base_url=f"{track.scheme}://{netloc}{track.path}")
        files_url = server.base_url + API + (f"/{quote(self._prefix)}" if self._prefix else "")
        super().__init__(files_url + "/", credentials, refresh)
        self.root = root
        self.server = server
        self._headers = dict(server.headers)
        tls = server.tls_options()
        self._http = HttpTransport(tls)
        # the pipelined fetcher speaks TLS with the usual CA bundle only
        custom_tls = bool(server.ca_certs or not server.verify or server.client_cert)
        self.batches_downloads = not (server.base_url.startswith("https:") and custom_tls)  # type: ignore[misc]
        self._api = RestClient(server)

    def __repr__(self) -> str:
        return f"MlflowArtifactsRepository({self.root!r}, server={self.server.base_url!r})"

    def _url(self, path: str, directory: bool = False) -> str:
        url = self._base.rstrip("/")
        return f"{url}/{quote(path.strip('/'))}" if path.strip("/") else url

    def _server_path(self, path: str) -> str:
        return "/".join(p for p in (self._prefix, path.strip("/")) if p)

    def _entries(self, path: str) -> builtins.list[FileInfo]:
        """One directory's entries (paths relative to the root); none if nothing is there."""
        where = self._server_path(path)
        answer = self._api.get(API, {"path": where} if where else None)
        items = answer.get("files") or []
        if not isinstance(items, builtins.list):
            raise FederateError(
                f"{self.server.kind} {self.server.base_url} listed {path or 'the root'} of "
                f"{self.root} without a list of files",
                INTERNAL_ERROR,
            )
        out = []
        for item in items:
            name = item.get("path") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or "/" in name:
                raise FederateError(
                    f"{self.server.kind} {self.server.base_url} listed an entry of "
                    f"{path or 'the root'} of {self.root} that is not a name: {name!r}",
                    INTERNAL_ERROR,
                )
            rel = f"{path.strip('/')}/{name}" if path.strip("/") else name
            is_dir = bool(item.get("is_dir"))
            # proto3 JSON leaves out zero values: a file listed without a size is empty
            size = item.get("file_size", 0)
            out.append(FileInfo(rel, is_dir, None if is_dir or size is None else int(size)))
        return out

    def list(self, path: str = "", recursive: bool = False) -> builtins.list[FileInfo]:
        """The listing, a level at a time; files big enough to be read in ranges get a
        :meth:`stat` for their ETag, which pins the ranges and lets an interrupted download
        resume."""
        from federate.repos.http_transport import stat_in_parallel
        from federate.transfer.settings import TransferSettings

        threshold = TransferSettings.from_env().multipart_threshold
        out: builtins.list[FileInfo] = []
        level = [path.strip("/")]
        depth = 0
        while level:
            depth += 1
            if depth > _MAX_DEPTH:
                raise FederateError(
                    f"{self.root} is more than {_MAX_DEPTH} directories deep", INTERNAL_ERROR
                )
            below: builtins.list[str] = []
            for entries in in_parallel(self._entries, level):
                out.extend(entries)
                below.extend(e.path for e in entries if e.is_dir)
            level = below if recursive else []
        big = [f.path for f in out if not f.is_dir and (f.file_size or 0) >= threshold]
        if big:
            pinned = {f.path: f for f in stat_in_parallel(self, big)}
            out = [pinned.get(f.path, f) for f in out]
        out.sort(key=lambda f: f.path)
        return out

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        self._check_range(path, start, length)
        yield from super().iter_range(path, start, length)

    def read_range_into(self, path: str, start: int, length: int, sink: RangeSink) -> None:
        self._check_range(path, start, length)
        super().read_range_into(path, start, length, sink)

    def _check_range(self, path: str, start: int, length: int) -> None:
        """On a server whose probe of the file came back whole (the proxy over an S3
        store ignores ``Range``), only a read of the whole file goes out: any other range
        is :class:`RangesIgnored` at once, so the engine reads the file in one GET instead
        of having the server stream it whole once per range."""
        size = self._http.known_size(path)
        whole = start == 0 and size is not None and length >= size
        if path in self._http.ranges_ignored and not whole:
            raise RangesIgnored(
                f"{self.root}/{path}",
                f"{self.server.kind} {self.server.base_url} answers ranged reads of this "
                "file with the whole file: it is read whole, once",
            )

    def stat(self, path: str = "") -> FileInfo:
        """A file's size and ETag from a one-byte GET: the server's HEAD answers another
        ETag than its GETs (Flask's, not the proxy's), which would fail every pinned
        range. A directory or nothing (the server refuses to send either): the listing
        of its parent says which."""
        url = self._url(path)
        try:
            return self._http.probe(url, path, self._headers)
        except FederateError as err:
            # 400: a directory ("refers to a directory, not a file"); 404: nothing there
            if err.error_code not in (INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST):
                raise
        # a directory (the server refuses to send it) or nothing: its parent's listing says
        parent, _, name = path.strip("/").rpartition("/")
        if not name:
            if self._entries(""):
                return FileInfo(path, True, None)
            parent_prefix, _, name = self._prefix.rpartition("/")
            if not name:
                return FileInfo(path, True, None)  # the artifact root itself
            answer = self._api.get(API, {"path": parent_prefix} if parent_prefix else None)
            entries = answer.get("files") or []
            found = [e for e in entries if isinstance(e, dict) and e.get("path") == name]
        else:
            found = [
                {"is_dir": e.is_dir} for e in self._entries(parent) if e.path == path.strip("/")
            ]
        if found and found[0].get("is_dir"):
            return FileInfo(path, True, None)
        raise FederateError(
            f"Nothing at {path or 'the root'} of {self.root} on {self.server.kind} "
            f"{self.server.base_url}",
            RESOURCE_DOES_NOT_EXIST,
        )

    # -- writing -------------------------------------------------------------------------

    def _file_endpoint(self, path: str) -> str:
        where = self._server_path(path)
        if not where:
            raise FederateError(
                f"A file needs a path under {self.root}, not the root itself",
                INVALID_PARAMETER_VALUE,
            )
        return f"{API}/{quote(where)}"

    def upload_file(self, local_path: str, path: str) -> None:
        self._api.put_file(self._file_endpoint(path), local_path)

    def upload_dir(self, local_dir: str, path: str = "") -> None:
        """Every file under ``local_dir`` (read by the rule of
        :mod:`federate.repos.local_tree`, checked before anything is sent), several at once."""
        from pathlib import Path

        from federate.repos.local_tree import walk

        files = {
            (f"{path.strip('/')}/{entry.rel}" if path.strip("/") else entry.rel): entry.path
            for entry in walk(Path(local_dir))
            if not entry.is_dir
        }
        in_parallel(lambda rel: self.upload_file(files[rel], rel), sorted(files))

    def delete(self, path: str = "") -> None:
        """Delete a file or a directory (the whole location without ``path``)."""
        where = self._server_path(path)
        if not where:
            raise FederateError(
                f"Refusing to delete the whole artifact store of {self.server.base_url}",
                INVALID_PARAMETER_VALUE,
            )
        self._api.delete(f"{API}/{quote(where)}")


@hookimpl(trylast=True)
def federate_artifact_repos() -> builtins.list[RepoPlugin]:
    return [
        RepoPlugin(
            name="mlflow-artifacts",
            schemes=(SCHEME,),
            factory=MlflowArtifactsRepository,
            description="Files an MLflow server proxies (mlflow-artifacts:)",
        )
    ]
