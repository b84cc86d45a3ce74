"""The calls users make: resolve, download, list, register, load prompts.

Each call parses the URI, picks the registry (see :mod:`federate.config`), asks it
which version the URI means and where its files are, and hands that location to the
repository plugin for its scheme. Registries are opened once per process and reused
(:mod:`federate.registries`); versions are served from the cache (:mod:`federate.serving`).
A third-party plugin's object failing with anything but a FederateError surfaces as one
PluginError naming its package and method (:mod:`federate.plugins.blame`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

from federate import transfer
from federate.cache import ModelCache, SnapshotChanged, offline
from federate.cache.placing import link_mode
from federate.config import federate_home
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
from federate.registries import (
    clear_registry_cache,
    config_for,
    get_registry,
    registry_for,
    repo_for_version,
)
from federate.registry.base import Registry, check_alias, check_name
from federate.repos.base import ArtifactRepository
from federate.repos.local_tree import check_regular_file, walk
from federate.serving import SERVE_ATTEMPTS, serve_part, serve_version
from federate.transfer.engine import check_destination, source_name
from federate.transfer.progress import ProgressArg
from federate.transfer.selection import Patterns, Selection
from federate.uri import is_registry_uri, parse_uri


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
    return registry_for(ref, registry_uri, profile).resolve(ref)


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
    return registry_for(ref, registry_uri, profile).resolve_prompt(ref)


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
        config = config_for(ref, registry_uri, profile)
        for _ in range(SERVE_ATTEMPTS):
            try:
                if selection is not None:
                    return serve_part(ref, config, selection, progress, target, overwrite)
                return serve_version(ref, config, progress, target, overwrite)
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


@names_failing_plugins
def list_artifacts(
    uri: str,
    path: str | None = None,
    registry_uri: str | None = None,
    *,
    profile: str | None = None,
) -> list[FileInfo]:
    """The entries directly under ``path`` of a version's files (or of a storage URI).

    An empty listing is told apart from nothing being there (a store's listing cannot):
    a path that is neither a directory nor a file raises RESOURCE_DOES_NOT_EXIST."""
    if is_registry_uri(uri):
        ref = parse_uri(uri)
        registry = registry_for(ref, registry_uri, profile)
        repo = repo_for_version(registry, registry.resolve(ref))
    else:
        repo = get_plugin_host().open_repo(uri)
    entries = repo.list(path or "")
    if not entries:
        repo.stat(path or "")  # an empty directory, or RESOURCE_DOES_NOT_EXIST
    return entries


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
    repo: ArtifactRepository | None = None
    try:
        location, repo = _upload_repo(registry, pending)
        if source.is_dir():
            repo.upload_dir(str(source))
        else:
            repo.upload_file(str(source), source.name)
        done = registry.complete_registration(pending, location)
    except BaseException:
        _undo_registration(registry, pending, repo)
        raise
    if alias is not None:
        registry.set_registered_model_alias(name, alias, done.version)
    return registry.get_model_version(name, done.version)


def _upload_repo(registry: Registry, pending: ModelVersion) -> tuple[str, ArtifactRepository]:
    """Where the pending version's files go and the repository writing them: the
    registry's own location with its write credentials (Unity Catalog), else a fresh one
    under its artifact root."""
    location = registry.upload_location(pending)
    if location is None:
        return _fresh_location(registry, pending.name, pending.version)
    credentials = registry.write_credentials(pending)
    refresh = (lambda: registry.write_credentials(pending)) if credentials is not None else None
    return location, get_plugin_host().open_repo(location, credentials, refresh)


def _fresh_location(
    registry: Registry, name: str, version: int, root: str | None = None
) -> tuple[str, ArtifactRepository]:
    """``<root>/models/<name>/<version>`` (``root``: the registry's artifact root unless
    given), unless something already lives there (another registry sharing the root, or a
    registry database recreated over old artifacts): then a suffixed sibling, so files of
    two versions are never mixed."""
    host = get_plugin_host()
    location = _join(root or registry.artifact_root, "models", name, str(version))
    repo = host.open_repo(location)
    if repo.list(""):
        location = f"{location}-{uuid.uuid4().hex[:8]}"
        repo = host.open_repo(location)
    return location, repo


def _undo_registration(
    registry: Registry, pending: ModelVersion, repo: ArtifactRepository | None
) -> None:
    # best effort: the caller needs the original error, not one from the clean-up; the
    # files go through the repository that wrote them (with the same credentials)
    if repo is not None:
        with contextlib.suppress(Exception):
            repo.delete()
    with contextlib.suppress(Exception):
        registry.abandon_registration(pending)


__all__ = [
    "clear_registry_cache",
    "download",
    "get_registry",
    "list_artifacts",
    "load_prompt",
    "register",
    "resolve",
]
