"""The calls users make: resolve, download, list, register, load prompts.

Each call parses the URI, picks the registry (see :mod:`federate.config`), asks it
which version the URI means and where its files are, and hands that location to the
repository plugin for its scheme. Registries are opened once per process and reused.
A third-party plugin's object failing with anything but a FederateError surfaces as one
PluginError naming its package and method (:mod:`federate.plugins.blame`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import threading
import uuid
from pathlib import Path

from federate import transfer
from federate.cache import ModelCache, Record, Snapshot, SnapshotChanged, offline
from federate.cache.placing import link_mode
from federate.config import RegistryConfig, chosen_registry, federate_home, registry_config
from federate.entities import PENDING_REGISTRATION, FileInfo, ModelVersion, PromptVersion
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
    redact,
)
from federate.plugins.blame import names_failing_plugins
from federate.plugins.manager import get_plugin_host
from federate.registry.base import Registry, check_alias, check_name
from federate.repos.base import ArtifactRepository
from federate.repos.local_tree import check_regular_file, walk
from federate.transfer.engine import check_destination, source_name
from federate.transfer.progress import ProgressArg, report_served
from federate.transfer.selection import Patterns, Selection
from federate.uri import ModelRef, is_registry_uri, parse_uri

_registries: dict[RegistryConfig, Registry] = {}
_registries_lock = threading.Lock()


def _open_registry(config: RegistryConfig) -> Registry:
    registry = _registries.get(config)
    if registry is None:
        with _registries_lock:
            registry = _registries.get(config)
            if registry is None:
                registry = get_plugin_host().open_registry(config)
                _registries[config] = registry
    return registry


def get_registry(uri: str | None = None, *, profile: str | None = None) -> Registry:
    """The registry for ``uri`` (a registry URI, not a models:/ URI), or for ``profile``
    (a ``[registries.<profile>]`` table of federate.toml), or the configured one."""
    return _open_registry(chosen_registry(uri, profile))


def clear_registry_cache() -> None:
    """Forget opened registries (tests; after changing configuration files)."""
    with _registries_lock:
        _registries.clear()


def _config_for(ref: ModelRef, registry_uri: str | None, profile: str | None) -> RegistryConfig:
    # a models://<profile>/ URI names its registry itself, above any argument
    if ref.profile is not None:
        return registry_config(registry_uri, ref.profile)
    return chosen_registry(registry_uri, profile)


def _registry_for(ref: ModelRef, registry_uri: str | None, profile: str | None) -> Registry:
    return _open_registry(_config_for(ref, registry_uri, profile))


@names_failing_plugins
def resolve(
    uri: str, registry_uri: str | None = None, *, profile: str | None = None
) -> ModelVersion:
    """The model version a models:/ URI means, with its storage location."""
    ref = parse_uri(uri)
    if ref.is_prompt:
        raise FederateError(
            f"{uri!r} is a prompt URI; use federate.load_prompt() to read prompts",
            INVALID_PARAMETER_VALUE,
        )
    return _registry_for(ref, registry_uri, profile).resolve(ref)


@names_failing_plugins
def load_prompt(
    uri: str, registry_uri: str | None = None, *, profile: str | None = None
) -> PromptVersion:
    """The prompt version a prompts:/ URI means (``prompts:/name/3``, ``prompts:/name@prod``)."""
    ref = parse_uri(uri)
    if not ref.is_prompt:
        raise FederateError(
            f"{uri!r} is not a prompts:/ URI; use prompts:/<name>/<version> or "
            "prompts:/<name>@<alias>",
            INVALID_PARAMETER_VALUE,
        )
    return _registry_for(ref, registry_uri, profile).resolve_prompt(ref)


def _repo_for_version(registry: Registry, mv: ModelVersion) -> ArtifactRepository:
    location = mv.download_uri
    if not location:
        raise FederateError(
            f"Model {mv.name!r} version {mv.version} has no storage location",
            RESOURCE_DOES_NOT_EXIST,
        )
    credentials = registry.read_credentials(mv)
    refresh = (lambda: registry.read_credentials(mv)) if credentials is not None else None
    return get_plugin_host().open_repo(location, credentials, refresh)


@names_failing_plugins
def download(
    uri: str,
    dst: str | os.PathLike[str] | None = None,
    registry_uri: str | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressArg = True,
    profile: str | None = None,
    path: str | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
) -> str:
    """Fetch the files a URI names into the directory ``dst`` and return the local path.

    ``uri`` is a models:/ URI or a plain storage URI (``file://...``, a path, or any
    scheme a repository plugin handles). ``dst`` is always a directory, as in MLflow: a
    source that is a single file lands at ``dst/<its name>`` and that file's path is
    returned. A missing or empty ``dst`` is filled; a non-empty one is refused unless
    ``overwrite`` (a single file: only that file is replaced). Both are checked before
    anything is fetched.

    A registry version is fetched once into the cache (``$FEDERATE_HOME/cache``, see
    :mod:`federate.cache`) and served from there: without ``dst`` the cached snapshot's
    path is returned (read it, do not modify it), with ``dst`` its files are copied
    there (reflinks where the filesystem can; ``FEDERATE_CACHE_LINK=hardlink`` for hard
    links). ``FEDERATE_OFFLINE=1`` serves only from the cache. A storage URI without
    ``dst`` goes to ``$FEDERATE_HOME/downloads/<hash>``.

    ``progress``: True shows a bar when stderr is a terminal, False shows nothing, a
    callable receives :class:`federate.transfer.progress.ProgressEvent` updates.

    ``path`` (a file's or directory's path inside the version), ``include`` and
    ``exclude`` (glob patterns, as huggingface_hub's ``allow_patterns`` and
    ``ignore_patterns``; see :mod:`federate.transfer.selection`) fetch only the files
    they select, and nothing else, at ``dst/<path inside the version>``. With ``path``
    naming one file, that file's path is returned. Such a partial download is cached
    too (its files are reused by the next one) without making the version's cached
    snapshot complete: a later full download fetches every file. With
    ``FEDERATE_OFFLINE`` it is served if every selected file is cached.
    """
    selection = Selection.of(path, include, exclude)  # bad rules: before anything else
    if is_registry_uri(uri):
        ref = parse_uri(uri)
        if ref.is_prompt:
            raise FederateError(
                f"{uri!r} is a prompt URI; prompts have no files, use federate.load_prompt()",
                INVALID_PARAMETER_VALUE,
            )
        target = None if dst is None else Path(dst).expanduser().absolute()
        if target is not None:
            check_destination(target, overwrite)  # before any fetching
            link_mode()  # a mistyped FEDERATE_CACHE_LINK too
        config = _config_for(ref, registry_uri, profile)
        for _ in range(_SERVE_ATTEMPTS):
            try:
                if selection is not None:
                    return _serve_part(ref, config, selection, progress, target, overwrite)
                return _serve_version(ref, config, progress, target, overwrite)
            except SnapshotChanged:
                continue  # edited while being copied: checked, repaired, copied again
        raise FederateError(
            f"The cached copy of {uri} kept changing while being copied into {target}; "
            "nothing was written there. Is something writing into the cache "
            f"({ModelCache().root})?",
            TEMPORARILY_UNAVAILABLE,
        )
    if dst is None:
        key = uri if selection is None else f"{uri}\n{selection.describe()}"
        dst = federate_home() / "downloads" / hashlib.sha256(key.encode()).hexdigest()[:16]
        if offline() and dst.is_dir():
            single = dst / source_name(uri)
            return str(single if os.listdir(dst) == [single.name] and single.is_file() else dst)
        if dst.is_file():
            dst.unlink()  # a single file as an older federate left it: now dst/<name>
        overwrite = True
    if offline():
        raise FederateError(
            f"FEDERATE_OFFLINE is set and {redact(uri)} is a storage URI, which federate does "
            "not cache; unset FEDERATE_OFFLINE to fetch it",
            RESOURCE_DOES_NOT_EXIST,
        )
    repo = get_plugin_host().open_repo(uri)
    if selection is None:
        return transfer.download(repo, dst, overwrite=overwrite, progress=progress)
    chosen: list[str] = []

    def choose(listing: list[FileInfo]) -> list[FileInfo]:
        picked = selection.pick(listing, redact(uri))
        chosen.extend(info.path for info in picked)
        return picked

    out = transfer.download(repo, dst, overwrite=overwrite, progress=progress, select=choose)
    one = selection.one_file(chosen)
    return str(Path(out) / one) if one is not None and Path(out).is_dir() else out


#: how often a download serves a snapshot that changes under it before giving up
_SERVE_ATTEMPTS = 3


def _locate(
    cache: ModelCache, config: RegistryConfig, ref: ModelRef, cache_only: bool
) -> tuple[Snapshot, Registry, ModelVersion]:
    """The snapshot ``ref`` means, with the registry and version when online (offline:
    what it meant when last resolved; the registry and version are then never used).
    The cache knows the registry by its plugin's key: the URI, or the workspace it
    reaches (see :class:`~federate.plugins.types.RegistryPlugin`)."""
    key = get_plugin_host().cache_key(config)
    if cache_only:
        return cache.recall(key, ref), None, None  # type: ignore[return-value]
    registry = _open_registry(config)
    mv = registry.resolve(ref)
    cache.remember(key, ref, mv.name, mv.version)
    return cache.snapshot(key, mv.name, mv.version), registry, mv


def _serve_version(
    ref: ModelRef,
    config: RegistryConfig,
    progress: ProgressArg,
    target: Path | None,
    overwrite: bool,
) -> str:
    """Serve the version ``ref`` means from the cache: the snapshot's path, or its files
    copied to ``target``; fetched first if missing, incomplete or damaged.

    Whatever is served is checked and used under the version's lock, shared while it
    is only read, so prune or a repair never removes it meanwhile (see
    :mod:`federate.cache`)."""
    cache = ModelCache()
    key = get_plugin_host().cache_key(config)  # the URI, or the workspace it reaches
    cache_only = offline()
    snap, registry, mv = _locate(cache, config, ref, cache_only)

    def serve(record: Record, fetched: bool = False) -> str:
        cache.touch(snap)
        if target is None:
            path = str(snap.path)
        else:
            path = cache.materialize(snap, record, target, overwrite)
        if not fetched:  # a fill sent its own final event
            report_served(progress, [f.size for f in record.files.values()])
        return path

    with cache.reading(snap):
        record = cache.intact(snap)  # one stat per file
        if record is not None:
            return serve(record)
    with cache.lock(snap):
        if cache.intact(snap) is None:
            damaged = snap.record() is not None
            if cache_only:
                if damaged:
                    cache.discard(snap)  # bad blobs with it
                raise cache.missing_offline(snap, ref, damaged)
            cache.discard(snap)  # what a crash, prune, damage or partial downloads left
            # served before the lock is released, so nothing removes it meanwhile
            return serve(_fill(cache, snap, registry, mv, key, progress), fetched=True)
    with cache.reading(snap):  # another process filled it while we waited: read it
        record = cache.intact(snap)  # with the other readers, not one at a time
        if record is not None:
            return serve(record)
    raise SnapshotChanged(snap.path)  # removed again in between: the caller tries again


def _fill(
    cache: ModelCache,
    snap: Snapshot,
    registry: Registry,
    mv: ModelVersion,
    registry_uri: str,
    progress: ProgressArg,
) -> Record:
    """Download the version into the cache (the caller holds its lock)."""
    repo = _repo_for_version(registry, mv)
    snap.path.mkdir(parents=True, exist_ok=True)  # a file-rooted version lands inside
    sha256: dict[str, str] = {}  # blob names, taken while the bytes land
    try:
        transfer.download(repo, snap.path, overwrite=True, progress=progress, sha256=sha256)
    except BaseException:
        with contextlib.suppress(OSError):
            snap.path.rmdir()  # nothing came: leave no empty version behind
        raise
    return cache.adopt(snap, registry_uri, repo.root, sha256)


def _serve_part(
    ref: ModelRef,
    config: RegistryConfig,
    selection: Selection,
    progress: ProgressArg,
    target: Path | None,
    overwrite: bool,
) -> str:
    """Serve the files of the version ``ref`` means that ``selection`` takes: from its
    complete snapshot if cached, else from what partial downloads cached, else fetched
    (only those files) into the snapshot directory without completing it."""
    cache = ModelCache()
    cache_only = offline()
    snap, registry, mv = _locate(cache, config, ref, cache_only)
    label = f"{ref} (version {snap.version})"

    def pick(sizes: dict[str, int | None]) -> list[str]:
        listing = [FileInfo(rel, False, size) for rel, size in sizes.items()]
        return [info.path for info in selection.pick(listing, label)]

    def serve(record: Record, rels: list[str]) -> str:
        one = selection.one_file(rels)
        cache.touch(snap)
        if target is None:
            return str(snap.path / one if one is not None else snap.path)
        cache.materialize(snap, record.subset(rels), target, overwrite)
        return str(target / one if one is not None else target)

    def cached() -> str | None:
        record = cache.intact(snap)
        if record is not None:
            return serve(record, pick({rel: f.size for rel, f in record.files.items()}))
        partial = snap.partial()
        if partial is None:
            return None
        rels = pick(partial.listing)
        have = partial.as_record()
        if all(rel in have.files for rel in rels) and not snap.changed(have.subset(rels)):
            return serve(have, rels)
        return None

    with cache.reading(snap):
        served = cached()
        if served is not None:
            return served
    if cache_only:
        raise cache.not_cached(
            f"every file of {label} that {selection.describe()} selects",
            "a download of the whole version, or of these files, puts them there",
        )
    with cache.lock(snap):
        served = cached()
        if served is not None:
            return served
        partial = snap.partial()
        if partial is None:
            cache.discard(snap)  # what a crashed fill left
        else:
            gone = set(snap.changed(partial.as_record()))
            partial = dataclasses.replace(
                partial, files={k: v for k, v in partial.files.items() if k not in gone}
            )
        listing: dict[str, int | None] = {}

        def choose(entries: list[FileInfo]) -> list[FileInfo]:
            listing.update({e.path: e.file_size for e in entries if not e.is_dir})
            picked = selection.pick(entries, label)
            return [e for e in picked if partial is None or e.path not in partial.files]

        repo = _repo_for_version(registry, mv)
        digest = hashlib.sha256(f"{snap.registry_id}/{snap.name}/{snap.version}".encode())
        fetched = cache.root / "picks" / digest.hexdigest()[:16]
        sha256: dict[str, str] = {}
        try:
            transfer.download(
                repo, fetched, overwrite=True, progress=progress, sha256=sha256, select=choose
            )
            partial = cache.add_partial(snap, fetched, sha256, listing, partial)
        finally:
            shutil.rmtree(fetched, ignore_errors=True)
        return serve(partial.as_record(), pick(listing))


@names_failing_plugins
def list_artifacts(
    uri: str,
    path: str | None = None,
    registry_uri: str | None = None,
    *,
    profile: str | None = None,
) -> list[FileInfo]:
    """The entries directly under ``path`` of a version's files (or of a storage URI)."""
    if is_registry_uri(uri):
        ref = parse_uri(uri)
        registry = _registry_for(ref, registry_uri, profile)
        repo = _repo_for_version(registry, registry.resolve(ref))
    else:
        repo = get_plugin_host().open_repo(uri)
    return repo.list(path or "")


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


@names_failing_plugins
def register(
    src: str | os.PathLike[str],
    name: str,
    alias: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    registry_uri: str | None = None,
    *,
    profile: str | None = None,
) -> ModelVersion:
    """Copy a local file or directory into the registry's artifact root as a new version.

    The model is created if it does not exist. The version is invisible to ``latest``
    until every file is stored; if copying fails, the version is removed again (its
    number is not reused) and nothing is left in the store. ``src`` is read as a download
    from a local directory reads it (:mod:`federate.repos.local_tree`): symbolic links
    inside it are followed; a link leaving it, a device, FIFO or socket is refused.
    """
    source = Path(src).expanduser()
    if not source.exists():
        raise FederateError(
            f"Nothing to register: {source} does not exist", RESOURCE_DOES_NOT_EXIST
        )
    check_name(name)
    if alias is not None:
        check_alias(alias)
    # the same rule a download from a local directory follows, checked before anything is
    # created: links inside ``src`` are followed, links leaving it, devices, FIFOs and
    # sockets refused, so the stored version is what a download of ``src`` gives
    if source.is_dir():
        walk(source)
    else:
        check_regular_file(source)
    registry = get_registry(registry_uri, profile=profile)
    try:
        registry.create_registered_model(name)
    except FederateError as err:
        if err.error_code != RESOURCE_ALREADY_EXISTS:
            raise
    pending = registry.create_model_version(
        name,
        source=source.resolve().as_uri(),
        tags=tags,
        description=description,
        status=PENDING_REGISTRATION,
    )
    location: str | None = None
    try:
        target = registry.upload_location(pending)
        if target is None:
            location, repo = _fresh_location(registry, name, pending.version)
        else:  # the registry placed the version (a Unity Catalog server does)
            location = target[0]
            repo = get_plugin_host().open_repo(location, target[1])
        if source.is_dir():
            repo.upload_dir(str(source))
        else:
            repo.upload_file(str(source), source.name)
        registry.finish_model_version(name, pending.version, location)
    except BaseException:
        _undo_registration(registry, name, pending.version, location)
        raise
    if alias is not None:
        registry.set_registered_model_alias(name, alias, pending.version)
    return registry.get_model_version(name, pending.version)


def _fresh_location(registry: Registry, name: str, version: int) -> tuple[str, ArtifactRepository]:
    """``<root>/models/<name>/<version>``, unless something already lives there (another
    registry sharing the root, or a registry database recreated over old artifacts): then
    a suffixed sibling, so files of two versions are never mixed."""
    host = get_plugin_host()
    location = _join(registry.artifact_root, "models", name, str(version))
    repo = host.open_repo(location)
    if repo.list(""):
        location = f"{location}-{uuid.uuid4().hex[:8]}"
        repo = host.open_repo(location)
    return location, repo


def _undo_registration(registry: Registry, name: str, version: int, location: str | None) -> None:
    # best effort: the caller needs the original error, not one from the clean-up
    if location is not None:
        with contextlib.suppress(Exception):
            get_plugin_host().open_repo(location).delete()
    with contextlib.suppress(Exception):
        registry.delete_model_version(name, version)
