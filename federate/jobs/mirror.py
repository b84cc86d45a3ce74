"""Mirroring: fetching model versions into this host's cache before anyone asks for them.

``federate.mirror(uris)`` resolves each ``models:/`` URI (a version, ``@alias``,
``latest``, a stage) and fetches the version it names into the local cache
(:mod:`federate.cache`), so that later downloads on this host are served from disk and
work offline. ``keep_warm`` does that again every interval, so the cache follows an
alias as it moves. With ``queue`` a mirror job is queued instead, and the worker that
runs it warms its own host's cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federate.config import registry_config
from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.jobs.entities import Job, JobProgress
from federate.transfer.progress import ProgressEvent
from federate.uri import ModelRef, parse_uri

logger = logging.getLogger(__name__)

#: the name of mirror jobs in the job store
JOB_NAME = "mirror"
#: attempts a queued mirror gets after its first
QUEUED_RETRIES = 3

ProgressSink = Callable[[JobProgress], None]


@dataclass(frozen=True)
class Mirrored:
    """One URI of a mirror: the version it named and where its files are cached."""

    uri: str
    name: str
    version: int
    path: str


def check_uris(uris: Sequence[str]) -> list[ModelRef]:
    """Every URI parsed; a mirror takes only ``models:/`` URIs, at least one."""
    if isinstance(uris, str):
        uris = [uris]
    if not uris:
        raise FederateError("Name at least one models:/ URI to mirror", INVALID_PARAMETER_VALUE)
    refs = []
    for uri in uris:
        ref = parse_uri(uri)
        if ref.is_prompt:
            raise FederateError(
                f"{uri!r} is a prompt URI; federate mirror caches model versions (models:/...)",
                INVALID_PARAMETER_VALUE,
            )
        refs.append(ref)
    return refs


def mirror(
    uris: Sequence[str],
    *,
    queue: bool = False,
    progress: bool | ProgressSink = True,
    registry_uri: str | None = None,
) -> list[Mirrored] | Job:
    """Fetch the versions ``uris`` name into this host's cache; what was cached. With
    ``queue`` nothing is fetched here: a mirror job is queued in the configured
    registry's database and returned, and the worker that runs it warms its host."""
    check_uris(uris)
    if isinstance(uris, str):
        uris = [uris]
    if queue:
        from federate.jobs.store import JobStore

        params = {"uris": list(uris)}
        return JobStore(registry_config().uri).create(JOB_NAME, params, max_retries=QUEUED_RETRIES)
    return mirror_versions(uris, progress=progress, registry_uri=registry_uri)


def mirror_versions(
    uris: Sequence[str],
    *,
    progress: bool | ProgressSink = True,
    registry_uri: str | None = None,
) -> list[Mirrored]:
    """The mirror itself (see :func:`mirror`): one URI after the other, resolved now.
    A callable ``progress`` gets one :class:`JobProgress` over all of them, files and
    bytes counted per version as each is fetched."""
    from federate.api import download
    from federate.registries import open_registry

    refs = check_uris(uris)
    sink = progress if callable(progress) else None
    done = JobProgress()
    out = []
    for uri, ref in zip(uris, refs, strict=True):
        config = registry_config(registry_uri, ref.profile)
        mv = open_registry(config).resolve(ref)
        exact = ModelRef("models", name=mv.name, version=mv.version, profile=ref.profile)
        base = done

        def on_event(event: ProgressEvent, base: JobProgress = base) -> None:
            assert sink is not None
            sink(
                JobProgress(
                    base.bytes_done + event.bytes_done,
                    base.bytes_total + event.bytes_total,
                    base.files_done + event.files_done,
                    base.files_total + event.files_total,
                )
            )

        arg: Any = on_event if sink is not None else bool(progress)
        path = download(str(exact), registry_uri=config.uri, progress=arg)
        sizes = _sizes(Path(path))
        done = JobProgress(
            base.bytes_done + sum(sizes),
            base.bytes_total + sum(sizes),
            base.files_done + len(sizes),
            base.files_total + len(sizes),
        )
        if sink is not None:
            sink(done)
        out.append(Mirrored(uri, mv.name, mv.version, path))
    return out


def _sizes(root: Path) -> list[int]:
    """The sizes of the files of a cached version (a directory, or one file)."""
    if root.is_file():
        return [root.stat().st_size]
    return [p.stat().st_size for p in root.rglob("*") if p.is_file()]


def keep_warm(
    uris: Sequence[str],
    every: float,
    stop: threading.Event,
    on_mirrored: Callable[[Mirrored], None] | None = None,
    *,
    registry_uri: str | None = None,
) -> None:
    """Mirror ``uris`` now and again every ``every`` seconds until ``stop`` is set: an
    alias's current version is fetched as soon as a pass sees it moved. ``on_mirrored``
    hears of each version newly cached by this loop. A pass that fails (the registry
    is away) is logged and the next pass tries again."""
    check_uris(uris)
    if not every > 0:
        raise FederateError(
            f"The mirror interval must be above 0 seconds, got {every!r}",
            INVALID_PARAMETER_VALUE,
        )
    seen: set[tuple[str, str, int]] = set()
    while not stop.is_set():
        for uri in uris:
            if stop.is_set():
                break
            try:
                (got,) = mirror_versions([uri], progress=False, registry_uri=registry_uri)
            except FederateError as err:
                logger.warning("federate mirror: %s: %s", uri, err.message)
                continue
            key = (got.uri, got.name, got.version)
            if key not in seen:
                seen.add(key)
                if on_mirrored is not None:
                    on_mirrored(got)
        stop.wait(every)
