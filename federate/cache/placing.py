"""How a cached file becomes a destination's file: by default a copy of its own.

Read-only bits do not stop root (the usual user in a container), so a destination that
shares storage with the cache lets one edit change the cache and every later download.
A destination's file is therefore a reflink where the filesystem has them (Btrfs, XFS,
APFS-like copy-on-write: instant, no extra space, and a write only changes the copy),
else a real copy (``copy_file_range``: in the kernel, server-side on NFS).
``FEDERATE_CACHE_LINK=hardlink`` opts into hard links (no time, no space, shared bytes:
an edit then damages the cache, which notices and fetches the version again).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

_FICLONE = 0x40049409  # linux/fs.h: share extents (a copy-on-write copy)
_MODES = ("copy", "hardlink")
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)
_NO_FAST_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP)


def link_mode() -> str:
    """``FEDERATE_CACHE_LINK``: ``copy`` (the default: reflink, else copy) or ``hardlink``."""
    raw = os.environ.get("FEDERATE_CACHE_LINK", "").strip().lower() or "copy"
    if raw not in _MODES:
        raise FederateError(
            f"FEDERATE_CACHE_LINK must be one of {', '.join(_MODES)}, got {raw!r}",
            INVALID_PARAMETER_VALUE,
        )
    return raw


def place(src: Path, dst: Path, mode: str | None = None) -> None:
    """``dst`` with ``src``'s bytes, as :func:`link_mode` says."""
    if (mode or link_mode()) == "hardlink":
        try:
            os.link(src, dst)
            return
        except OSError as err:
            if err.errno not in _NO_LINK:
                raise
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        copy_open(fd, dst, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def copy_open(src_fd: int, dst: Path, size: int) -> int:
    """Create ``dst`` (it must not exist) with the ``size`` bytes of the open ``src_fd``
    from its start; return how many were copied (fewer: the source shrank meanwhile)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    out = os.open(dst, flags, 0o666)
    try:
        if size and _reflink(src_fd, out):
            return size
        return _copy(src_fd, out, size)
    finally:
        os.close(out)


def _reflink(src_fd: int, out: int) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.ioctl(out, _FICLONE, src_fd)
        return True
    except OSError:
        return False


def _copy(src_fd: int, out: int, size: int) -> int:
    done = 0
    fast = hasattr(os, "copy_file_range")
    while done < size:
        if fast:
            try:
                n = os.copy_file_range(src_fd, out, size - done, done, done)
            except OSError as err:
                if done or err.errno not in _NO_FAST_COPY:
                    raise
                fast = False
                continue
        else:
            os.lseek(src_fd, done, os.SEEK_SET)
            block = os.read(src_fd, min(size - done, 1 << 20))
            n = len(block)
            view = memoryview(block)
            while view:
                view = view[os.write(out, view) :]
        if n == 0:
            break  # the source is shorter than it was: the caller decides
        done += n
    return done
