"""The content digest of a model version's files: ``federate.source.digest``.

``sha256:`` followed by the hex SHA-256 of one line per file, sorted by path (code point
order), each ``<hex sha256 of the file's bytes>  <path>\\n`` in UTF-8, paths relative to
the version's root and ``/``-separated: the output of ``sha256sum`` over the files,
sorted by path, hashed. Two versions have the same digest exactly when they hold the
same paths with the same bytes; empty directories do not count (object stores have none).
A shell computes it with::

    find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum \\
        | sha256sum
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

PREFIX = "sha256:"
_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def tree_digest(file_hashes: Mapping[str, str]) -> str:
    """The digest of files given as {relative path: hex sha256}."""
    h = hashlib.sha256()
    for path in sorted(file_hashes):
        h.update(f"{file_hashes[path]}  {path}\n".encode())
    return PREFIX + h.hexdigest()


def directory_hashes(root: Path) -> dict[str, str]:
    """{relative path: hex sha256} of every regular file under ``root`` (links followed:
    ``root`` is a version's files as federate fetched them)."""
    if root.is_file():
        return {root.name: file_sha256(root)}
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in root.rglob("*") if p.is_file()}
