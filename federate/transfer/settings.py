"""How hard the engine pushes: workers, range size, the split threshold, the retry budget.

Every knob has a default that suits a cloud store from one machine and an environment
override (``FEDERATE_*``), read when a download starts so a process can change them
between downloads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from federate.envvars import MiB, env_float, env_int, env_size, parse_size

__all__ = ["MiB", "TransferSettings", "default_workers", "max_workers", "parse_size"]


@dataclass(frozen=True)
class TransferSettings:
    #: threads fetching files and ranges (``FEDERATE_MAX_WORKERS``)
    max_workers: int = 16
    #: bytes per ranged request of a large file (``FEDERATE_CHUNK_SIZE``)
    chunk_size: int = 8 * MiB
    #: files at least this big are split into ranges (``FEDERATE_MULTIPART_THRESHOLD``)
    multipart_threshold: int = 16 * MiB
    #: whether a store may read bigger files whole, as its own SDK does (see
    #: ``ArtifactRepository.whole_read_size``); False once the threshold is set in the env
    store_threshold: bool = True
    #: tries per file or range before giving up (``FEDERATE_MAX_ATTEMPTS``)
    max_attempts: int = 5
    #: first backoff in seconds, doubled per retry, with full jitter (``FEDERATE_RETRY_BACKOFF``)
    retry_backoff: float = 0.5
    #: longest single backoff in seconds
    retry_backoff_cap: float = 20.0
    #: connections that fetch small files in batches, for stores that batch (the http
    #: ones pipeline requests); 0 fetches every file on its own (``FEDERATE_BATCH_CONNECTIONS``).
    #: Half the workers: the other half keeps fetching large files meanwhile, and a store
    #: capping each connection's rate still serves small files on 8 at once.
    batch_connections: int = 8

    @classmethod
    def from_env(cls) -> TransferSettings:
        return cls(
            max_workers=env_int("FEDERATE_MAX_WORKERS", default_workers(), 1),
            chunk_size=env_size("FEDERATE_CHUNK_SIZE", cls.chunk_size, 64 * 1024),
            multipart_threshold=env_size(
                "FEDERATE_MULTIPART_THRESHOLD", cls.multipart_threshold, 1
            ),
            store_threshold=not os.environ.get("FEDERATE_MULTIPART_THRESHOLD", "").strip(),
            max_attempts=env_int("FEDERATE_MAX_ATTEMPTS", cls.max_attempts, 1),
            retry_backoff=env_float("FEDERATE_RETRY_BACKOFF", cls.retry_backoff, 0),
            batch_connections=env_int("FEDERATE_BATCH_CONNECTIONS", cls.batch_connections, 0),
        )

    def split_from(self, whole_read_size: int = 0) -> int:
        """The size from which files are split into ranges, for a store that reads files
        of up to ``whole_read_size`` bytes whole."""
        if not self.store_threshold:
            return self.multipart_threshold
        return max(self.multipart_threshold, whole_read_size + 1)


def default_workers() -> int:
    # network-bound, and reads and writes release the GIL: even 2 cores keep 16 streams
    # busy, which a store capping each connection (25 MB/s is common) needs
    return 16


def max_workers() -> int:
    """``FEDERATE_MAX_WORKERS`` or the default."""
    return TransferSettings.from_env().max_workers
