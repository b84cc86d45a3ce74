"""The download: list, plan, fetch on one bounded pool, verify, install atomically.

It knows neither registries nor clouds. Files are assembled in a staging directory
beside the destination (:mod:`federate.transfer.staging`) and only a complete, verified
result is renamed into place, so a reader of ``dst`` sees the old content or the new,
never a mix or a partial file.

Destination rules: ``dst`` is a directory. A missing or empty one is filled; a
non-empty one is refused with RESOURCE_ALREADY_EXISTS unless ``overwrite=True``, which
replaces it whole. A source that is one file lands at ``dst/<name>`` (refused if that
exists, unless ``overwrite``). A destination that cannot be created or written is
refused before anything is fetched.

When a download fails, its staging directory is removed, except when it was interrupted
(Ctrl-C) or the store stayed unreachable through the retry budget: then it is kept and
the next run for the same source and destination fetches only what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from federate.entities import FileInfo
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    from_os_error,
)
from federate.repos.base import ArtifactRepository
from federate.transfer.batch import lane_tasks
from federate.transfer.fetch import FileJob, Task
from federate.transfer.paths import safe_relpath
from federate.transfer.progress import Progress, ProgressArg
from federate.transfer.retry import Cancelled, with_retries
from federate.transfer.settings import TransferSettings
from federate.transfer.staging import Staging


def _is_nonempty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is not None
    except (NotADirectoryError, FileNotFoundError):
        return False


def _not_empty(dst: Path) -> FederateError:
    return FederateError(
        f"Destination {dst} exists and is not empty; federate never mixes new files into old "
        "ones. Pass an empty or new directory, or overwrite=True (--overwrite) to replace it.",
        RESOURCE_ALREADY_EXISTS,
    )


def check_destination(dst: Path, overwrite: bool) -> None:
    """Refuse a file where the directory goes, a non-empty one unless ``overwrite``, and
    one that cannot be created or written: checks to make before fetching anything."""
    check_directory(dst)
    if not overwrite and _is_nonempty_dir(dst):
        raise _not_empty(dst)


def check_directory(dst: Path) -> None:
    """Refuse a ``dst`` that is a file or cannot be created or written, whatever the
    source is (a single file lands inside ``dst``)."""
    if dst.exists() and not dst.is_dir():
        raise FederateError(
            f"Destination {dst} is a file; the destination is a directory (a single file "
            "source lands inside it)",
            INVALID_PARAMETER_VALUE,
        )
    _check_creatable(dst)


def _check_creatable(dst: Path) -> None:
    """The nearest existing directory above ``dst`` must be one, and writable: the
    download is assembled beside ``dst`` and renamed into place."""
    above = dst.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise FederateError(
            f"Cannot download into {dst}: {above} is a file, not a directory",
            INVALID_PARAMETER_VALUE,
        )
    if not os.access(above, os.W_OK | os.X_OK):
        raise FederateError(
            f"Cannot download into {dst}: {above} is not writable", PERMISSION_DENIED
        )


#: attribute set on the KeyboardInterrupt (or SystemExit) that stopped a download: the
#: staging directory whose partial files the next run for the same source and dst resumes
RESUMABLE_AT = "federate_resumable_at"


def source_name(root: str) -> str:
    """The name a single-file source gets in the destination directory."""
    name = root.rstrip("/").split("?", 1)[0].rpartition("/")[2] or "artifact"
    safe_relpath(name)  # "..", say: never a name outside dst
    return name


def _exists_error(target: Path) -> FederateError:
    return FederateError(
        f"Destination {target} exists; pass overwrite=True (--overwrite) to replace it",
        RESOURCE_ALREADY_EXISTS,
    )


def download(
    repo: ArtifactRepository,
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    settings: TransferSettings | None = None,
    progress: ProgressArg = False,
    sha256: dict[str, str] | None = None,
    select: Callable[[list[FileInfo]], list[FileInfo]] | None = None,
) -> str:
    """Copy everything under the repository's root into ``dst``; return the local path.

    A repository rooted at a single file yields that file at ``dst/<name>``, and its
    path is returned. ``progress``: see
    :mod:`federate.transfer.progress`. ``sha256``: a dict to fill with the SHA-256 (hex)
    of the files, by path relative to ``dst`` (a single file: by its name), taken in the
    same pass that checks the bytes; files a resumed run found finished are left out.
    ``select``: receives the listing (a single-file source: one entry, its name) and
    returns the files to fetch; only those are requested, at ``dst/<path>``, and no
    empty directory is made. When it returns none, nothing is fetched or created.
    """
    settings = settings or TransferSettings.from_env()
    dst = Path(dst).expanduser().absolute()
    check_directory(dst)  # before the first request
    # list first: a model is a directory nearly always, and a listing with entries proves
    # it is one (as MLflow decides); only an empty listing needs a stat (a single file, an
    # empty directory, or nothing). Most stores need two requests to stat a directory.
    listing = with_retries(repo, settings, "Listing the source", lambda: repo.list("", True))
    if not listing:
        root = with_retries(repo, settings, "Looking up the source", lambda: repo.stat(""))
        if not root.is_dir:
            name = source_name(repo.root)
            target = dst / name  # dst may hold other files
            if target.exists() and not overwrite:
                raise _exists_error(target)
            single = FileInfo("", False, root.file_size, root.checksum, root.etag)
            if select is not None and not select([dataclasses.replace(single, path=name)]):
                return str(target)
            one = [(single, PurePosixPath(name))]
            made = not dst.exists()
            try:
                _run(repo, target, one, [], settings, progress, overwrite, sha256)
            except BaseException:
                if made:
                    with contextlib.suppress(OSError):
                        dst.rmdir()  # only if empty: a kept partial download stays
                raise
            return str(target)
    check_destination(dst, overwrite)
    if select is not None:
        listing = select(listing)
        if not listing:
            return str(dst)
    files: list[tuple[FileInfo, PurePosixPath]] = []
    for info in listing:  # files first: a refusal names the object, not a parent
        if not info.is_dir:
            files.append((info, safe_relpath(info.path)))
    dirs = [safe_relpath(info.path, is_dir=True) for info in listing if info.is_dir]
    _run(repo, dst, files, dirs, settings, progress, overwrite, sha256)
    return str(dst)


def _run(
    repo: ArtifactRepository,
    dst: Path,
    files: list[tuple[FileInfo, PurePosixPath]],
    dirs: list[PurePosixPath],
    settings: TransferSettings,
    progress_arg: ProgressArg,
    overwrite: bool,
    sha256: dict[str, str] | None,
) -> None:
    cancel = threading.Event()
    total = sum(info.file_size or 0 for info, _ in files)
    progress = Progress(progress_arg, total, len(files), dst.name)
    jobs: list[FileJob] = []
    staging: Staging | None = None
    keep = installed = False
    try:
        staging = Staging.open(dst, repo.root)
        # every directory once, here, rather than a check per file in the workers
        parents = set(dirs) | {rel.parent for _, rel in files}
        for rel in sorted(parents, key=lambda p: len(p.parts)):
            os.makedirs(staging.tree / rel, exist_ok=True)
        want = sha256 is not None
        for info, rel in files:
            target = staging.tree / rel
            jobs.append(FileJob(repo, info, target, staging, settings, cancel, progress, want))
        _fetch_all(repo, jobs, settings, cancel)
        if not staging.still_ours():
            staging = None  # it is another process's now: leave it alone
            raise FederateError(
                f"Another process took over the download into {dst} while this one ran; "
                "nothing was installed",
                TEMPORARILY_UNAVAILABLE,
            )
        if dirs or not (len(files) == 1 and files[0][0].path == ""):
            install_tree(staging.tree, dst, overwrite)
        else:
            _install_file(staging.tree / files[0][1], dst, overwrite)
        installed = True
        if sha256 is not None:
            for job, (_info, rel) in zip(jobs, files, strict=True):
                if job.sha256 is not None:
                    sha256[rel.as_posix()] = job.sha256
    except (KeyboardInterrupt, SystemExit) as err:
        keep = True
        if staging is not None and staging.resumable:
            # the command line prints it: where the bytes are, and that they are not lost
            setattr(err, RESUMABLE_AT, staging.path)
        raise
    except FederateError as err:
        keep = err.error_code == TEMPORARILY_UNAVAILABLE
        raise
    except OSError as err:
        raise from_os_error(err, "download into", dst) from err
    finally:
        progress.close(installed)
        for job in jobs:
            if keep:
                job.suspend()
            else:
                job.close()
        if staging is not None:
            if keep:
                staging.release()
            else:
                staging.remove()


def _fetch_all(
    repo: ArtifactRepository,
    jobs: list[FileJob],
    settings: TransferSettings,
    cancel: threading.Event,
) -> None:
    tasks: list[Task] = []
    batching = repo.batches_downloads and settings.batch_connections > 0
    batched: list[FileJob] = []
    # large files first: their ranges are the long pole, small files fill the gaps
    for job in sorted(jobs, key=lambda j: -(j.size or 0)):
        planned = job.tasks()  # also clears what an earlier run left of the file
        if batching and job.batchable and planned:
            batched.append(job)  # fetched by a lane instead of its own task
        else:
            tasks.extend(planned)
    if len(batched) > 1:
        tasks[:0] = lane_tasks(repo, batched, settings, cancel)
    else:
        tasks.extend(job.fetch_whole for job in batched)
    if not tasks:
        return
    if len(tasks) == 1:
        tasks[0]()
        return
    _run_on_workers(tasks, min(settings.max_workers, len(tasks)), cancel)


def _run_on_workers(tasks: list[Task], workers: int, cancel: threading.Event) -> None:
    """Run ``tasks`` in order on ``workers`` threads; the first failure stops the rest.

    Each worker takes the next task until none is left: for a tree of thousands of small
    files this loop is most of the engine, and it costs far less than a future per task.
    """
    queue = iter(tasks)
    take = threading.Lock()
    failures: list[BaseException] = []
    # Every worker waits for ``go`` before its first task. Thread.start() returns only once
    # the new thread has run, and a thread already fetching holds the GIL for a switch
    # interval (5 ms) or more each time: started straight into work, 12 workers took
    # 60-180 ms to start on a busy 2-core machine (most of a 40 MB download's fixed cost);
    # started idle, all of them take about a millisecond.
    go = threading.Event()

    def work() -> None:
        go.wait()
        while not cancel.is_set():
            with take:
                task = next(queue, None)
            if task is None:
                return
            try:
                task()
            except BaseException as err:
                failures.append(err)
                cancel.set()
                return

    threads = [
        threading.Thread(target=work, name=f"federate-fetch-{i}", daemon=True)
        for i in range(workers)
    ]
    started: list[threading.Thread] = []
    try:
        for thread in threads:
            thread.start()
            started.append(thread)
    except BaseException:
        cancel.set()  # could not start them all (RuntimeError, Ctrl-C): none begins work
        go.set()
        for thread in started:
            thread.join()
        raise
    go.set()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # a timeout keeps the main thread responsive to Ctrl-C
    except BaseException:
        cancel.set()
        for thread in threads:
            thread.join()
        raise
    for err in failures:
        if not isinstance(err, Cancelled):
            raise err


def install_tree(tree: Path, dst: Path, overwrite: bool) -> None:
    """Move the finished tree into place. Readers see the old tree or the new, never a mix."""
    try:
        os.rename(tree, dst)  # succeeds when dst is missing or an empty directory
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not overwrite:
        raise _not_empty(dst)
    trash = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:12]}.old"
    os.rename(dst, trash)
    try:
        os.rename(tree, dst)
    except OSError:
        os.rename(trash, dst)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _install_file(done: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(done, target)
        return
    try:
        os.link(done, target)  # atomic, and never replaces a file that appeared meanwhile
    except FileExistsError:
        raise _exists_error(target) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        os.replace(done, target)
