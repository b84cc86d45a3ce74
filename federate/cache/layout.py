"""What a cached version is on disk: its directory, its record, and the cheap check of both.

A snapshot's record (``<version>.json``, written after every file is in place) lists each
file with its size, its modification time and its SHA-256, and every directory. A
snapshot is *complete* when that record exists and parses, and *intact* when every file
it lists still has the recorded size and modification time: one ``stat`` per file, no
reading. Cached files carry the fixed modification time :data:`CACHED_MTIME_NS`, so
any write to one, through whichever hard link, moves it away from that value.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from federate.transfer.staging import read_json

#: 2000-01-01T00:00:00Z, the modification time of every cached file (the Nix store does
#: the same with 1; a date after 1980 keeps such files zip-able). A write changes it.
CACHED_MTIME_NS = 946_684_800 * 1_000_000_000


def offline() -> bool:
    """``FEDERATE_OFFLINE=1``: serve from the cache only, never touch the network."""
    return os.environ.get("FEDERATE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def registry_id(registry_uri: str) -> str:
    return hashlib.sha256(registry_uri.encode()).hexdigest()[:12]


class SnapshotChanged(Exception):
    """A snapshot being copied out was pruned, repaired or damaged meanwhile: serve it
    again (internal; never reaches a caller of :func:`federate.download`)."""


class CachedFile(NamedTuple):
    """One file of a snapshot as it was when cached."""

    size: int
    mtime_ns: int
    sha256: str

    def matches(self, st: os.stat_result) -> bool:
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


@dataclass(frozen=True)
class Record:
    """A complete snapshot's files (relative '/'-separated path -> as cached) and
    directories; ``created`` tells one fill of a version from the next."""

    files: dict[str, CachedFile]
    dirs: tuple[str, ...]
    created: float

    def to_json(self) -> dict[str, object]:
        return {
            "tree": {rel: [f.size, f.mtime_ns, f.sha256] for rel, f in self.files.items()},
            "dirs": list(self.dirs),
            "created": self.created,
        }

    @classmethod
    def from_json(cls, meta: dict[str, object]) -> Record | None:
        tree, dirs, created = meta.get("tree"), meta.get("dirs"), meta.get("created")
        if not isinstance(tree, dict) or not isinstance(dirs, list):
            return None  # written by an older federate, or not by federate: fetch again
        try:  # a record of the wrong shape reads as absent; wrong types never match a stat
            files = {str(rel): CachedFile(*entry) for rel, entry in tree.items()}
        except TypeError:
            return None
        if not all(isinstance(d, str) for d in dirs):
            return None
        return cls(files, tuple(dirs), float(created) if isinstance(created, (int, float)) else 0.0)

    def subset(self, rels: list[str]) -> Record:
        """The record of just the files ``rels`` (which it holds) and their parents."""
        dirs = {p.as_posix() for rel in rels for p in PurePosixPath(rel).parents} - {"."}
        files = {rel: self.files[rel] for rel in rels}
        return Record(files, tuple(sorted(dirs, key=lambda d: (d.count("/"), d))), self.created)


@dataclass(frozen=True)
class Partial:
    """What partial downloads of a version put in its snapshot directory, before (or
    without) a complete fill: ``listing`` is every file of the version (path -> size, as
    the store listed it), ``files`` those fetched so far, as cached. Kept in
    ``<version>.partial.json``; the complete record never depends on it."""

    listing: dict[str, int | None]
    files: dict[str, CachedFile]

    def to_json(self) -> dict[str, object]:
        return {
            "listing": self.listing,
            "tree": {rel: [f.size, f.mtime_ns, f.sha256] for rel, f in self.files.items()},
        }

    @classmethod
    def from_json(cls, meta: dict[str, object] | None) -> Partial | None:
        if meta is None:
            return None
        listing, tree = meta.get("listing"), meta.get("tree")
        if not isinstance(listing, dict) or not isinstance(tree, dict):
            return None
        try:
            files = {str(rel): CachedFile(*entry) for rel, entry in tree.items()}
        except TypeError:
            return None
        return cls({str(k): v if isinstance(v, int) else None for k, v in listing.items()}, files)

    def as_record(self) -> Record:
        return Record(self.files, (), 0.0)


@dataclass(frozen=True)
class Snapshot:
    """One cached model version."""

    path: Path
    registry_id: str
    name: str
    version: int

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.json")

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def partial_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.partial.json")

    def partial(self) -> Partial | None:
        """What partial downloads left (see :class:`Partial`), if any."""
        return Partial.from_json(read_json(self.partial_path))

    def record(self) -> Record | None:
        """The record of a complete snapshot; None while absent or being (re)filled."""
        meta = read_json(self.meta_path)
        return None if meta is None else Record.from_json(meta)

    def exists(self) -> bool:
        """Complete: its record is written last, after every file is in place."""
        return self.record() is not None

    def changed(self, record: Record) -> list[str]:
        """The files that are missing or no longer have their recorded size and time."""
        if os.stat not in os.supports_dir_fd:  # Windows
            base = f"{self.path}{os.sep}"
            return [rel for rel, want in record.files.items() if not _same(base + rel, want)]
        try:
            top = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return list(record.files)
        try:  # relative to the open directory: no path joining, no lookup from the root
            return [rel for rel, want in record.files.items() if not _same(rel, want, top)]
        finally:
            os.close(top)


def _same(path: str, want: CachedFile, dir_fd: int | None = None) -> bool:
    try:
        st = os.stat(path, dir_fd=dir_fd)
    except OSError:
        return False
    return st.st_size == want.size and st.st_mtime_ns == want.mtime_ns
