"""The content cache of model versions under ``$FEDERATE_HOME/cache``.

Layout, meant to be read by a person::

    cache/
      blobs/sha256/<hex>                    file contents, once each, read-only
      snapshots/<registry-id>/<name>/<v>/   a version's tree (hard links to blobs)
      snapshots/<registry-id>/<name>/<v>.json   its record: every file's size, time and
                                            sha256; its modification time = last used
      refs/<registry-id>/<key>.json         "models:/m@champion" -> version, for offline use
      locks/                                one lock file per version
      registries.json                       registry id -> registry URI (no secrets)

**Complete or absent, by construction.** A snapshot's record is written last, after
every file is in place, and removed first, before any file goes; both under the
version's lock, which whoever fills, repairs or prunes a version holds (prune skips a
version whose lock is taken). Readers take no lock: they read the record, then use
only the files it lists, and check each one (one ``stat``, or an ``fstat`` of the file
they opened to copy: its size, and its time, which is fixed for cached files; see
:mod:`federate.cache.layout`). A file missing or different means the snapshot was
pruned, repaired or damaged meanwhile; the reader then takes the lock, removes what is
left of it (and a blob whose bytes changed) and fetches the version again. Because a
copy is made from files opened and checked, and assembled beside the destination
before one rename, a destination receives every recorded file with its recorded size,
or nothing. Blobs are names for bytes that snapshots hold: pruning one never changes a
snapshot, and a fill that finds its blob gone links again.

**Destinations never share writable storage with the cache.** Read-only bits do not
stop root, so a destination's files are reflinks or copies, and hard links only when
asked for (``FEDERATE_CACHE_LINK=hardlink``, see :mod:`federate.cache.placing`). An
edit through such a link changes the file's time, and the next download of every
version sharing it sees that and fetches again. ``federate cache verify`` reads
everything (:mod:`federate.cache.verify`) for changes that keep size and time.

Concurrent processes wanting the same version wait on its lock; the first does the
network work and the others then read its snapshot.
"""

from __future__ import annotations

from federate.cache import housekeeping
from federate.cache.housekeeping import parse_duration
from federate.cache.layout import Record, Snapshot, SnapshotChanged, offline, registry_id
from federate.cache.placing import place
from federate.cache.store import SnapshotStore
from federate.cache.verify import VerifyReport, verify

__all__ = [
    "ModelCache",
    "Record",
    "Snapshot",
    "SnapshotChanged",
    "offline",
    "parse_duration",
    "place",
    "registry_id",
]


class ModelCache(SnapshotStore):
    """The cache: a download's part (:class:`SnapshotStore`) and the housekeeping."""

    def entries(self) -> list[dict[str, object]]:
        """Every complete snapshot with its metadata, least recently used first."""
        return housekeeping.entries(self)

    def partials(self) -> list[dict[str, object]]:
        """Downloads into the cache that did not finish (see :func:`housekeeping.partials`)."""
        return housekeeping.partials(self)

    def prune(self, older_than_s: float | None = None, max_bytes: int | None = None) -> list[str]:
        """See :func:`federate.cache.housekeeping.prune`."""
        return housekeeping.prune(self, older_than_s, max_bytes)

    def size(self) -> int:
        """Bytes the cache occupies (each file once, however many links it has)."""
        return housekeeping.size(self)

    def verify(self) -> VerifyReport:
        """Hash everything; remove what is damaged (see :mod:`federate.cache.verify`)."""
        return verify(self)
