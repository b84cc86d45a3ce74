"""The deep check, ``federate cache verify``: every cached byte read and hashed again.

Downloads only compare each file's size and time with its record (one ``stat``); a
change that keeps both (a bit flipped on disk, an edit with the time set back) is found
here. Every blob is hashed against its name and every snapshot file against the digest
recorded when it was cached; a file's bytes are read once however many names it has.
What is damaged is removed (a damaged snapshot under its lock, record first), so the
next download of that version fetches it again.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from federate.cache.housekeeping import snapshots_on_disk
from federate.cache.layout import Record, Snapshot
from federate.cache.store import SnapshotStore
from federate.transfer.checksums import fd_digest


@dataclass(frozen=True)
class Damage:
    """``what``: ``name/version`` of a snapshot, or ``blob``; ``file``: the file in the
    snapshot, or the blob's ``sha256/<hex>``; ``reason``: what differs."""

    what: str
    file: str
    reason: str


@dataclass
class VerifyReport:
    versions: int = 0
    files: int = 0
    blobs: int = 0
    damaged: list[Damage] = field(default_factory=list)


def verify(store: SnapshotStore) -> VerifyReport:
    report = VerifyReport()
    complete: list[tuple[Snapshot, Record]] = []
    for snap in snapshots_on_disk(store):
        record = snap.record()
        if record is not None:  # a fill in progress has none yet, and is left alone
            complete.append((snap, record))
    blobs = _names(store.blobs)
    digests = _hash_all(
        [store.blobs / b for b in blobs]
        + [snap.path / rel for snap, record in complete for rel in record.files]
    )

    for name in blobs:
        report.blobs += 1
        path = store.blobs / name
        found = digests.get(_key(path))
        if found is not None and found != name:
            report.damaged.append(Damage("blob", f"sha256/{name}", "bytes do not match the name"))
            _unlink_if_same(path, found, digests)

    for snap, record in complete:
        report.versions += 1
        bad: dict[str, str] = {}
        for rel, want in record.files.items():
            report.files += 1
            try:
                st = os.stat(snap.path / rel)
            except OSError:
                bad[rel] = "missing"
                continue
            if st.st_size != want.size:
                bad[rel] = f"{st.st_size} bytes, {want.size} when cached"
            elif st.st_mtime_ns != want.mtime_ns:
                bad[rel] = "modified after it was cached"
            elif digests.get((st.st_dev, st.st_ino), want.sha256) != want.sha256:
                bad[rel] = "sha256 differs from when it was cached"
        if not bad:
            continue
        report.damaged.extend(Damage(snap.label, rel, why) for rel, why in sorted(bad.items()))
        with store.lock(snap):
            again = snap.record()
            if again is not None and again.created == record.created:  # not refilled since
                store.discard(snap, bad)
    return report


def _names(path: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if not n.startswith("."))
    except OSError:
        return []


def _key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _hash_all(paths: list[Path]) -> dict[tuple[int, int] | None, str]:
    """SHA-256 (hex) of each distinct file among ``paths``, by (device, inode)."""
    todo: dict[tuple[int, int], Path] = {}
    for path in paths:
        key = _key(path)
        if key is not None:
            todo.setdefault(key, path)

    def digest(path: Path) -> str | None:
        try:
            with open(path, "rb", buffering=0) as f:
                return fd_digest(f, "sha256").hex()
        except OSError:
            return None  # removed meanwhile (pruned): nothing to judge

    out: dict[tuple[int, int] | None, str] = {}
    with ThreadPoolExecutor(max_workers=min(4, max(1, len(todo)))) as pool:
        for key, found in zip(todo, pool.map(digest, todo.values()), strict=True):
            if found is not None:
                out[key] = found
    return out


def _unlink_if_same(path: Path, found: str, digests: dict[tuple[int, int] | None, str]) -> None:
    """Remove the blob at ``path`` unless a fill replaced it with other bytes meanwhile."""
    with contextlib.suppress(OSError):
        if digests.get(_key(path)) == found:
            os.unlink(path)
