"""Local paths built from names a store or a registry chose, proven to stay inside a root.

Every local path federate derives from outside input (a listing entry under ``dst``, a
model name and version under the cache) goes through this module. The input is checked
as the raw string, before ``pathlib`` sees it: ``PurePosixPath("a//x")``,
``PurePosixPath("a/./x")`` and ``PurePosixPath("a/x")`` are one path, so object keys that
differ only in those would otherwise land in one local file, the last one written winning.

Refused: empty segments (``a//x``, a leading ``/``), ``.`` and ``..`` segments, NUL, and
segments holding this system's other path separator (``\\`` on Windows). Nothing is
normalised, so two different accepted paths are two different local files.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

# separators of this system besides '/', which a segment may not hold ('\\' on Windows)
_OTHER_SEPARATORS = tuple({os.sep, os.altsep or "/"} - {"/"})


def segment_problem(segment: str) -> str | None:
    """Why ``segment`` is not one safe path segment, or None if it is."""
    if segment == "":
        return "has an empty segment ('//', or a leading or trailing '/')"
    if segment in (".", ".."):
        return f"has a {segment!r} segment"
    if "\x00" in segment:
        return "contains a NUL character"
    if "/" in segment or any(sep in segment for sep in _OTHER_SEPARATORS):
        return "contains a path separator"
    return None


def safe_relpath(path: str, is_dir: bool = False) -> PurePosixPath:
    """A listing entry (``/``-separated, relative to the store's root) as a relative path
    that is inside the destination and names no other entry.

    Raises FederateError(INVALID_PARAMETER_VALUE) naming the entry otherwise. A directory
    entry may end in one ``/`` (S3 folder markers)."""
    raw = path[:-1] if is_dir and path.endswith("/") else path
    for segment in raw.split("/"):
        why = segment_problem(segment)
        if why is not None:
            raise FederateError(
                f"Refusing to download {path!r}: the store listed a path that {why}. Such a "
                "path would be written outside the destination or onto another entry's "
                "file; accepted are relative paths of non-empty segments other than '.' "
                "and '..'. Rename the object in the store.",
                INVALID_PARAMETER_VALUE,
            )
    return PurePosixPath(raw)


def path_under(root: Path, *segments: str) -> Path:
    """``root/segment/...``, each segment a single safe name (never ``..``, never a
    separator), so the result is provably inside ``root``.

    Raises FederateError(INVALID_PARAMETER_VALUE) naming the offending segment."""
    for segment in segments:
        why = segment_problem(segment)
        if why is not None:
            raise FederateError(
                f"Refusing to use {segment!r} as a name under {root}: as a path it {why}",
                INVALID_PARAMETER_VALUE,
            )
    return root.joinpath(*segments)
