"""Listing and trimming the cache: ``federate cache ls`` and ``federate cache prune``."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
import uuid
from pathlib import Path

from federate.cache.layout import Record, Snapshot
from federate.cache.store import SnapshotStore
from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.transfer import staging_index
from federate.transfer.staging import abandoned, last_activity, read_json


def snapshots_on_disk(store: SnapshotStore) -> list[Snapshot]:
    """Every version directory or record under ``snapshots/``, complete or not."""
    found: set[Snapshot] = set()
    for rid_dir in _subdirs(store.root / "snapshots"):
        for name_dir in _subdirs(rid_dir):
            for entry in _names(name_dir):
                version = entry.removesuffix(".json")
                if version.isdigit():
                    snap = Snapshot(name_dir / version, rid_dir.name, name_dir.name, int(version))
                    found.add(snap)
    return sorted(found, key=lambda s: (s.registry_id, s.name, s.version))


def _names(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _subdirs(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as it:
            return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def entries(store: SnapshotStore) -> list[dict[str, object]]:
    """Every complete snapshot with its metadata, least recently used first."""
    out = []
    for snap in snapshots_on_disk(store):
        meta = read_json(snap.meta_path)
        if meta is None or Record.from_json(meta) is None:
            continue
        with contextlib.suppress(OSError):
            used = snap.meta_path.stat().st_mtime
            summary = {k: v for k, v in meta.items() if k not in ("tree", "dirs")}
            out.append({**summary, "last_used": used, "path": str(snap.path)})
    out.sort(key=lambda m: float(str(m["last_used"])))
    return out


def partials(store: SnapshotStore) -> list[dict[str, object]]:
    """Downloads into the cache that did not finish: ``name``, ``version``, ``path``,
    ``bytes``, ``idle`` (seconds since last worked in) and ``active`` (a live process
    owns it). An abandoned one is resumed by the next download of that version."""
    out = []
    now = time.time()
    for path in (store.root / "snapshots").glob("*/*/.*.partial"):
        version = path.name[1:].split(".", 1)[0]
        out.append(
            {
                "name": path.parent.name,
                "version": version,
                "path": str(path),
                "bytes": _tree_bytes(path),
                "idle": max(0.0, now - last_activity(path)),
                "active": not abandoned(path),
            }
        )
    out.sort(key=lambda p: -float(str(p["idle"])))
    return out


def staging_elsewhere(store: SnapshotStore) -> list[dict[str, object]]:
    """Staging directories of downloads outside the cache (beside their destinations)
    that are still there: ``path``, ``destination``, ``bytes``, ``idle`` and ``active``,
    as in :func:`partials`. Found through :mod:`federate.transfer.staging_index`."""
    out = []
    now = time.time()
    inside = store.root.resolve()
    for found in staging_index.noted():
        path = Path(found["path"])
        if path.resolve().is_relative_to(inside):
            continue  # a fill of the cache: listed by partials()
        out.append(
            {
                "path": str(path),
                "destination": found["destination"],
                "bytes": _tree_bytes(path),
                "idle": max(0.0, now - last_activity(path)),
                "active": not abandoned(path),
            }
        )
    out.sort(key=lambda p: -float(str(p["idle"])))
    return out


def _remove_abandoned_staging(path: Path) -> bool:
    """Remove the staging directory at ``path`` if no live process owns it; True if done.

    It is renamed aside first, so a run starting now cannot adopt it half-deleted; if its
    owner turns out to be alive after all, it is put back."""
    if not staging_index.is_staging_dir(path) or not abandoned(path):
        return False
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.pruning")
    try:
        os.rename(path, aside)
    except OSError:
        return False
    if not abandoned(aside):  # adopted between the check and the rename: give it back
        with contextlib.suppress(OSError):
            os.rename(aside, path)
            return False
    shutil.rmtree(aside, ignore_errors=True)
    staging_index.forget(path)
    return True


def prune(
    store: SnapshotStore,
    older_than_s: float | None = None,
    max_bytes: int | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Remove snapshots unused for ``older_than_s`` and then least recently used ones
    until the cache holds at most ``max_bytes``; then blobs nothing refers to. Returns
    what was removed: paths under ``snapshots/``, and absolute paths of staging
    directories elsewhere. ``dry_run``: remove nothing, return what would go (a
    version whose lock is held now would in fact be kept).

    Abandoned partial downloads go first: those idle for ``older_than_s``, and all of
    them when the cache is over ``max_bytes`` (they only save a resume). Abandoned
    staging directories beside other destinations go when idle for ``older_than_s``,
    or whenever ``max_bytes`` is given. A download a live process is working on is
    never touched, nor a version whose lock another process holds (it is being filled
    or repaired). A snapshot goes record first, under its lock: readers see it whole
    or not at all (see :mod:`federate.cache`)."""
    removed: list[str] = []
    total = size(store)
    snapshots = store.root / "snapshots"
    for leftover in staging_elsewhere(store):
        idle = float(str(leftover["idle"]))
        if leftover["active"] or not (
            (older_than_s is not None and idle > older_than_s) or max_bytes is not None
        ):
            continue
        path = Path(str(leftover["path"]))
        if dry_run or _remove_abandoned_staging(path):
            removed.append(str(path))
    for part in partials(store):
        idle = float(str(part["idle"]))
        if part["active"] or not (
            (older_than_s is not None and idle > older_than_s)
            or (max_bytes is not None and total > max_bytes)
        ):
            continue
        path = Path(str(part["path"]))
        version = str(part["version"])
        if not version.isdigit():
            continue
        owner = Snapshot(
            path.parent / version, path.parent.parent.name, path.parent.name, int(version)
        )
        if not dry_run:
            with store.try_lock(owner) as mine:  # every fill into the cache holds it
                if not mine:
                    continue
                shutil.rmtree(path, ignore_errors=True)
        removed.append(path.relative_to(snapshots).as_posix())
        total -= int(str(part["bytes"]))
    now = time.time()
    for snap in snapshots_on_disk(store):
        if snap.record() is None:  # a fill that crashed before its record: nobody reads it
            if dry_run:
                if snap.path.exists():
                    removed.append(snap.path.relative_to(snapshots).as_posix())
                continue
            with store.try_lock(snap) as mine:
                if mine and snap.record() is None and snap.path.exists():
                    store.discard(snap)
                    removed.append(snap.path.relative_to(snapshots).as_posix())
    for meta in entries(store):
        too_old = older_than_s is not None and now - float(str(meta["last_used"])) > older_than_s
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        path = Path(str(meta["path"]))
        snap = Snapshot(path, path.parent.parent.name, path.parent.name, int(path.name))
        if dry_run:
            # an estimate: files shared with versions that stay free nothing
            removed.append(path.relative_to(snapshots).as_posix())
            total -= int(str(meta.get("bytes") or 0))
            continue
        with store.try_lock(snap) as mine:
            if not mine:
                continue  # being filled or repaired right now: in use
            store.discard(snap)
        removed.append(path.relative_to(snapshots).as_posix())
        total = size(store) if max_bytes is not None else total
    if not dry_run:
        drop_unreferenced_blobs(store)
    return removed


def drop_unreferenced_blobs(store: SnapshotStore) -> None:
    """Unlink blobs no file under ``snapshots/`` shares. Racing a fill is harmless: a
    blob only names bytes a snapshot's file holds, so at worst a later fill re-creates
    the name (and :meth:`SnapshotStore.adopt` retries a link to a blob that vanished)."""
    in_use: set[tuple[int, int]] = set()
    for dirpath, _dirs, names in os.walk(store.root / "snapshots"):
        for name in names:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                in_use.add((st.st_dev, st.st_ino))
    for kind in _subdirs(store.root / "blobs"):
        for name in _names(kind):
            with contextlib.suppress(OSError):
                st = os.lstat(kind / name)
                if (st.st_dev, st.st_ino) not in in_use:
                    os.unlink(kind / name)


def size(store: SnapshotStore) -> int:
    """Bytes the cache occupies (each file once, however many links it has)."""
    seen: dict[int, int] = {}
    for dirpath, _dirs, names in os.walk(store.root):
        for name in names:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    seen[st.st_ino] = st.st_size
    return sum(seen.values())


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def parse_duration(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"45m"``, ``"90s"`` or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise FederateError(
            f"Invalid duration {text!r}: use a number with s, m, h, d or w (e.g. 30d)",
            INVALID_PARAMETER_VALUE,
        ) from None
