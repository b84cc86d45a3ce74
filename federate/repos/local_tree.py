"""What a local directory holds, by the one rule both downloading from it and
``register``-ing it follow, so a stored version is exactly what a download of its source
gives:

- regular files and directories are taken;
- a symbolic link whose target is inside the root is followed, as the file or directory
  it points to (a directory link back to one of its own ancestors is a loop: refused);
- a link that leaves the root or points to nothing, and anything that is not a regular
  file or directory (a device such as ``/dev/zero``, a FIFO, a socket), is refused with
  an error naming it. Nothing is skipped silently.

Listings are bounded (:mod:`federate.repos.listing`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from federate.errors import INVALID_PARAMETER_VALUE, FederateError, from_os_error
from federate.repos.listing import ListingBudget


@dataclass(frozen=True)
class LocalEntry:
    """One entry: ``rel`` is its '/'-separated path below the root; ``path`` the local
    path to read it at; ``size`` is None for directories."""

    rel: str
    path: str
    is_dir: bool
    size: int | None


_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(path: str | os.PathLike[str], mode: int) -> FederateError:
    """The refusal of ``path``, whose ``st_mode`` says it is neither file nor directory."""
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return FederateError(
        f"Refusing {path}: it is {kind}, not a regular file or directory; federate reads and "
        "stores only regular files and directories (a device or pipe never ends)",
        INVALID_PARAMETER_VALUE,
    )


P = TypeVar("P", str, Path)


def check_regular_file(path: P) -> P:
    """``path`` if it is (or links to) a regular file; anything else is refused."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise from_os_error(err, "read", path) from err
    if not stat.S_ISREG(st.st_mode):
        raise not_regular(path, st.st_mode)
    return path


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _escapes(link: str, target: str, root: Path, why: str) -> FederateError:
    return FederateError(
        f"Refusing symbolic link {link} -> {target}: it {why}. federate follows links only "
        f"to files and directories inside {root}, so that a stored version and its download "
        "hold the same files; copy the target in or remove the link.",
        INVALID_PARAMETER_VALUE,
    )


def walk(root: Path, top: str = "", recursive: bool = True) -> list[LocalEntry]:
    """The entries below ``root/top`` (every level if ``recursive``), in no set order.

    Raises FederateError naming the first entry the rule refuses, or when the listing
    outgrows its bounds."""
    root_real = os.path.realpath(root)
    budget = ListingBudget(str(root))
    start = os.path.join(root, top) if top else str(root)
    prefix = f"{top.strip('/')}/" if top.strip("/") else ""
    out: list[LocalEntry] = []
    # (directory to read, its rel prefix, real paths of it and its ancestors)
    start_real = os.path.realpath(start)
    if not _inside(start_real, root_real):
        raise _escapes(start, start_real, root, f"leads outside {root}")
    stack: list[tuple[str, str, tuple[str, ...]]] = [(start, prefix, (root_real, start_real))]
    while stack:
        directory, rel, chain = stack.pop()
        budget.enter(rel.count("/"), directory)
        try:
            with os.scandir(directory) as entries:
                found = list(entries)
        except OSError as err:
            raise from_os_error(err, "list", getattr(err, "filename", None) or directory) from err
        budget.take(len(found))
        for entry in found:
            try:
                st, real = _resolve(entry, root, root_real, chain)
            except OSError as err:
                raise from_os_error(err, "list", entry.path) from err
            if stat.S_ISDIR(st.st_mode):
                out.append(LocalEntry(rel + entry.name, entry.path, True, None))
                if recursive:
                    stack.append((entry.path, f"{rel}{entry.name}/", (*chain, real)))
            elif stat.S_ISREG(st.st_mode):
                out.append(LocalEntry(rel + entry.name, entry.path, False, st.st_size))
            else:
                raise not_regular(entry.path, st.st_mode)
    return out


def _resolve(
    entry: os.DirEntry[str], root: Path, root_real: str, chain: tuple[str, ...]
) -> tuple[os.stat_result, str]:
    """What ``entry`` is (its stat, following an allowed link) and its real path."""
    if not entry.is_symlink():
        st = entry.stat(follow_symlinks=False)
        real = os.path.join(chain[-1], entry.name) if stat.S_ISDIR(st.st_mode) else entry.path
        return st, real
    target = os.readlink(entry.path)
    real = os.path.realpath(entry.path)
    if not _inside(real, root_real):
        raise _escapes(entry.path, target, root, f"leads outside {root}")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise _escapes(entry.path, target, root, "points to nothing") from None
    if stat.S_ISDIR(st.st_mode) and real in chain:
        raise _escapes(entry.path, target, root, "points back to a directory it is in (a loop)")
    return st, real
