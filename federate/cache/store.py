"""Filling, serving and discarding snapshots: the part of the cache a download uses."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from federate.cache.layout import (
    CACHED_MTIME_NS,
    CachedFile,
    Partial,
    Record,
    Snapshot,
    SnapshotChanged,
    registry_id,
)
from federate.cache.placing import copy_open, link_mode
from federate.config import federate_home
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
    from_os_error,
    redact,
)
from federate.transfer.checksums import fd_digest
from federate.transfer.engine import check_destination, install_tree
from federate.transfer.paths import path_under
from federate.transfer.staging import read_json, write_json_atomically
from federate.uri import ModelRef

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_UNSHAREABLE = (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP)


class SnapshotStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else federate_home() / "cache"

    # -- where things are --------------------------------------------------------------

    def snapshot(self, registry_uri: str, name: str, version: int) -> Snapshot:
        rid = registry_id(registry_uri)
        path = path_under(self.root / "snapshots", rid, name, str(version))
        return Snapshot(path, rid, name, version)

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    def _ref_path(self, registry_uri: str, ref: ModelRef) -> Path:
        key = hashlib.sha256(str(ref).encode()).hexdigest()[:16]
        return self.root / "refs" / registry_id(registry_uri) / f"{key}.json"

    # -- refs: what an alias or stage meant when last online ---------------------------

    def remember(self, registry_uri: str, ref: ModelRef, name: str, version: int) -> None:
        path = self._ref_path(registry_uri, ref)
        known = read_json(path)
        if known is not None and known.get("version") == version and known.get("name") == name:
            return
        try:  # the first write of every online fetch: an unusable cache fails here
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomically(
                path, {"uri": str(ref), "name": name, "version": version, "at": time.time()}
            )
        except OSError as err:
            raise FederateError(
                f"Cannot write to the cache directory {self.root} ({err.strerror or err}); "
                "make it writable, or set FEDERATE_HOME to a directory federate can write "
                "(the cache is $FEDERATE_HOME/cache)",
                INVALID_PARAMETER_VALUE,
            ) from None
        self._note_registry(registry_uri)

    def recall(self, registry_uri: str, ref: ModelRef) -> Snapshot:
        """The version ``ref`` meant when last resolved online (FEDERATE_OFFLINE); whether
        it is cached is for the caller to check."""
        if ref.version is not None and ref.name is not None:
            return self.snapshot(registry_uri, ref.name, ref.version)
        known = read_json(self._ref_path(registry_uri, ref)) or {}
        name, version = known.get("name"), known.get("version")
        if not isinstance(name, str) or not isinstance(version, int):
            raise self.not_cached(str(ref), "it was never resolved online on this machine")
        return self.snapshot(registry_uri, name, version)

    def missing_offline(self, snap: Snapshot, ref: ModelRef, damaged: bool) -> FederateError:
        """The error for a version FEDERATE_OFFLINE cannot serve."""
        if damaged:
            why = "its cached files were changed after they were cached, so they were removed"
        elif snap.partial_path.exists():
            why = "only some of its files are cached, by downloads of a part of it"
        else:
            why = f"{snap.path} does not exist"
        return self.not_cached(f"{ref} (version {snap.version})", why)

    def not_cached(self, what: str, why: str) -> FederateError:
        return FederateError(
            f"FEDERATE_OFFLINE is set and {what} is not in the cache ({why}); download it "
            f"once with network access, or unset FEDERATE_OFFLINE. Cache: {self.root}",
            RESOURCE_DOES_NOT_EXIST,
        )

    def _note_registry(self, registry_uri: str) -> None:
        path = self.root / "registries.json"
        known = read_json(path) or {}
        rid = registry_id(registry_uri)
        if known.get(rid) != redact(registry_uri):
            known[rid] = redact(registry_uri)
            write_json_atomically(path, known)

    # -- locking ----------------------------------------------------------------------

    def _lock_file(self, snap: Snapshot) -> str:
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return str(locks / f"{snap.registry_id}-{snap.name}-{snap.version}.lock")

    @contextlib.contextmanager
    def lock(self, snap: Snapshot) -> Iterator[None]:
        """Held by whoever fills, repairs or removes ``snap``."""
        from filelock import FileLock

        with FileLock(self._lock_file(snap)):
            yield

    @contextlib.contextmanager
    def try_lock(self, snap: Snapshot) -> Iterator[bool]:
        """The lock if nobody holds it (yields True), else nothing (yields False)."""
        from filelock import FileLock, Timeout

        lock = FileLock(self._lock_file(snap), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    @contextlib.contextmanager
    def reading(self, snap: Snapshot) -> Iterator[None]:
        """Held while copying ``snap`` out: shared with other readers, excluding
        :meth:`lock` (prune then leaves the version alone, a repair waits). It only
        spares readers retries; their checks keep them correct without it (and where
        ``flock`` is missing, as on Windows or some network filesystems)."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        try:
            fd = os.open(self._lock_file(snap), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # a cache on a read-only mount: nobody prunes it either
            yield
            return
        try:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_SH)  # the same lock FileLock takes exclusively
            yield
        finally:
            os.close(fd)  # releases it

    # -- filling (under the lock) -----------------------------------------------------

    def adopt(
        self, snap: Snapshot, registry_uri: str, source: str, sha256: dict[str, str] | None = None
    ) -> Record:
        """Make the files a download just put at ``snap.path`` cached files (read-only,
        the fixed time, shared with equal content through ``blobs/``), then write the
        record: from then on the snapshot is complete.

        ``sha256``: digests the download took as the bytes landed (see
        :func:`federate.transfer.download`), by path relative to the snapshot; only files
        missing there are read again to hash them."""
        files: list[str] = []
        dirs: list[str] = []
        for dirpath, dirnames, names in os.walk(snap.path):
            rel = Path(dirpath).relative_to(snap.path)
            dirs.extend((rel / d).as_posix() for d in dirnames)
            files.extend((rel / n).as_posix() for n in names)  # scandir's types: no stat
        self.blobs.mkdir(parents=True, exist_ok=True)
        known = sha256 or {}

        def intern(rel: str) -> CachedFile:
            return self._intern(snap.path / rel, known.get(rel))

        from concurrent.futures import ThreadPoolExecutor  # not at import: short processes

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(files)))) as pool:
            cached = dict(zip(files, pool.map(intern, files), strict=True))
        record = Record(cached, tuple(sorted(dirs)), time.time())
        self._note_registry(registry_uri)
        write_json_atomically(
            snap.meta_path,
            {
                "registry": registry_uri and redact(registry_uri),
                "name": snap.name,
                "version": snap.version,
                "source": redact(source),
                "files": len(files),
                "bytes": sum(f.size for f in cached.values()),
                **record.to_json(),
            },
        )
        return record

    def _intern(self, path: Path, digest: str | None) -> CachedFile:
        """Make ``path`` a cached file: read-only, the fixed time, shared with its blob."""
        with open(path, "rb", buffering=0) as f:  # one open: hash, mode, size and time
            digest = digest or fd_digest(f, "sha256").hex()
            os.fchmod(f.fileno(), _READ_ONLY)
            before = os.fstat(f.fileno())
        os.utime(path, ns=(before.st_atime_ns, CACHED_MTIME_NS))
        self._share(path, digest, before.st_size)
        st = os.stat(path)
        return CachedFile(st.st_size, st.st_mtime_ns, digest)

    def add_partial(
        self,
        snap: Snapshot,
        fetched: Path,
        sha256: dict[str, str],
        listing: dict[str, int | None],
        earlier: Partial | None,
    ) -> Partial:
        """Move the files a partial download put under ``fetched`` (paths as in the
        version) into the snapshot directory as cached files, and write the version's
        partial record (the caller holds its lock). No complete record is written: the
        snapshot stays incomplete, and a full download fetches every file anew."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        files = dict(earlier.files) if earlier is not None else {}
        for dirpath, _dirs, names in os.walk(fetched):
            for name in names:
                rel = (Path(dirpath) / name).relative_to(fetched).as_posix()
                target = snap.path / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(dirpath) / name, target)
                files[rel] = self._intern(target, sha256.get(rel))
        partial = Partial(listing, files)
        write_json_atomically(snap.partial_path, partial.to_json())
        return partial

    def _share(self, path: Path, digest: str, size: int) -> None:
        """Store ``path`` as the blob of ``digest``, or become a link to that blob."""
        blob = self.blobs / digest
        for _ in range(5):  # prune may drop the blob between two steps: look again
            try:
                os.link(path, blob)  # first copy of this content: the snapshot's file is it
                return
            except FileExistsError:
                pass
            except OSError as err:
                if err.errno in _UNSHAREABLE:
                    return  # keep the file unshared
                raise
            try:
                st = os.stat(blob)
            except FileNotFoundError:
                continue
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
            if st.st_size != size or st.st_mtime_ns != CACHED_MTIME_NS:
                # the blob was written to since: this download's checked bytes replace it
                os.link(path, tmp)
                os.replace(tmp, blob)
                return
            try:
                os.link(blob, tmp)
            except FileNotFoundError:
                continue
            os.replace(tmp, path)  # same bytes already cached: share them
            return

    def discard(self, snap: Snapshot, suspects: Iterable[str] = ()) -> None:
        """Remove a snapshot (the caller holds its lock): its record first, so no reader
        takes it for complete any more, then its files. Blobs whose bytes changed under
        one of its files (a changed file, or one of ``suspects``) go too, so nothing
        else is served from them."""
        record = snap.record()
        if record is not None:
            for rel in {*snap.changed(record), *suspects}:
                want = record.files.get(rel)
                if want is not None:
                    self._drop_bad_blob(snap.path / rel, want)
        partial = snap.partial()
        if partial is not None:
            for rel in snap.changed(partial.as_record()):
                self._drop_bad_blob(snap.path / rel, partial.files[rel])
        snap.meta_path.unlink(missing_ok=True)
        snap.partial_path.unlink(missing_ok=True)
        shutil.rmtree(snap.path, ignore_errors=True)

    def _drop_bad_blob(self, file: Path, want: CachedFile) -> None:
        blob = self.blobs / want.sha256
        try:
            held = os.stat(blob)
        except OSError:
            return
        try:
            same = os.path.samestat(held, os.stat(file))
        except OSError:
            same = False
        if same or not want.matches(held):
            blob.unlink(missing_ok=True)

    # -- serving ----------------------------------------------------------------------

    def intact(self, snap: Snapshot) -> Record | None:
        """The record of ``snap`` if it is complete and none of its files changed."""
        record = snap.record()
        if record is None or snap.changed(record):
            return None
        return record

    def touch(self, snap: Snapshot) -> None:
        """Note a use (the record's modification time: no rewrite, so it cannot bring
        back a record that prune just removed)."""
        with contextlib.suppress(OSError):
            if time.time() - snap.meta_path.stat().st_mtime > 60:
                os.utime(snap.meta_path)

    def materialize(self, snap: Snapshot, record: Record, dst: Path, overwrite: bool) -> str:
        """Put the snapshot's files at ``dst`` (same rules as a download), atomically;
        the caller holds :meth:`reading` or :meth:`lock`.

        Each file is opened, checked against the record (size and time, on the open
        file) and copied from that open file; all of them are assembled beside ``dst``
        before one rename. A file gone or changed meanwhile (pruned, repaired, edited)
        raises :class:`SnapshotChanged` and leaves ``dst`` as it was."""
        dst = dst.expanduser().absolute()
        check_destination(dst, overwrite)
        mode = link_mode()
        staging = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.partial"
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for rel in record.dirs:  # sorted: parents first
                (staging / rel).mkdir(exist_ok=True)

            def copy(rel: str) -> None:
                _copy_checked(snap.path / rel, staging / rel, record.files[rel], mode)

            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(8, max(1, len(record.files)))) as pool:
                list(pool.map(copy, record.files))
            install_tree(staging, dst, overwrite)
        except OSError as err:
            raise from_os_error(err, "copy the cached files into", dst) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(dst)


def _copy_checked(src: Path, dst: Path, want: CachedFile, mode: str) -> None:
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SnapshotChanged(src) from None
    try:
        st = os.fstat(fd)
        if not want.matches(st):
            raise SnapshotChanged(src)
        if mode == "hardlink":
            try:
                os.link(src, dst)
            except FileNotFoundError:
                raise SnapshotChanged(src) from None
            except OSError as err:
                if err.errno not in _UNSHAREABLE:
                    raise
            else:
                if not os.path.samestat(os.lstat(dst), st):
                    raise SnapshotChanged(src)  # replaced between open and link
                return
        if copy_open(fd, dst, want.size) != want.size:
            raise SnapshotChanged(src)
    finally:
        os.close(fd)
