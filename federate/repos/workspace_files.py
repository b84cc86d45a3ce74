"""A Databricks workspace's Files API as a writable store, a built-in plugin.

Unity Catalog versions are written here when the workspace keeps them itself
(``storage_mode: DEFAULT_STORAGE``) or when it asks clients to use the Files API instead
of vended cloud credentials: one ``PUT <host>/api/2.0/fs/files<root>/<path>?overwrite=true``
per file, the workspace's bearer token sent with it and to nothing but that host. The
registry hands the root and the token out as :class:`ScopedCredentials` of kind
``workspace_files`` (values ``host``, ``root``, ``authorization``); this plugin claims that
kind, whatever the version's location. A refused token (401/403) is renewed through the
registry once. Reads are those of the registry's read credentials (presigned URLs on the
same host, :mod:`federate.repos.presigned`); the ones here list, stat and read ranges
so a failed registration can be cleaned up and an upload checked.
"""

from __future__ import annotations

import builtins
import json
import os
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from federate.credentials import CredentialKeeper, CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    describe,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository

if TYPE_CHECKING:
    import urllib3

#: the ScopedCredentials kind this repository reads
WORKSPACE_FILES = "workspace_files"
FILES = "/api/2.0/fs/files"
DIRECTORIES = "/api/2.0/fs/directories"


def workspace_files_credentials(host: str, root: str, authorization: str) -> ScopedCredentials:
    """What a registry hands out for files under ``root`` (``/Models/c/s/m/v``) of the
    workspace at ``host``, written with the ``Authorization`` header value given."""
    return ScopedCredentials(
        WORKSPACE_FILES, {"host": host, "root": root.rstrip("/"), "authorization": authorization}
    )


class _Refused(FederateError):
    pass


class WorkspaceFilesRepository(ArtifactRepository):
    writable = True

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        values = credentials.values if credentials is not None else {}
        if (
            credentials is None
            or credentials.kind != WORKSPACE_FILES
            or not all(values.get(k) for k in ("host", "root", "authorization"))
        ):
            raise FederateError(
                f"{root!r} is written through a Databricks workspace's Files API, with "
                f"ScopedCredentials of kind {WORKSPACE_FILES!r} (host, root, authorization) "
                "from its registry; register through the databricks-uc registry",
                INVALID_PARAMETER_VALUE,
            )
        self._keeper = CredentialKeeper(credentials, refresh)
        self._pool: urllib3.PoolManager | None = None

    def _request(
        self,
        method: str,
        api: str,
        path: str,
        body: bytes | BinaryIO | None = None,
        query: str = "",
        extra: dict[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """One request to the workspace, the token renewed once if refused."""

        def attempt(creds: ScopedCredentials | None) -> urllib3.BaseHTTPResponse:
            assert creds is not None
            values = creds.values
            rel = f"/{quote(path.strip('/'), safe='/')}" if path.strip("/") else ""
            url = f"{values['host']}{api}{quote(values['root'], safe='/')}{rel}{query}"
            headers = {"Authorization": values["authorization"], **(extra or {})}
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]  # a retry sends it whole again
            if isinstance(body, bytes) or hasattr(body, "read"):
                headers["Content-Type"] = "application/octet-stream"
            try:
                resp = self._manager().request(
                    method, url, body=body, headers=headers, redirect=False, retries=False
                )
            except Exception as err:
                raise FederateError(
                    f"The workspace {values['host']} did not answer {method} {api}: "
                    f"{describe(err)}",
                    INTERNAL_ERROR,
                ) from None
            if resp.status in (401, 403):
                raise _Refused(
                    f"The workspace {values['host']} refused the token for its Files API "
                    f"(HTTP {resp.status})",
                    PERMISSION_DENIED,
                )
            return resp

        return self._keeper.call(attempt, lambda err: isinstance(err, _Refused))

    def _manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            import urllib3

            from federate.repos.http_pool import ca_bundle, guard_http_logs

            guard_http_logs()
            self._pool = urllib3.PoolManager(maxsize=8, ca_certs=ca_bundle())
        return self._pool

    def _checked(self, resp: urllib3.BaseHTTPResponse, what: str) -> urllib3.BaseHTTPResponse:
        if resp.status == 404:
            raise FederateError(
                f"No file {what!r} in the workspace's Files API", RESOURCE_DOES_NOT_EXIST
            )
        if not 200 <= resp.status < 300:
            raise FederateError(
                f"The workspace's Files API refused {what!r} (HTTP {resp.status}: "
                f"{resp.data[:300].decode('utf-8', 'replace')})",
                INTERNAL_ERROR,
            )
        return resp

    # -- writing -----------------------------------------------------------------------

    def upload_file(self, local_path: str, path: str) -> None:
        size = os.path.getsize(local_path)

        def put() -> urllib3.BaseHTTPResponse:
            with open(local_path, "rb") as fh:
                # streamed, with its length (a chunked body is not what the API takes)
                return self._request(
                    "PUT", FILES, path, fh, "?overwrite=true", {"Content-Length": str(size)}
                )

        self._checked(put(), path)

    def delete(self, path: str = "") -> None:
        for info in self.list(path, recursive=True):
            if not info.is_dir:
                self._request("DELETE", FILES, info.path)

    # -- reading -----------------------------------------------------------------------

    def list(self, path: str = "", recursive: bool = False) -> builtins.list[FileInfo]:
        out: builtins.list[FileInfo] = []
        pending = [path.strip("/")]
        root = self.credentials.values["root"] if self.credentials else ""
        while pending:
            directory = pending.pop()
            token = ""
            while True:
                query = f"?page_token={quote(token)}" if token else ""
                resp = self._request("GET", DIRECTORIES, directory, None, query)
                if resp.status == 404:
                    break
                answer = json.loads(self._checked(resp, directory).data or b"{}")
                for entry in answer.get("contents") or []:
                    rel = str(entry.get("path", ""))[len(root) + 1 :]
                    out.append(
                        FileInfo(rel, bool(entry.get("is_directory")), entry.get("file_size"))
                    )
                    if entry.get("is_directory") and recursive:
                        pending.append(rel)
                token = answer.get("next_page_token") or ""
                if not token:
                    break
        return sorted(out, key=lambda f: f.path)

    def stat(self, path: str = "") -> FileInfo:
        resp = self._checked(self._request("HEAD", FILES, path), path)
        return FileInfo(path.strip("/"), False, int(resp.headers.get("Content-Length") or 0))

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        span = {"Range": f"bytes={start}-{start + length - 1}"}
        resp = self._checked(self._request("GET", FILES, path, None, "", span), path)
        data = resp.data
        return data if resp.status == 206 else data[start : start + length]


@hookimpl(trylast=True)
def federate_artifact_repos() -> builtins.list[RepoPlugin]:
    return [
        RepoPlugin(
            name="workspace-files",
            schemes=("workspace-files",),
            factory=WorkspaceFilesRepository,
            description="a Databricks workspace's Files API (Unity Catalog uploads)",
            writable=True,
            credential_kinds=(WORKSPACE_FILES,),
        )
    ]
