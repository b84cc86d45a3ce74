"""The zip archive repository: listing, ranged reads and streaming downloads.

Members stored without compression are read with ``os.pread`` at their offset in the
archive, so any byte range costs one read and the transfer engine can fetch ranges of a
large file in parallel. Compressed members can only be decompressed from their start:
a range of one costs a decompression up to its end, so whole-file downloads stream
each member once instead (and check its CRC-32 on the way).
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.entities import FileInfo
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    from_os_error,
)
from federate.repos.base import ArtifactRepository

#: Separates the archive's path from the path inside it, as in ``jar:`` URLs.
MEMBER_SEPARATOR = "!/"

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # the fixed 30 bytes before each member's name
_LOCAL_HEADER_MAGIC = b"PK\x03\x04"

ACCEPTED = "zip:///absolute/archive.zip, zip:relative/archive.zip, with an optional !/prefix"


def parse_zip_uri(location: str) -> tuple[Path, str]:
    """``zip:///a/b.zip!/c/d`` -> (Path('/a/b.zip'), 'c/d')."""
    if not location.lower().startswith("zip:"):
        raise FederateError(f"{location!r} is not a zip: URI ({ACCEPTED})", INVALID_PARAMETER_VALUE)
    rest = location[4:]
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise FederateError(
                f"zip URI {location!r} names host {host!r}; archives must be local ({ACCEPTED})",
                INVALID_PARAMETER_VALUE,
            )
        rest = slash + path
    archive, _, member = rest.partition(MEMBER_SEPARATOR)
    if not archive:
        raise FederateError(
            f"zip URI {location!r} names no archive ({ACCEPTED})", INVALID_PARAMETER_VALUE
        )
    return Path(unquote(archive)).expanduser(), unquote(member).strip("/")


class ZipArtifactRepository(ArtifactRepository):
    """A read-only repository over one directory (or one member) of a zip archive."""

    writable = False

    def __init__(
        self,
        root: str,
        credentials: ScopedCredentials | None = None,
        refresh: CredentialRefresher | None = None,
    ) -> None:
        super().__init__(root, credentials, refresh)
        self.archive, self.prefix = parse_zip_uri(root)
        self._members: dict[str, zipfile.ZipInfo] | None = None
        self._dirs: set[str] = set()
        self._data_offsets: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- the archive's table of contents, read once ---------------------------------------

    def _open(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.archive)
        except FileNotFoundError:
            raise FederateError(
                f"No such zip archive: {self.archive}", RESOURCE_DOES_NOT_EXIST
            ) from None
        except zipfile.BadZipFile as err:
            raise FederateError(
                f"{self.archive} is not a readable zip archive: {err}", INVALID_PARAMETER_VALUE
            ) from None
        except OSError as err:
            raise from_os_error(err, "open zip archive", self.archive) from err

    def _table(self) -> dict[str, zipfile.ZipInfo]:
        with self._lock:
            if self._members is None:
                with self._open() as zf:
                    infos = zf.infolist()
                members = {i.filename.rstrip("/"): i for i in infos if not i.is_dir()}
                dirs = {i.filename.rstrip("/") for i in infos if i.is_dir()}
                for name in members:
                    dirs.update(str(p) for p in PurePosixPath(name).parents if str(p) != ".")
                self._members, self._dirs = members, dirs
            return self._members

    def _name(self, path: str) -> str:
        """The member name of a repository-relative path."""
        return "/".join(p for p in (self.prefix, path.strip("/")) if p)

    def _member(self, path: str) -> zipfile.ZipInfo:
        info = self._table().get(self._name(path))
        if info is None:
            raise FederateError(
                f"No such file in {self.archive}: {self._name(path)!r}", RESOURCE_DOES_NOT_EXIST
            )
        if info.flag_bits & 0x1:
            raise FederateError(
                f"{self._name(path)!r} in {self.archive} is encrypted; federate-zip reads "
                "unencrypted archives only",
                NOT_IMPLEMENTED,
            )
        return info

    # -- reading -----------------------------------------------------------------------

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        members = self._table()
        base = self._name(path)
        if base and base not in self._dirs:
            return []
        cut = len(self.prefix) + 1 if self.prefix else 0
        start = f"{base}/" if base else ""
        out: dict[str, FileInfo] = {}
        for name in sorted(self._dirs | set(members)):
            if not name.startswith(start) or name == base:
                continue
            rest = name[len(start) :]
            if not recursive and "/" in rest:
                continue
            rel = name[cut:]
            info = members.get(name)
            out[rel] = FileInfo(rel, True) if info is None else self._file_info(rel, info)
        return sorted(out.values(), key=lambda f: f.path)

    @staticmethod
    def _file_info(path: str, info: zipfile.ZipInfo) -> FileInfo:
        return FileInfo(path, False, info.file_size, checksum=f"crc32:{info.CRC:08x}")

    def stat(self, path: str = "") -> FileInfo:
        members = self._table()
        name = self._name(path)
        if name in members:
            return self._file_info(path, members[name])
        if name == "" or name in self._dirs:
            return FileInfo(path, True)
        raise FederateError(
            f"No such file or directory in {self.archive}: {name!r}", RESOURCE_DOES_NOT_EXIST
        )

    def read_range(self, path: str, start: int, length: int) -> bytes:
        info = self._member(path)
        if start < 0 or length < 0:
            raise FederateError(
                f"Invalid range start={start} length={length}", INVALID_PARAMETER_VALUE
            )
        length = max(0, min(length, info.file_size - start))
        if length == 0:
            return b""
        if info.compress_type == zipfile.ZIP_STORED:
            return self._pread(info, start, length)
        with self._open() as zf, zf.open(info) as member:
            member.seek(start)
            return member.read(length)

    def _pread(self, info: zipfile.ZipInfo, start: int, length: int) -> bytes:
        try:
            with open(self.archive, "rb") as f:
                offset = self._data_offset(f.fileno(), info)
                return os.pread(f.fileno(), length, offset + start)
        except OSError as err:
            raise from_os_error(err, "read zip archive", self.archive) from err

    def _data_offset(self, fd: int, info: zipfile.ZipInfo) -> int:
        """Where a member's bytes begin: after its local header, name and extra field."""
        offset = self._data_offsets.get(info.filename)
        if offset is None:
            header = _LOCAL_HEADER.unpack(os.pread(fd, _LOCAL_HEADER.size, info.header_offset))
            if header[0] != _LOCAL_HEADER_MAGIC:
                raise FederateError(
                    f"{self.archive} is damaged: no local header for {info.filename!r}",
                    INVALID_PARAMETER_VALUE,
                )
            name_len, extra_len = header[-2], header[-1]
            offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
            self._data_offsets[info.filename] = offset
        return offset

    def download_file(self, path: str, local_path: str, size: int | None = None) -> None:
        info = self._member(path)
        try:
            with self._open() as zf, zf.open(info) as member, open(local_path, "wb") as out:
                shutil.copyfileobj(member, out, 1024 * 1024)
        except zipfile.BadZipFile as err:  # CRC mismatch: the archive is damaged
            raise FederateError(
                f"{self._name(path)!r} in {self.archive} is damaged: {err}", INVALID_PARAMETER_VALUE
            ) from None
        except OSError as err:
            raise from_os_error(err, "extract into", local_path) from err
