"""The main job on the embedded default: register a model directory, fetch it by alias.

Works in a throwaway $FEDERATE_HOME (a temporary directory: the embedded SQLite
registry, the local artifact store and the cache), removed at the end with the download,
so a run leaves nothing behind; no server to start. It registers ``iris``, points the
``champion`` alias at it, downloads ``models:/iris@champion`` and checks the bytes.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import federate
from federate.testing.trees import tree_digest

SOURCE = Path(__file__).parent / "iris"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="federate-quickstart-") as home:
        os.environ["FEDERATE_HOME"] = home
        os.environ.pop("FEDERATE_REGISTRY_URI", None)  # the embedded registry in home
        federate.set_registry_uri(None)
        run(Path(home))


def run(home: Path) -> None:
    mv = federate.register(SOURCE, "iris", alias="champion", tags={"example": "quickstart"})
    print(f"registered iris version {mv.version} in {federate.get_registry_uri()}")

    started = time.perf_counter()
    resolved = federate.resolve("models:/iris@champion")
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"models:/iris@champion -> version {resolved.version} ({elapsed_ms:.2f} ms)")

    dst = home / "downloaded" / "iris"
    path = federate.download("models:/iris@champion", dst)
    same = tree_digest(path) == tree_digest(SOURCE)
    print(f"downloaded to {path}: {'identical to the source' if same else 'DIFFERENT'}")
    for info in federate.list_artifacts("models:/iris@champion"):
        print(f"  {info.path}{'/' if info.is_dir else ''}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
