"""The download engine every repository feeds.

It knows neither registries nor clouds: it lists a repository, fetches files on a
bounded pool of threads into a staging directory beside the destination, checks each
file's size, and only then moves the result into place. A failed download leaves the
destination as it was and removes what it staged.

Destination rules: a missing or empty ``dst`` is filled; a non-empty ``dst`` is
refused with RESOURCE_ALREADY_EXISTS unless ``overwrite=True``, which replaces it
whole (old files are never mixed with new ones).
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath

from federate.entities import FileInfo
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    FederateError,
    from_os_error,
)
from federate.repos.base import ArtifactRepository


def max_workers() -> int:
    raw = os.environ.get("FEDERATE_MAX_WORKERS")
    if raw:
        try:
            value = int(raw)
            if value >= 1:
                return value
        except ValueError:
            pass
        raise FederateError(
            f"FEDERATE_MAX_WORKERS must be a positive integer, got {raw!r}", INVALID_PARAMETER_VALUE
        )
    return min(16, 4 * (os.cpu_count() or 1))


def safe_relpath(path: str) -> PurePosixPath:
    """A listing entry as a relative path that cannot escape the destination."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts) or not rel.parts:
        raise FederateError(
            f"Refusing to write {path!r}: the store listed a path outside the destination",
            INVALID_PARAMETER_VALUE,
        )
    return rel


def _is_nonempty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is not None
    except (NotADirectoryError, FileNotFoundError):
        return False


def _fetch(repo: ArtifactRepository, info: FileInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    repo.download_file(info.path, str(target), info.file_size)
    if info.file_size is not None:
        got = target.stat().st_size
        if got != info.file_size:
            raise FederateError(
                f"{info.path}: received {got} bytes, the store lists {info.file_size}",
                INTERNAL_ERROR,
            )


def download(
    repo: ArtifactRepository, dst: str | os.PathLike[str], *, overwrite: bool = False
) -> str:
    """Copy everything under the repository's root into ``dst``; return the local path.

    A repository rooted at a single file yields that file: at ``dst`` itself, or at
    ``dst/<name>`` when ``dst`` is an existing directory.
    """
    dst = Path(dst).expanduser().absolute()
    root = repo.stat("")
    if not root.is_dir:
        return _download_file(repo, root, dst, overwrite)
    if dst.exists() and not dst.is_dir():
        raise FederateError(
            f"Destination {dst} is a file, but the source is a directory", INVALID_PARAMETER_VALUE
        )
    if not overwrite and _is_nonempty_dir(dst):
        raise _not_empty(dst)
    entries = repo.list("", recursive=True)
    staging = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        files = []
        for info in entries:
            rel = safe_relpath(info.path)
            if info.is_dir:
                (staging / rel).mkdir(parents=True, exist_ok=True)
            else:
                files.append((info, staging / rel))
        _run_parallel(repo, files)
        _install(staging, dst, overwrite)
    except OSError as err:
        raise from_os_error(err, "download into", dst) from err
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(dst)


def _run_parallel(repo: ArtifactRepository, files: list[tuple[FileInfo, Path]]) -> None:
    if len(files) <= 1:
        for info, target in files:
            _fetch(repo, info, target)
        return
    with ThreadPoolExecutor(max_workers=min(max_workers(), len(files))) as pool:
        futures = [pool.submit(_fetch, repo, info, target) for info, target in files]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            future.result()  # re-raise the first failure


def _not_empty(dst: Path) -> FederateError:
    return FederateError(
        f"Destination {dst} exists and is not empty; federate never mixes new files into old "
        "ones. Pass an empty or new directory, or overwrite=True (--overwrite) to replace it.",
        RESOURCE_ALREADY_EXISTS,
    )


def _install(staging: Path, dst: Path, overwrite: bool) -> None:
    """Move the finished tree into place. Readers see the old tree or the new, never a mix."""
    try:
        os.rename(staging, dst)  # succeeds when dst is missing or an empty directory
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not overwrite:
        raise _not_empty(dst)
    trash = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.old"
    os.rename(dst, trash)
    try:
        os.rename(staging, dst)
    except OSError:
        os.rename(trash, dst)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _download_file(repo: ArtifactRepository, info: FileInfo, dst: Path, overwrite: bool) -> str:
    name = PurePosixPath(repo.root.rstrip("/").split("?", 1)[0]).name or "artifact"
    target = dst / name if dst.is_dir() else dst
    if target.exists() and not overwrite:
        raise FederateError(
            f"Destination {target} exists; pass overwrite=True (--overwrite) to replace it",
            RESOURCE_ALREADY_EXISTS,
        )
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch(repo, FileInfo("", False, info.file_size), partial)
        os.replace(partial, target)
    except OSError as err:
        raise from_os_error(err, "download into", target) from err
    finally:
        partial.unlink(missing_ok=True)
    return str(target)
