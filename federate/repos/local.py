"""The local filesystem repository (``file://`` URIs and plain paths), a built-in plugin."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    from_os_error,
)
from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RepoPlugin
from federate.repos.base import ArtifactRepository
from federate.repos.local_tree import check_regular_file, not_regular, walk
from federate.transfer.paths import safe_relpath

_PIECE = 1024 * 1024


def local_path_of(location: str) -> Path:
    """``file:///a/b``, ``file:/a/b``, ``file://localhost/a/b`` or a plain path -> a Path."""
    if location.startswith("file:"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise FederateError(
                f"file URI {location!r} names host {parts.netloc!r}; only local paths are "
                "accepted (file:///absolute/path or a plain path)",
                INVALID_PARAMETER_VALUE,
            )
        return Path(unquote(parts.path))
    return Path(location).expanduser()


class LocalArtifactRepository(ArtifactRepository):
    writable = True

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        self.base = local_path_of(root).absolute()

    def _full(self, path: str) -> Path:
        """``path`` below the root; one with a '.', '..' or empty segment is refused."""
        rel = path.strip("/")
        return self.base / safe_relpath(rel) if rel else self.base

    def _missing(self, path: str) -> FederateError:
        where = self.base / path if path else self.base
        return FederateError(f"No such file or directory: {where}", RESOURCE_DOES_NOT_EXIST)

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries under ``path`` by :mod:`federate.repos.local_tree`'s rule: links inside
        the root are followed, links leaving it and devices, FIFOs and sockets refused."""
        top = self._full(path)
        if not top.is_dir():
            return []
        rel = path.strip("/")
        out = [FileInfo(e.rel, e.is_dir, e.size) for e in walk(self.base, rel, recursive)]
        out.sort(key=lambda f: f.path)
        return out

    def stat(self, path: str = "") -> FileInfo:
        full = self._full(path)
        try:
            st = full.stat()
        except FileNotFoundError:
            raise self._missing(path) from None
        except OSError as err:
            raise from_os_error(err, "read", full) from err
        if stat.S_ISDIR(st.st_mode):
            return FileInfo(path, True, None)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(full, st.st_mode)  # /dev/zero would be copied without end
        return FileInfo(path, False, st.st_size)

    def _open_regular(self, path: str, buffering: int = -1) -> BinaryIO:
        full = self._full(path)
        f = open(full, "rb", buffering=buffering)  # noqa: SIM115 - returned to the caller
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            f.close()
            raise not_regular(full, mode)
        return f

    def read_range(self, path: str, start: int, length: int) -> bytes:
        try:
            with self._open_regular(path) as f:
                f.seek(start)
                return f.read(length)
        except FileNotFoundError:
            raise self._missing(path) from None
        except OSError as err:
            raise from_os_error(err, "read", self.base / path) from err

    def iter_range(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """A MiB at a time, so a worker never holds a whole range."""
        try:
            with self._open_regular(path, buffering=0) as f:
                f.seek(start)
                while length > 0 and (piece := f.read(min(_PIECE, length))):
                    length -= len(piece)
                    yield piece
        except FileNotFoundError:
            raise self._missing(path) from None
        except OSError as err:
            raise from_os_error(err, "read", self.base / path) from err

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        try:
            shutil.copyfile(check_regular_file(self._full(path)), local_path)
        except FileNotFoundError:
            raise self._missing(path) from None
        except OSError as err:
            raise from_os_error(err, "copy", self.base / path) from err

    def upload_file(self, local_path: str, path: str) -> None:
        target = self._full(path)
        # write beside the target and rename, so readers never see a partial file
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target)
        except OSError as err:
            raise from_os_error(err, "store a file at", target) from err
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def delete(self, path: str = "") -> None:
        full = self._full(path)
        try:
            if full.is_dir():
                shutil.rmtree(full)
            elif full.exists():
                full.unlink()
        except OSError as err:
            raise from_os_error(err, "delete", full) from err


@hookimpl(trylast=True)
def federate_artifact_repos() -> list[RepoPlugin]:
    return [
        RepoPlugin(
            name="local",
            schemes=("file",),
            factory=LocalArtifactRepository,
            description="Local filesystem: file:// URIs and plain paths",
            writable=True,
        )
    ]
