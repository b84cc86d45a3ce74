"""Where a download is assembled: a directory beside ``dst``, kept across runs for resume.

``.<dst name>.<source key>.partial/`` holds ``tree/`` (the files being assembled, a
partial file named ``<file>.incomplete``), ``records/`` (one record of finished ranges per
file, see :mod:`federate.transfer.resume`) and ``owner.json``, naming the process that
works in it. The name is the same on every run for the same source and destination, so
an interrupted download is found again; whether it is *taken over* is decided here.

File locks are not trusted (on NFS and Lustre ``flock`` can succeed in two processes at
once: why huggingface_hub dropped cross-run resume). Instead a run adopts an existing
staging directory only when its owner is provably gone: a process of this host that no
longer exists, or an owner on another host silent for :data:`STALE_AFTER_S`. A live owner
is left alone and this run works in a private directory of its own. Records carry the
owner's token, so a run only reuses ranges written under the owner it replaced, and every
reused range is checked again before the result is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from federate.errors import redact
from federate.transfer import staging_index

#: an owner on another host that has not written for this long is considered gone
STALE_AFTER_S = 120.0
HEARTBEAT_S = 5.0


def write_json_atomically(path: Path, data: dict[str, object], durable: bool = True) -> None:
    """Write ``data`` so readers see the old file or the whole new one; ``durable`` also
    survives a crash of the machine (an fsync: milliseconds, more on a busy disk)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    body = json.dumps(data, sort_keys=True).encode()
    with open(tmp, "wb") as f:
        f.write(body)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, object] | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(owner: dict[str, object] | None) -> bool:
    if owner is None or owner.get("released") is True:
        return True  # unreadable, missing or handed back: nobody relies on it
    pid, host, beat = owner.get("pid"), owner.get("host"), owner.get("heartbeat")
    if host == socket.gethostname() and isinstance(pid, int):
        return pid != os.getpid() and not pid_alive(pid)
    return not isinstance(beat, (int, float)) or time.time() - beat > STALE_AFTER_S


def abandoned(path: Path) -> bool:
    """Whether the staging directory at ``path`` has no live owner (interrupted, killed,
    or handed back): only such a directory may be removed by anyone but its owner."""
    return _owner_gone(read_json(path / "owner.json"))


def last_activity(path: Path) -> float:
    """When the staging directory at ``path`` was last worked in (its owner's heartbeat,
    else the directory's own time)."""
    beat = (read_json(path / "owner.json") or {}).get("heartbeat")
    if isinstance(beat, (int, float)):
        return float(beat)
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class Staging:
    """One run's staging directory: fresh, or adopted from a run that is gone."""

    def __init__(
        self,
        path: Path,
        token: str,
        previous_owner: str | None,
        resumable: bool = True,
        fresh: bool = True,
    ) -> None:
        self.path = path
        self.token = token
        #: False for a private directory (the shared one was busy): no run would find it
        self.resumable = resumable
        #: token of the run this one took over; its records may be reused
        self.previous_owner = previous_owner
        #: created by this run: nothing in it yet, so no leftovers to clear before writing
        self.fresh = fresh
        self.tree = path / "tree"
        self.records = path / "records"
        self._last_beat = 0.0

    @classmethod
    def open(cls, dst: Path, source: str) -> Staging:
        """The staging directory for downloading ``source`` into ``dst``."""
        key = hashlib.sha256(redact(source).encode()).hexdigest()[:12]
        path = dst.parent / f".{dst.name}.{key}.partial"
        token = uuid.uuid4().hex
        dst.parent.mkdir(parents=True, exist_ok=True)
        previous: str | None = None
        resumable = fresh = True
        try:
            path.mkdir()
        except FileExistsError:
            owner = read_json(path / "owner.json")
            if not _owner_gone(owner):
                # someone is working there now: never share files with a live writer
                path = dst.parent / f".{dst.name}.{key}.{token[:8]}.partial"
                path.mkdir()
                resumable = False
            else:
                fresh = False
                if owner is not None and isinstance(owner.get("token"), str):
                    previous = str(owner["token"])
        staging = cls(path, token, previous, resumable, fresh)
        staging.heartbeat(force=True)
        if fresh:
            staging_index.note(path, dst)  # found again by ``federate cache ls|prune``
        staging.tree.mkdir(exist_ok=True)
        staging.records.mkdir(exist_ok=True)
        return staging

    def heartbeat(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_S:
            return
        self._last_beat = now
        # not fsynced: an owner file lost with the machine reads as "owner gone", and then
        # no record is adopted (records name the owner they were written under)
        write_json_atomically(
            self.path / "owner.json",
            {
                "token": self.token,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "heartbeat": now,
            },
            durable=False,
        )

    def still_ours(self) -> bool:
        owner = read_json(self.path / "owner.json")
        return owner is not None and owner.get("token") == self.token

    def record_path(self, rel: str) -> Path:
        return self.records / f"{hashlib.sha256(rel.encode()).hexdigest()[:32]}.json"

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        staging_index.forget(self.path)

    def release(self) -> None:
        """Hand the directory to the next run (this one was interrupted or ran out of retries)."""
        if not self.resumable:
            self.remove()
            return
        with contextlib.suppress(OSError):
            write_json_atomically(self.path / "owner.json", {"token": self.token, "released": True})
