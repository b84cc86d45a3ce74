"""A copy's heartbeat on the destination version it is filling.

A copy reserves its destination version (PENDING_REGISTRATION, with the lineage tags)
before uploading, and while it uploads it touches that version every third of
``FEDERATE_JOBS_LEASE_SECONDS`` (the version's ``last_updated_timestamp`` moves; its
description is written back unchanged, so no tag is added). Another copy of the same
source that finds the version pending looks at that timestamp: touched within a lease,
the first copy is alive and is left alone (the second waits for it, :func:`wait_while_live`,
and returns its version once READY); older, the first copy died and the second finishes
the version in its place. So a second copy never deletes the files of a live upload.

The timestamps are the registry's (the SQL registry stamps them with the writing
host's clock): hosts sharing a queue should keep their clocks in step, as leases need.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from federate.entities import PENDING_REGISTRATION, ModelVersion
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.base import Registry

logger = logging.getLogger(__name__)


def stale_after_seconds() -> float:
    """How long a pending copy may go untouched before another copy takes it over."""
    from federate.jobs.worker import lease_seconds

    return lease_seconds()


def is_live(mv: ModelVersion, now_ms: int | None = None) -> bool:
    """Whether ``mv`` is a pending copy whose filler touched it within a lease."""
    if mv.status != PENDING_REGISTRATION:
        return False
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - mv.last_updated_timestamp < stale_after_seconds() * 1000


def wait_while_live(
    registry: Registry, mv: ModelVersion, on_wait: Callable[[ModelVersion], object] | None = None
) -> ModelVersion | None:
    """Wait while ``mv`` is a live pending copy (polled every third of a lease, at most 5 s);
    then the version as it stands (READY, or pending gone stale: its filler died), or None
    when its copy failed and removed it. ``on_wait`` is called before each poll (a job's
    report, which stops the wait when the job is canceled or its worker stops), with the
    version as last seen."""
    interval = min(max(stale_after_seconds() / 3, 0.05), 5.0)
    current = mv
    if is_live(current):
        logger.info(
            "Another copy of this source is filling %s version %s: waiting for it",
            mv.name,
            mv.version,
        )
    while is_live(current):
        if on_wait is not None:
            on_wait(current)
        time.sleep(interval)
        try:
            current = registry.get_model_version(mv.name, mv.version)
        except FederateError as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
    return current


@contextlib.contextmanager
def beating(
    registry: Registry, mv: ModelVersion, every: float | None = None
) -> Iterator[threading.Event]:
    """Touch the pending version ``mv`` every ``every`` seconds (a third of the lease by
    default) on a thread of its own, while the block runs. Yields the event that stops
    it. A failed touch is logged and tried again at the next beat."""
    interval = stale_after_seconds() / 3 if every is None else every
    stop = threading.Event()
    if not registry.keeps_pending_versions:  # no row to touch (see Registry)
        yield stop
        return

    def beat() -> None:
        while not stop.wait(interval):
            try:
                registry.update_model_version(mv.name, mv.version, description=mv.description)
            except FederateError as err:
                logger.warning(
                    "Cannot touch %s version %s being copied: %s", mv.name, mv.version, err
                )

    thread = threading.Thread(target=beat, name=f"heartbeat-{mv.name}-{mv.version}", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(interval + 5)
