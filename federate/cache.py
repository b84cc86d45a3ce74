"""The content cache of model versions under ``$FEDERATE_HOME/cache``.

Layout, meant to be read by a person::

    cache/
      blobs/sha256/<hex>                    file contents, once each, read-only
      snapshots/<registry-id>/<name>/<v>/   a version's tree (hard links to blobs)
      snapshots/<registry-id>/<name>/<v>.json   what it is, its size, when last used
      refs/<registry-id>/<key>.json         "models:/m@champion" -> version, for offline use
      locks/                                one lock file per version being fetched
      registries.json                       registry id -> registry URI (no secrets)

A version is immutable, so a snapshot, once complete (its files appear by an atomic
rename, its ``.json`` is written after them), is served from disk forever after.
Copies into a destination are reflinks when the filesystem can, else hard links (blobs
are read-only, so an in-place edit of such a copy fails instead of corrupting the
cache), else plain copies.

Concurrent processes wanting the same version take a per-version file lock, and the
first does the network work while the others wait and then read its snapshot. Lock
files are an optimisation here, not a safety net: a snapshot only ever appears whole.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from federate.config import federate_home
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError, redact
from federate.transfer.checksums import fd_digest
from federate.transfer.engine import check_destination, install_tree
from federate.transfer.paths import path_under
from federate.transfer.staging import abandoned, last_activity, read_json, write_json_atomically
from federate.uri import ModelRef

_FICLONE = 0x40049409  # linux/fs.h: share extents (a copy-on-write copy)


def offline() -> bool:
    """``FEDERATE_OFFLINE=1``: serve from the cache only, never touch the network."""
    return os.environ.get("FEDERATE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def registry_id(registry_uri: str) -> str:
    return hashlib.sha256(registry_uri.encode()).hexdigest()[:12]


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

    def exists(self) -> bool:
        """Complete: its metadata is written last, after every file is in place."""
        return self.meta_path.exists() and self.path.is_dir()


class ModelCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else federate_home() / "cache"

    # -- where things are --------------------------------------------------------------

    def snapshot(self, registry_uri: str, name: str, version: int) -> Snapshot:
        rid = registry_id(registry_uri)
        path = path_under(self.root / "snapshots", rid, name, str(version))
        return Snapshot(path, rid, name, version)

    def _ref_path(self, registry_uri: str, ref: ModelRef) -> Path:
        key = hashlib.sha256(str(ref).encode()).hexdigest()[:16]
        return self.root / "refs" / registry_id(registry_uri) / f"{key}.json"

    # -- refs: what an alias or stage meant when last online ---------------------------

    def remember(self, registry_uri: str, ref: ModelRef, name: str, version: int) -> None:
        path = self._ref_path(registry_uri, ref)
        known = read_json(path)
        if known is not None and known.get("version") == version and known.get("name") == name:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(
            path, {"uri": str(ref), "name": name, "version": version, "at": time.time()}
        )
        self._note_registry(registry_uri)

    def recall(self, registry_uri: str, ref: ModelRef) -> Snapshot:
        """The cached version ``ref`` meant when last resolved online (FEDERATE_OFFLINE)."""
        if ref.version is not None and ref.name is not None:
            name, version = ref.name, ref.version
        else:
            known = read_json(self._ref_path(registry_uri, ref)) or {}
            found_name, found_version = known.get("name"), known.get("version")
            if not isinstance(found_name, str) or not isinstance(found_version, int):
                raise self._not_cached(str(ref), "it was never resolved online on this machine")
            name, version = found_name, found_version
        snap = self.snapshot(registry_uri, name, version)
        if not snap.exists():
            raise self._not_cached(f"{ref} (version {version})", f"{snap.path} does not exist")
        return snap

    def _not_cached(self, what: str, why: str) -> FederateError:
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

    # -- filling ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, snap: Snapshot) -> Iterator[None]:
        from filelock import FileLock

        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{snap.registry_id}-{snap.name}-{snap.version}.lock")):
            yield

    def adopt(
        self, snap: Snapshot, registry_uri: str, source: str, sha256: dict[str, str] | None = None
    ) -> None:
        """Move a freshly downloaded snapshot's files into blobs (shared by hard link).

        ``sha256``: digests the download took as the bytes landed (see
        :func:`federate.transfer.download`), by path relative to the snapshot; only files
        missing there are read again to hash them."""
        files = [
            Path(dirpath) / name
            for dirpath, _dirs, names in os.walk(snap.path)
            for name in names  # scandir's types: no stat per entry
        ]
        blobs = self.root / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        known = sha256 or {}
        read_only = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

        def intern(path: Path) -> int:
            digest = known.get(path.relative_to(snap.path).as_posix())
            if digest is not None:
                os.chmod(path, read_only)
                size = os.stat(path).st_size
            else:
                with open(path, "rb", buffering=0) as f:  # one open: hash, mode and size
                    digest = fd_digest(f, "sha256").hex()
                    os.fchmod(f.fileno(), read_only)
                    size = os.fstat(f.fileno()).st_size
            blob = blobs / digest
            try:
                os.link(path, blob)  # first copy of this content: the snapshot's file is it
            except FileExistsError:
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
                os.link(blob, tmp)
                os.replace(tmp, path)  # same bytes already cached: share them
            except OSError as err:
                if err.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV):
                    raise  # otherwise: keep the file unshared
            return size

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(files)))) as pool:
            size = sum(pool.map(intern, files))
        self._note_registry(registry_uri)
        write_json_atomically(
            snap.meta_path,
            {
                "registry": registry_uri and redact(registry_uri),
                "name": snap.name,
                "version": snap.version,
                "source": redact(source),
                "files": len(files),
                "bytes": size,
                "created": time.time(),
                "last_used": time.time(),
            },
        )

    def touch(self, snap: Snapshot) -> None:
        meta = read_json(snap.meta_path)
        if meta is not None and time.time() - _seconds(meta.get("last_used")) > 60:
            meta["last_used"] = time.time()
            with contextlib.suppress(OSError):
                write_json_atomically(snap.meta_path, meta)

    # -- serving ----------------------------------------------------------------------

    def materialize(self, snap: Snapshot, dst: Path, overwrite: bool) -> str:
        """Put the snapshot's files at ``dst`` (same rules as a download), atomically."""
        dst = dst.expanduser().absolute()
        check_destination(dst, overwrite)
        staging = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.partial"
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for dirpath, dirnames, filenames in os.walk(snap.path):
                rel = Path(dirpath).relative_to(snap.path)
                for d in dirnames:
                    (staging / rel / d).mkdir()
                for f in filenames:
                    place(Path(dirpath) / f, staging / rel / f)
            install_tree(staging, dst, overwrite)
        except OSError as err:
            from federate.errors import from_os_error

            raise from_os_error(err, "copy the cached files into", dst) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(dst)

    # -- housekeeping -----------------------------------------------------------------

    def entries(self) -> list[dict[str, object]]:
        """Every complete snapshot with its metadata, least recently used first."""
        out = []
        for meta_path in (self.root / "snapshots").glob("*/*/*.json"):
            meta = read_json(meta_path)
            path = meta_path.with_suffix("")
            if meta is None or not path.is_dir():
                continue
            out.append({**meta, "path": str(path)})
        out.sort(key=lambda m: _seconds(m.get("last_used")))
        return out

    def partials(self) -> list[dict[str, object]]:
        """Downloads into the cache that did not finish: ``name``, ``version``, ``path``,
        ``bytes``, ``idle`` (seconds since last worked in) and ``active`` (a live process
        owns it). An abandoned one is resumed by the next download of that version."""
        out = []
        now = time.time()
        for path in (self.root / "snapshots").glob("*/*/.*.partial"):
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

    def prune(self, older_than_s: float | None = None, max_bytes: int | None = None) -> list[str]:
        """Remove snapshots unused for ``older_than_s`` and then least recently used ones
        until the cache holds at most ``max_bytes``; then blobs nothing refers to.

        Abandoned partial downloads go first: those idle for ``older_than_s``, and all of
        them when the cache is over ``max_bytes`` (they only save a resume). A download
        a live process is working on is never touched."""
        removed: list[str] = []
        total = self.size()
        for part in self.partials():
            if part["active"]:
                continue
            idle = float(str(part["idle"]))
            if (older_than_s is not None and idle > older_than_s) or (
                max_bytes is not None and total > max_bytes
            ):
                path = Path(str(part["path"]))
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.relative_to(self.root / "snapshots").as_posix())
                total -= int(str(part["bytes"]))
        entries = self.entries()
        now = time.time()
        for meta in entries:
            used = _seconds(meta.get("last_used"))
            too_old = older_than_s is not None and now - used > older_than_s
            too_big = max_bytes is not None and total > max_bytes
            if not (too_old or too_big):
                continue
            path = Path(str(meta["path"]))
            shutil.rmtree(path, ignore_errors=True)
            path.with_name(f"{path.name}.json").unlink(missing_ok=True)
            removed.append(path.relative_to(self.root / "snapshots").as_posix())
            total = self.size() if max_bytes is not None else total
        self._drop_unreferenced_blobs()
        return removed

    def _drop_unreferenced_blobs(self) -> None:
        in_use = {p.stat().st_ino for p in (self.root / "snapshots").rglob("*") if p.is_file()}
        for blob in (self.root / "blobs").glob("*/*"):
            if blob.stat().st_ino not in in_use:
                blob.unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes the cache occupies (each file once, however many links it has)."""
        seen: dict[int, int] = {}
        for p in self.root.rglob("*"):
            with contextlib.suppress(OSError):
                st = p.lstat()
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


def _seconds(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def place(src: Path, dst: Path) -> None:
    """``dst`` with ``src``'s bytes: a reflink if possible, else a hard link, else a copy."""
    if _reflink(src, dst):
        return
    try:
        os.link(src, dst)
        return
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    shutil.copyfile(src, dst)


def _reflink(src: Path, dst: Path) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    with open(src, "rb") as s, open(dst, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
            return True
        except OSError:
            pass
    dst.unlink()
    return False


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
