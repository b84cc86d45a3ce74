"""Compare directory trees the way a download's user does: same files, same bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_digest(root: str | os.PathLike[str]) -> dict[str, str]:
    """Relative '/'-separated path -> sha256 of every file under ``root``.

    Directories count only through the files in them: object stores have no empty
    directories, so federate does not carry them across either.
    """
    root = Path(root)
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out


def files_of(root: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every file under ``root`` by its relative POSIX path, with its bytes (to compare a
    download with what was stored)."""
    base = Path(root)
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def write_tree(root: str | os.PathLike[str], tree: dict[str, bytes]) -> Path:
    """Write ``tree`` (relative '/'-separated path -> bytes) under ``root``; ``root``."""
    base = Path(root)
    for rel, data in tree.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    base.mkdir(parents=True, exist_ok=True)
    return base
