"""The main job on the embedded default: register a model directory, fetch it by alias.

Uses the SQLite registry and local artifact store under $FEDERATE_HOME (default
~/.federate); no server to start. Each run registers a new version of ``iris``, moves
the ``champion`` alias to it, downloads ``models:/iris@champion`` into a fresh
directory and checks the bytes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import federate
from federate.testing.trees import tree_digest

SOURCE = Path(__file__).parent / "iris"


def main() -> None:
    mv = federate.register(SOURCE, "iris", alias="champion", tags={"example": "quickstart"})
    print(f"registered iris version {mv.version} in {federate.get_registry_uri()}")

    started = time.perf_counter()
    resolved = federate.resolve("models:/iris@champion")
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"models:/iris@champion -> version {resolved.version} ({elapsed_ms:.2f} ms)")

    dst = Path(tempfile.mkdtemp(prefix="federate-quickstart-")) / "iris"
    path = federate.download("models:/iris@champion", dst)
    same = tree_digest(path) == tree_digest(SOURCE)
    print(f"downloaded to {path}: {'identical to the source' if same else 'DIFFERENT'}")
    for info in federate.list_artifacts("models:/iris@champion"):
        print(f"  {info.path}{'/' if info.is_dir else ''}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
