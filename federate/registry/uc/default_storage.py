"""Versions in Databricks-managed default storage, read through the workspace's Files API.

A version whose credentials come back with ``storage_mode: DEFAULT_STORAGE`` has no cloud
credentials: its files sit under the virtual directory ``/Models/<c>/<s>/<m>/<version>``,
listed with ``GET /api/2.0/fs/directories<path>`` (paged) and read through one presigned
URL per file from ``POST /api/2.0/fs/create-download-url`` (sent with the headers it
names). The URL set becomes ``presigned_urls`` credentials for
:mod:`federate.repos.presigned`, which renews it through the registry when the store
refuses a URL; the workspace token goes to the workspace only, never to a file URL.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from federate.credentials import ScopedCredentials
from federate.errors import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.uc.rest import UcRestClient
from federate.repos.presigned import PresignedUrl, presigned_credentials

FS_API = "/api/2.0/fs"
#: directory pages read before a listing is called endless (a server repeating its token)
MAX_PAGES = 100_000
#: download URLs asked for at once (the client's connection pool holds 8)
URL_WORKERS = 8


def version_directory(name: str, version: int) -> str:
    """``/Models/<catalog>/<schema>/<model>/<version>`` for ``catalog.schema.model``."""
    return "/Models/" + "/".join(name.split(".")) + f"/{version}"


def _bad(root: str, why: str) -> FederateError:
    return FederateError(f"The workspace listed {root} wrongly: {why}", INTERNAL_ERROR)


def _entries(client: UcRestClient, directory: str, root: str) -> list[dict[str, Any]]:
    """Every entry of one directory, all pages read. A subdirectory gone meanwhile is
    empty (as MLflow reads it); the version's own directory missing is
    RESOURCE_DOES_NOT_EXIST, never an empty download."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        try:
            answer = client.get(
                f"{FS_API}/directories{quote(directory, safe='/')}", {"page_token": token}
            )
        except FederateError as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            if directory == root:
                raise FederateError(
                    f"The workspace has no files for this version in default storage: {root} "
                    f"does not exist ({err.message})",
                    RESOURCE_DOES_NOT_EXIST,
                ) from None
            return found
        contents = answer.get("contents") or []
        if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
            raise _bad(root, "'contents' is not a list of entries")
        found.extend(contents)
        token = answer.get("next_page_token") or None
        if token is None:
            return found
    raise _bad(root, f"the listing did not end after {MAX_PAGES} pages")


def list_files(client: UcRestClient, root: str) -> dict[str, int | None]:
    """Relative '/'-separated path -> size of every file under ``root`` (recursively).
    A path the workspace gives outside ``root`` is the server's fault, said as such."""
    files: dict[str, int | None] = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        for entry in _entries(client, directory, root):
            path = str(entry.get("path") or "").rstrip("/")
            rel = path[len(root) + 1 :] if path.startswith(root + "/") else ""
            if not rel or any(part in ("", ".", "..") for part in rel.split("/")):
                raise _bad(root, f"entry {path!r} is not inside it")
            if entry.get("is_directory"):
                pending.append(path)
                continue
            size = entry.get("file_size")
            files[rel] = int(size) if isinstance(size, int) and size >= 0 else None
    return files


def _download_url(client: UcRestClient, root: str, rel: str, size: int | None) -> PresignedUrl:
    answer = client.post(f"{FS_API}/create-download-url", {"path": f"{root}/{rel}"})
    url = answer.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise FederateError(f"The workspace gave no download URL for {root}/{rel}", INTERNAL_ERROR)
    headers = {
        str(h["name"]): str(h.get("value") or "")
        for h in answer.get("headers") or []
        if isinstance(h, dict) and h.get("name")
    }
    return PresignedUrl(rel, url, headers, None, size)


def presigned_files(client: UcRestClient, name: str, version: int) -> ScopedCredentials:
    """A presigned URL for every file of the version, as ``presigned_urls`` credentials."""
    root = version_directory(name, version)
    files = list_files(client, root)
    with ThreadPoolExecutor(max_workers=URL_WORKERS, thread_name_prefix="uc-urls") as pool:
        urls = list(
            pool.map(lambda item: _download_url(client, root, *item), sorted(files.items()))
        )
    return presigned_credentials(urls)
