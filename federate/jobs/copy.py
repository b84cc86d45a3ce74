"""Copying a model version into another registry: ``federate.copy`` and the copy job.

A copy resolves the source URI in its registry, fetches the version's files through the
download engine into the cache (verified against the store's sizes and checksums, and
shared with every later download of it), reserves a PENDING_REGISTRATION version in the
destination carrying the source's description and tags plus the lineage tags
(:mod:`federate.jobs.lineage`), uploads the files under the destination's artifact root
(as ``register`` does), checks what landed, and marks the version READY.

It is idempotent: a destination version with the source's lineage tags is that source's
copy. A READY one is returned as it is; a PENDING_REGISTRATION one is another copy's:
while that copy's heartbeat (:mod:`federate.jobs.heartbeat`) is fresh it is left alone
(this copy waits for it and returns its version), and once it is stale (a copy killed after
reserving it) it is finished: its files are uploaded again and it becomes READY, so a
killed copy never turns into a second version.

The upload reads the cached snapshot under the cache's shared read lock
(``ModelCache.reading``), so a prune never removes files from under it.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federate.api import download
from federate.cache import ModelCache, Snapshot
from federate.config import RegistryConfig, registry_config
from federate.entities import PENDING_REGISTRATION, READY, ModelVersion
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    FederateError,
)
from federate.jobs import heartbeat, lineage
from federate.jobs.digest import directory_hashes, tree_digest
from federate.jobs.entities import Job, JobProgress
from federate.plugins.manager import get_plugin_host
from federate.registries import open_registry
from federate.registry.base import Registry, check_alias, check_name
from federate.repos.base import ArtifactRepository
from federate.transfer.progress import Progress, ProgressEvent
from federate.transfer.settings import max_workers
from federate.uri import ModelRef, parse_uri

#: the name of copy jobs in the job store
JOB_NAME = "copy"
#: attempts a queued copy gets after its first (FEDERATE_JOBS_* govern the waits)
QUEUED_RETRIES = 3
#: fetches of a source whose snapshot another process keeps pruning
_FETCH_ATTEMPTS = 3
#: files uploaded at once (each large one also goes up in parallel parts or blocks)
_UPLOAD_FILES_AT_ONCE = 8

ProgressSink = Callable[[JobProgress], None]


def destination_config(to: str) -> RegistryConfig:
    """``to`` is a federate.toml profile name or a registry URI (a bare scheme such as
    ``databricks-uc`` when no profile has that name)."""
    if not isinstance(to, str) or not to.strip():
        raise FederateError(
            f"The destination must be a registry URI or a federate.toml profile name, got {to!r}",
            INVALID_PARAMETER_VALUE,
        )
    if ":" in to:
        return registry_config(to)
    try:
        return registry_config(profile=to)
    except FederateError:
        # a registry URI that is a bare scheme ("databricks-uc"), when no profile has its name
        if to in get_plugin_host().registry_routes:
            return registry_config(to)
        raise


def _source_ref(src_uri: str) -> ModelRef:
    ref = parse_uri(src_uri)
    if ref.is_prompt:
        raise FederateError(
            f"{src_uri!r} is a prompt URI; federate copy copies model versions (models:/...)",
            INVALID_PARAMETER_VALUE,
        )
    return ref


def copy(
    src_uri: str,
    to: str,
    *,
    name: str | None = None,
    alias: str | None = None,
    queue: bool = False,
    progress: bool | ProgressSink = True,
    registry_uri: str | None = None,
) -> ModelVersion | Job:
    """Copy the version ``src_uri`` names into the registry ``to`` (a registry URI or a
    federate.toml profile name) as a new version of ``name`` (default: the source's
    name), with its files, description and tags, and lineage tags; point ``alias`` at it.
    Copying the same source version again returns the existing copy. ``registry_uri``:
    the registry a source URI without a profile names (default: the configured one).

    With ``queue`` nothing is copied here: a copy job is queued in the configured
    registry's database and returned, for ``federate jobs work`` to run.
    """
    _source_ref(src_uri)
    if name is not None:
        check_name(name)
    if alias is not None:
        check_alias(alias)
    destination_config(to)  # an unknown profile is refused now, not in a worker
    if queue:
        from federate.jobs.store import JobStore

        params = {"src": src_uri, "to": to, "name": name, "alias": alias}
        return JobStore(registry_config().uri).create(JOB_NAME, params, max_retries=QUEUED_RETRIES)
    return copy_version(src_uri, to, name=name, alias=alias, progress=progress)


def copy_version(
    src_uri: str,
    to: str,
    *,
    name: str | None = None,
    alias: str | None = None,
    progress: bool | ProgressSink = True,
    registry_uri: str | None = None,
) -> ModelVersion:
    """The copy itself (see :func:`copy`); ``progress`` True shows a bar on a terminal,
    a callable gets :class:`JobProgress` updates."""
    ref = _source_ref(src_uri)
    src_config = registry_config(registry_uri, ref.profile)
    source = open_registry(src_config).resolve(ref)
    dst = open_registry(destination_config(to))
    dst_name = name or source.name
    check_name(dst_name)
    identity = {
        lineage.REGISTRY: src_config.profile or lineage.without_password(src_config.uri),
        lineage.NAME: source.name,
        lineage.VERSION: str(source.version),
    }
    try:  # also creates a destination SQLite file that is not there yet
        dst.create_registered_model(dst_name)
    except FederateError as err:
        if err.error_code != RESOURCE_ALREADY_EXISTS:
            raise
    sink = progress if callable(progress) else None
    earlier = lineage.find_copy(dst, dst_name, identity)
    if earlier is not None and earlier.status != READY:  # before fetching anything
        earlier = heartbeat.wait_while_live(dst, earlier, _waiting(progress))
    if earlier is not None and earlier.status == READY:
        return _with_alias(dst, earlier, alias)

    cache = ModelCache()
    for _attempt in range(_FETCH_ATTEMPTS):
        fetched = _fetch(src_config, ref, source, sink, bool(progress))
        with cache.reading(fetched.snapshot):
            # held while the snapshot is read: prune skips it, a repair waits (see
            # federate.cache); without it a prune could take files from under the upload
            if cache.intact(fetched.snapshot) is not None:
                mv = _fill(dst, dst_name, source, identity, fetched, alias, progress)
                break
        # pruned or damaged between the fetch and the lock: fetch it again
    else:
        raise FederateError(
            f"The cached files of {src_uri} kept changing while being copied "
            f"({_FETCH_ATTEMPTS} attempts); is another process pruning the cache?",
            INTERNAL_ERROR,
        )
    if sink is not None:
        total = sum(fetched.sizes.values())
        sink(JobProgress(total, total, len(fetched.sizes), len(fetched.sizes)))
    return mv


def _waiting(
    progress: bool | ProgressSink, where: JobProgress | None = None
) -> Callable[[ModelVersion], object] | None:
    """What a copy calls while it waits for another: its job's report (the progress so
    far, unchanged: nothing is written), where a canceled job or a stopping worker stops
    it; in a terminal copy, one line saying what it waits for."""
    if callable(progress):
        report = where or JobProgress()
        return lambda _mv: progress(report)
    if not progress or not sys.stderr.isatty():  # where the progress bar would show
        return None
    told: list[bool] = []

    def tell(mv: ModelVersion) -> None:
        if not told:
            told.append(True)
            print(
                f"Another copy of this source is filling {mv.name} version {mv.version}: "
                "waiting for it to finish",
                file=sys.stderr,
                flush=True,
            )

    return tell


def _fill(
    dst: Registry,
    dst_name: str,
    source: ModelVersion,
    identity: dict[str, str],
    fetched: Fetched,
    alias: str | None,
    progress: bool | ProgressSink,
) -> ModelVersion:
    """Reserve the destination version (or take over a dead copy's), upload, finish."""
    tags = {**source.tags, **identity, lineage.DIGEST: tree_digest(fetched.hashes)}
    total, count = sum(fetched.sizes.values()), len(fetched.sizes)
    on_wait = _waiting(progress, JobProgress(total, total, count, count))
    while True:  # each turn returns, takes a version, or waits for another copy to end
        earlier = lineage.find_copy(dst, dst_name, identity)  # again: the fetch took time
        if earlier is not None and earlier.status == READY:
            return _with_alias(dst, earlier, alias)
        if earlier is not None and heartbeat.is_live(earlier):
            heartbeat.wait_while_live(dst, earlier, on_wait)
            continue
        recovering = earlier is not None
        if earlier is not None:
            pending = earlier  # a copy that died after reserving it: finish it
            break
        pending = dst.create_model_version(
            dst_name,
            source=str(ModelRef("models", name=source.name, version=source.version)),
            tags=tags,
            description=source.description,
            status=PENDING_REGISTRATION,
        )
        winner = lineage.find_copy(dst, dst_name, identity)
        if winner is None or winner.version == pending.version:
            break
        # another copy of this source reserved a version first: it is the copy
        dst.delete_model_version(dst_name, pending.version)
    target = None
    try:
        with heartbeat.beating(dst, pending):
            target = _destination(dst, pending, fetched, recovering)
            _upload(target, fetched, progress=progress)
            for key, value in tags.items():
                if pending.tags.get(key) != value:
                    dst.set_model_version_tag(dst_name, pending.version, key, value)
            # a registry that numbers a version only once its files are stored (an MLflow
            # server) makes it here: the number may differ from the pending record's
            done = dst.complete_registration(pending, target.location)
    except BaseException:
        _undo(dst, pending, target)
        raise
    return _with_alias(dst, dst.get_model_version(dst_name, done.version), alias)


def _with_alias(dst: Registry, mv: ModelVersion, alias: str | None) -> ModelVersion:
    if alias is None or alias in mv.aliases:
        return mv
    dst.set_registered_model_alias(mv.name, alias, mv.version)
    return dst.get_model_version(mv.name, mv.version)


@dataclass(frozen=True)
class Fetched:
    """A source version's files in the cache: where, their sizes and their sha256."""

    snapshot: Snapshot
    root: Path
    sizes: dict[str, int]
    hashes: dict[str, str]


def _fetch(
    config: RegistryConfig,
    ref: ModelRef,
    source: ModelVersion,
    sink: ProgressSink | None,
    bar: bool,
) -> Fetched:
    """Fetch the source version into the cache (or find it there) and describe it."""
    exact = ModelRef("models", name=source.name, version=source.version, profile=ref.profile)

    def on_event(event: ProgressEvent) -> None:
        assert sink is not None
        sink(JobProgress(event.bytes_done, event.bytes_total, event.files_done, event.files_total))

    arg: Any = on_event if sink is not None else bar
    root = Path(download(str(exact), registry_uri=config.uri, progress=arg))
    sizes = {
        p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()
    }
    snapshot = ModelCache().snapshot(
        get_plugin_host().cache_key(config), source.name, source.version
    )
    record = snapshot.record()
    if record is not None and set(record.files) == set(sizes):
        hashes = {rel: f.sha256 for rel, f in record.files.items()}  # hashed as they landed
    else:
        hashes = directory_hashes(root)
    return Fetched(snapshot, root, sizes, hashes)


@dataclass(frozen=True)
class Destination:
    """Where a copy's files go, and the repository that writes them there."""

    location: str
    repo: ArtifactRepository


def _destination(
    dst: Registry, pending: ModelVersion, fetched: Fetched, recovering: bool
) -> Destination:
    """Where the copy's files go and the repository writing them: the location the
    destination registry chose for the version, with the write credentials it vends
    (Unity Catalog), else a fresh one under its artifact root (:func:`_location`)."""
    host = get_plugin_host()
    own = dst.upload_location(pending)
    if own is None:
        location = _location(dst, pending.name, pending.version, fetched, recovering)
        return Destination(location, host.open_repo(location))
    credentials = dst.write_credentials(pending)
    refresh = (lambda: dst.write_credentials(pending)) if credentials is not None else None
    repo = host.open_repo(own, credentials, refresh)
    if recovering:  # the version's own location: whatever an interrupted copy left goes
        repo.delete()
    return Destination(own, repo)


def _location(dst: Registry, name: str, version: int, fetched: Fetched, recovering: bool) -> str:
    """``<root>/models/<name>/<version>``, emptied first if an interrupted copy of this
    version left files there (only paths of this source). Anything else there is left
    alone and a suffixed sibling is used instead, as ``register`` does."""
    host = get_plugin_host()
    location = "/".join([dst.artifact_root.rstrip("/"), "models", name, str(version)])
    repo = host.open_repo(location)
    if repo.list(""):
        present = {f.path for f in repo.walk_files()}
        if recovering and present <= set(fetched.sizes):
            repo.delete()
        else:
            location = f"{location}-{uuid.uuid4().hex[:8]}"
    return location


def _upload(target: Destination, fetched: Fetched, progress: bool | ProgressSink = False) -> None:
    """Upload the fetched files to the destination, several at once, and check that every
    one landed whole. ``progress`` True shows an upload bar on a terminal (advancing as
    each file is stored); a callable is called after each file (a job's report: where a
    stopping worker stops the job)."""
    location, repo = target.location, target.repo
    bar = Progress(progress is True, sum(fetched.sizes.values()), len(fetched.sizes), "upload")
    files = sorted(fetched.sizes, key=lambda rel: -fetched.sizes[rel])  # big ones first
    total = sum(fetched.sizes.values())

    def send(rel: str) -> None:
        repo.upload_file(str(fetched.root / rel), rel)
        bar.add(fetched.sizes[rel])
        bar.file_done()
        if callable(progress):
            progress(JobProgress(total, total, len(files), len(files)))

    completed = False
    pool = ThreadPoolExecutor(max_workers=min(_UPLOAD_FILES_AT_ONCE, max_workers()))
    try:
        for future in [pool.submit(send, rel) for rel in files]:
            future.result()
        completed = True
    finally:
        pool.shutdown(wait=True, cancel_futures=not completed)  # a failure stops the rest
        bar.close(completed)
    stored = {f.path: f.file_size for f in repo.walk_files()}
    if stored != fetched.sizes:
        missing = sorted(set(fetched.sizes) - set(stored))
        wrong = sorted(p for p, n in fetched.sizes.items() if p in stored and stored[p] != n)
        raise FederateError(
            f"The copy into {location} is incomplete: missing {missing[:5]}, wrong size "
            f"{wrong[:5]}",
            INTERNAL_ERROR,
        )


def _undo(dst: Registry, pending: ModelVersion, target: Destination | None) -> None:
    """Remove a copy that failed (best effort: the caller needs the original error), its
    files through the repository that wrote them. A copy killed outright leaves its
    PENDING_REGISTRATION version, which the next copy of the same source finishes."""
    if target is not None:
        with contextlib.suppress(Exception):
            target.repo.delete()
    with contextlib.suppress(Exception):
        dst.abandon_registration(pending)
