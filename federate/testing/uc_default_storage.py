"""Default storage of the fake workspace: versions kept by Databricks itself.

:meth:`DefaultStorage.use_default_storage` serves a directory through HMAC-signed URLs
(:class:`~federate.testing.presigned.UrlSigner`), :meth:`DefaultStorage.publish_default`
adds versions there, and ``/api/2.0/fs`` answers the Files API's directory listing and
``create-download-url`` over it (file reads and writes: :mod:`.uc_files_api`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from federate.testing.presigned import SCOPE_HEADER
from federate.testing.uc_records import READY, Refusal

if TYPE_CHECKING:
    from federate.testing.presigned import UrlSigner

FS_API = "/api/2.0/fs"


def _files_path(name: str, version: int) -> str:
    """The Files API directory of a version: ``/Models/<c>/<s>/<m>/<version>``."""
    return "/Models/" + "/".join(name.split(".")) + f"/{version}"


class DefaultStorage:
    """The default-storage half of :class:`~federate.testing.uc_workspace.UcWorkspace`."""

    url: str
    page_size: int
    default_storage: UrlSigner | None
    url_ttl_s: float
    storage_saw_authorization: bool
    _in_default_storage: set[tuple[str, int]]
    _lock: threading.RLock

    if TYPE_CHECKING:

        def add_version(
            self, name: str, storage_location: str, status: str = ..., source: str | None = ...
        ) -> int: ...

    def use_default_storage(self, directory: Path) -> UrlSigner:
        """Serve default storage from ``directory`` through HMAC-signed URLs that expire
        ``url_ttl_s`` after they are made (403 then; move the signer's clock with
        :meth:`UrlSigner.advance`); stopped with the workspace."""
        from federate.testing.http import FileServer
        from federate.testing.presigned import UrlSigner

        directory.mkdir(parents=True, exist_ok=True)
        signer = UrlSigner(FileServer(directory).start())
        check = signer.server.gate

        def gate(method: str, path: str, query: str, headers: Mapping[str, str]) -> Any:
            if "authorization" in {h.lower() for h in headers}:
                self.storage_saw_authorization = True
            return check(method, path, query, headers) if check else None

        signer.server.gate = gate
        self.default_storage = signer
        return signer

    def publish_default(self, name: str, files: dict[str, bytes], status: str = READY) -> int:
        """Add a version of ``name`` kept in default storage, with ``files``."""
        if self.default_storage is None:
            raise RuntimeError("publish_default needs use_default_storage(directory) first")
        number = self.add_version(name, f"s3://databricks-default-storage/{uuid.uuid4()}", status)
        root = self.default_storage.server.directory / _files_path(name, number).lstrip("/")
        root.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        with self._lock:
            self._in_default_storage.add((name, number))
        return number

    def _files_api(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /api/2.0/fs/directories<path>`` and ``POST /api/2.0/fs/create-download-url``."""
        signer = self.default_storage
        if signer is None:
            raise Refusal(404, "No default storage in this workspace", "NOT_FOUND")
        base = signer.server.directory
        if method in ("GET", "HEAD") and path.startswith(FS_API + "/directories/"):
            virtual = unquote(path[len(FS_API + "/directories") :]).rstrip("/")
            local = base / virtual.lstrip("/")
            if ".." in virtual.split("/") or not local.is_dir():
                raise Refusal(404, f"The directory {virtual} does not exist.", "NOT_FOUND")
            entries = sorted(local.iterdir())
            start = int(params.get("page_token") or 0)
            page = entries[start : start + self.page_size]
            answer: dict[str, Any] = {
                "contents": [
                    {
                        "path": f"{virtual}/{e.name}",
                        "name": e.name,
                        "is_directory": e.is_dir(),
                        **({} if e.is_dir() else {"file_size": e.stat().st_size}),
                        "last_modified": int(e.stat().st_mtime * 1000),
                    }
                    for e in page
                ]
            }
            if start + self.page_size < len(entries):
                answer["next_page_token"] = str(start + self.page_size)
            return answer
        if (method, path) == ("POST", FS_API + "/create-download-url"):
            virtual = str(params.get("path") or "")
            if ".." in virtual.split("/") or not (base / virtual.lstrip("/")).is_file():
                raise Refusal(404, f"The file {virtual} does not exist.", "NOT_FOUND")
            url, _ = signer.sign(virtual.lstrip("/"), self.url_ttl_s)
            return {"url": url, "headers": [{"name": SCOPE_HEADER, "value": "read"}]}
        raise Refusal(404, f"No API found for '{method} {path}'", "ENDPOINT_NOT_FOUND")
