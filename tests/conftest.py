from __future__ import annotations

import os
from pathlib import Path

import pytest


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
