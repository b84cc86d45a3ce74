"""Serving a registry version from the model cache: fetched once, then read from disk.

:func:`serve_version` gives a whole version (the snapshot's path, or its files copied to
a destination), :func:`serve_part` the files a selection picks (``path=``,
``include=``, ``exclude=``), fetching only those. Both check what they serve under the
version's lock (see :mod:`federate.cache` for the design) and fetch again what a crash,
``cache prune`` or an edit damaged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
from pathlib import Path

from federate import transfer
from federate.cache import ModelCache, Record, Snapshot, SnapshotChanged, offline
from federate.config import RegistryConfig
from federate.entities import FileInfo, ModelVersion
from federate.plugins.manager import get_plugin_host
from federate.registries import open_registry, repo_for_version
from federate.registry.base import Registry
from federate.transfer.progress import ProgressArg, report_served
from federate.transfer.selection import Selection
from federate.uri import ModelRef

#: how often a download serves a snapshot that changes under it before giving up
SERVE_ATTEMPTS = 3


def _locate(
    cache: ModelCache, config: RegistryConfig, ref: ModelRef, cache_only: bool
) -> tuple[Snapshot, Registry, ModelVersion]:
    """The snapshot ``ref`` means, with the registry and version when online (offline:
    what it meant when last resolved; the registry and version are then never used).
    The cache knows the registry by its plugin's key: the URI, or the workspace it
    reaches (see :class:`~federate.plugins.types.RegistryPlugin`)."""
    key = get_plugin_host().cache_key(config)
    if cache_only:
        return cache.recall(key, ref), None, None  # type: ignore[return-value]
    registry = open_registry(config)
    mv = registry.resolve(ref)
    cache.remember(key, ref, mv.name, mv.version)
    return cache.snapshot(key, mv.name, mv.version), registry, mv


def serve_version(
    ref: ModelRef,
    config: RegistryConfig,
    progress: ProgressArg,
    target: Path | None,
    overwrite: bool,
) -> str:
    """Serve the version ``ref`` means from the cache: the snapshot's path, or its files
    copied to ``target``; fetched first if missing, incomplete or damaged.

    Whatever is served is checked and used under the version's lock, shared while it
    is only read, so prune or a repair never removes it meanwhile (see
    :mod:`federate.cache`)."""
    cache = ModelCache()
    key = get_plugin_host().cache_key(config)  # the URI, or the workspace it reaches
    cache_only = offline()
    snap, registry, mv = _locate(cache, config, ref, cache_only)

    def serve(record: Record, fetched: bool = False) -> str:
        cache.touch(snap)
        if target is None:
            path = str(snap.path)
        else:
            path = cache.materialize(snap, record, target, overwrite)
        if not fetched:  # a fill sent its own final event
            report_served(progress, [f.size for f in record.files.values()])
        return path

    with cache.reading(snap):
        record = cache.intact(snap)  # one stat per file
        if record is not None:
            return serve(record)
    with cache.lock(snap):
        if cache.intact(snap) is None:
            damaged = snap.record() is not None
            if cache_only:
                if damaged:
                    cache.discard(snap)  # bad blobs with it
                raise cache.missing_offline(snap, ref, damaged)
            cache.discard(snap)  # what a crash, prune, damage or partial downloads left
            # served before the lock is released, so nothing removes it meanwhile
            return serve(_fill(cache, snap, registry, mv, key, progress), fetched=True)
    with cache.reading(snap):  # another process filled it while we waited: read it
        record = cache.intact(snap)  # with the other readers, not one at a time
        if record is not None:
            return serve(record)
    raise SnapshotChanged(snap.path)  # removed again in between: the caller tries again


def _fill(
    cache: ModelCache,
    snap: Snapshot,
    registry: Registry,
    mv: ModelVersion,
    registry_uri: str,
    progress: ProgressArg,
) -> Record:
    """Download the version into the cache (the caller holds its lock)."""
    repo = repo_for_version(registry, mv)
    snap.path.mkdir(parents=True, exist_ok=True)  # a file-rooted version lands inside
    sha256: dict[str, str] = {}  # blob names, taken while the bytes land
    try:
        transfer.download(repo, snap.path, overwrite=True, progress=progress, sha256=sha256)
    except BaseException:
        with contextlib.suppress(OSError):
            snap.path.rmdir()  # nothing came: leave no empty version behind
        raise
    return cache.adopt(snap, registry_uri, repo.root, sha256)


def serve_part(
    ref: ModelRef,
    config: RegistryConfig,
    selection: Selection,
    progress: ProgressArg,
    target: Path | None,
    overwrite: bool,
) -> str:
    """Serve the files of the version ``ref`` means that ``selection`` takes: from its
    complete snapshot if cached, else from what partial downloads cached, else fetched
    (only those files) into the snapshot directory without completing it."""
    cache = ModelCache()
    cache_only = offline()
    snap, registry, mv = _locate(cache, config, ref, cache_only)
    label = f"{ref} (version {snap.version})"

    def pick(sizes: dict[str, int | None]) -> list[str]:
        listing = [FileInfo(rel, False, size) for rel, size in sizes.items()]
        return [info.path for info in selection.pick(listing, label)]

    def serve(record: Record, rels: list[str]) -> str:
        one = selection.one_file(rels)
        cache.touch(snap)
        if target is None:
            return str(snap.path / one if one is not None else snap.path)
        cache.materialize(snap, record.subset(rels), target, overwrite)
        return str(target / one if one is not None else target)

    def cached() -> str | None:
        record = cache.intact(snap)
        if record is not None:
            return serve(record, pick({rel: f.size for rel, f in record.files.items()}))
        partial = snap.partial()
        if partial is None:
            return None
        rels = pick(partial.listing)
        have = partial.as_record()
        if all(rel in have.files for rel in rels) and not snap.changed(have.subset(rels)):
            return serve(have, rels)
        return None

    with cache.reading(snap):
        served = cached()
        if served is not None:
            return served
    if cache_only:
        raise cache.not_cached(
            f"every file of {label} that {selection.describe()} selects",
            "a download of the whole version, or of these files, puts them there",
        )
    with cache.lock(snap):
        served = cached()
        if served is not None:
            return served
        partial = snap.partial()
        if partial is None:
            cache.discard(snap)  # what a crashed fill left
        else:
            gone = set(snap.changed(partial.as_record()))
            partial = dataclasses.replace(
                partial, files={k: v for k, v in partial.files.items() if k not in gone}
            )
        listing: dict[str, int | None] = {}

        def choose(entries: list[FileInfo]) -> list[FileInfo]:
            listing.update({e.path: e.file_size for e in entries if not e.is_dir})
            picked = selection.pick(entries, label)
            return [e for e in picked if partial is None or e.path not in partial.files]

        repo = repo_for_version(registry, mv)
        digest = hashlib.sha256(f"{snap.registry_id}/{snap.name}/{snap.version}".encode())
        fetched = cache.root / "picks" / digest.hexdigest()[:16]
        sha256: dict[str, str] = {}
        try:
            transfer.download(
                repo, fetched, overwrite=True, progress=progress, sha256=sha256, select=choose
            )
            partial = cache.add_partial(snap, fetched, sha256, listing, partial)
        finally:
            shutil.rmtree(fetched, ignore_errors=True)
        return serve(partial.as_record(), pick(listing))
