from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root.

    Directories count only through the files in them: object stores have no empty
    directories, so federate does not carry them across either.
    """
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def model_tree(tmp_path: Path) -> Path:
    """A nested model directory: empty file, empty dir, non-ASCII and spaced names, 5 MB file."""
    root = tmp_path / "src-model"
    (root / "data" / "nested deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "data" / "größe ünïcödé.json").write_text('{"k": "v"}', encoding="utf-8")
    (root / "data" / "nested deeper" / "weights.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    return root
