"""Where staging directories were made, so ``federate cache ls|prune`` can find the
abandoned ones beside destinations the cache knows nothing about.

:class:`~federate.transfer.staging.Staging` notes each directory it creates as one small
file under ``$FEDERATE_HOME/staging/`` (not fsynced: a note lost with the machine only
hides a leftover) and forgets it when the directory is removed. A directory kept for a
resume keeps its note. Notes are hints, never trusted: only a directory whose name is a
staging directory's, that is not a link, and that no live process owns is ever removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from pathlib import Path

from federate.config import federate_home

#: ``.<dst name>.<source key>[.<private>].partial``, as Staging.open names them
_STAGING_NAME = re.compile(r"\..+\.[0-9a-f]{12}(\.[0-9a-f]{8})?\.partial")


def _notes_dir() -> Path:
    return federate_home() / "staging"


def _note_path(path: Path) -> Path:
    return _notes_dir() / f"{hashlib.sha256(str(path).encode()).hexdigest()[:24]}.json"


def note(path: Path, dst: Path) -> None:
    """Remember that the staging directory ``path`` holds a download into ``dst``."""
    with contextlib.suppress(OSError):  # a hint: never a reason for a download to fail
        _notes_dir().mkdir(parents=True, exist_ok=True)
        target = _note_path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps({"path": str(path), "destination": str(dst)}))
        os.replace(tmp, target)


def forget(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_note_path(path))


def is_staging_dir(path: Path) -> bool:
    """Whether ``path`` is a real directory named as a staging directory is."""
    return (
        _STAGING_NAME.fullmatch(path.name) is not None
        and path.is_dir()
        and not path.is_symlink()
        and (path / "owner.json").is_file()
    )


def noted() -> list[dict[str, str]]:
    """The staging directories still there: ``path`` and ``destination``. Notes of
    directories that are gone (or were never staging directories) are dropped."""
    out = []
    try:
        names = sorted(os.listdir(_notes_dir()))
    except OSError:
        return []
    for name in names:
        try:
            data = json.loads((_notes_dir() / name).read_text())
        except (OSError, ValueError):
            data = None
        path = Path(str(data.get("path", ""))) if isinstance(data, dict) else Path()
        if not isinstance(data, dict) or not path.is_absolute() or not is_staging_dir(path):
            with contextlib.suppress(OSError):
                os.unlink(_notes_dir() / name)
            continue
        out.append({"path": str(path), "destination": str(data.get("destination", ""))})
    return out
