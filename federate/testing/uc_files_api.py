"""The Files API of the fake workspace: ``/api/2.0/fs/files<path>``.

``GET`` (and ``HEAD``) read a file, whole or a ``Range`` (``206`` with ``Content-Range``,
an ``ETag``, ``Accept-Ranges: bytes``), as Databricks serves ``/Models/<c>/<s>/<m>/<v>/...``
to the SDK's ``files.download``; ``PUT`` (``overwrite=true`` to replace) writes one and
``DELETE`` removes one. Files live in the workspace's default-storage directory, where the
directory listing (``/api/2.0/fs/directories``) and presigned URLs find them too. The
workspace checks the bearer token before any of this; errors are its JSON errors.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from federate.testing.http import _parse_range

FILES_PREFIX = "/api/2.0/fs/files"
_BLOCK = 1024 * 1024


class FilesRefusal(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _local(base: Path, path: str) -> tuple[str, Path]:
    virtual = unquote(path[len(FILES_PREFIX) :])
    parts = virtual.strip("/").split("/")
    if not virtual.startswith("/Models/") or any(p in ("", ".", "..") for p in parts):
        raise FilesRefusal(400, f"Invalid path {virtual!r}", "INVALID_PARAMETER_VALUE")
    return virtual, base.joinpath(*parts)


def serve_file(handler: BaseHTTPRequestHandler, base: Path, method: str, body: bytes) -> int:
    """Answer one Files API request on ``handler``; the status sent."""
    parts = urlsplit(handler.path)
    virtual, local = _local(base, parts.path)
    if method == "PUT":
        if handler.headers.get("Content-Length") is None:
            raise FilesRefusal(411, "A file's length must be sent", "INVALID_PARAMETER_VALUE")
        query = dict(parse_qsl(parts.query))
        if local.exists() and query.get("overwrite") != "true":
            raise FilesRefusal(409, f"The file {virtual} already exists.", "ALREADY_EXISTS")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(body)
        return _empty(handler, 204)
    if not local.is_file():
        raise FilesRefusal(404, f"The file {virtual} does not exist.", "NOT_FOUND")
    if method == "DELETE":
        local.unlink()
        return _empty(handler, 204)
    st = local.stat()
    span = _parse_range(handler.headers.get("Range"), st.st_size)
    start, end = span or (0, st.st_size)
    status = 206 if span else 200
    handler.send_response(status)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(end - start))
    handler.send_header("Accept-Ranges", "bytes")
    handler.send_header("ETag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"')
    if span:
        handler.send_header("Content-Range", f"bytes {start}-{end - 1}/{st.st_size}")
    handler.end_headers()
    if method == "GET":
        with local.open("rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                block = fh.read(min(_BLOCK, left))
                if not block:
                    break
                handler.wfile.write(block)
                left -= len(block)
    return status


def _empty(handler: BaseHTTPRequestHandler, status: int) -> int:
    handler.send_response(status)
    handler.send_header("Content-Length", "0")
    handler.end_headers()
    return status
