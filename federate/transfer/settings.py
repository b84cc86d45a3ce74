"""How hard the engine pushes: workers, range size, the split threshold, the retry budget.

Every knob has a default that suits a cloud store from one machine and an environment
override (``FEDERATE_*``), read when a download starts so a process can change them
between downloads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

MiB = 1024 * 1024

_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB, "t": 1024 * 1024 * MiB}


def parse_size(raw: str) -> int:
    """``"8388608"``, ``"8M"``, ``"8MiB"``, ``"64k"`` -> bytes (binary units)."""
    match = _SIZE.fullmatch(raw)
    if not match:
        raise ValueError(raw)
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _env(name: str, default: float, parse: type[int] | type[float] | None, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value: float = parse_size(raw) if parse is None else parse(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        kind = "a size in bytes (e.g. 8388608, 8MiB, 512k)" if parse is None else "a number"
        raise FederateError(
            f"{name} must be {kind} of at least {minimum:g}, got {raw!r}", INVALID_PARAMETER_VALUE
        )
    return value


@dataclass(frozen=True)
class TransferSettings:
    #: threads fetching files and ranges (``FEDERATE_MAX_WORKERS``)
    max_workers: int = 16
    #: bytes per ranged request of a large file (``FEDERATE_CHUNK_SIZE``)
    chunk_size: int = 8 * MiB
    #: files at least this big are split into ranges (``FEDERATE_MULTIPART_THRESHOLD``)
    multipart_threshold: int = 16 * MiB
    #: tries per file or range before giving up (``FEDERATE_MAX_ATTEMPTS``)
    max_attempts: int = 5
    #: first backoff in seconds, doubled per retry, with full jitter (``FEDERATE_RETRY_BACKOFF``)
    retry_backoff: float = 0.5
    #: longest single backoff in seconds
    retry_backoff_cap: float = 20.0

    @classmethod
    def from_env(cls) -> TransferSettings:
        return cls(
            max_workers=int(_env("FEDERATE_MAX_WORKERS", default_workers(), int, 1)),
            chunk_size=int(_env("FEDERATE_CHUNK_SIZE", cls.chunk_size, None, 64 * 1024)),
            multipart_threshold=int(
                _env("FEDERATE_MULTIPART_THRESHOLD", cls.multipart_threshold, None, 1)
            ),
            max_attempts=int(_env("FEDERATE_MAX_ATTEMPTS", cls.max_attempts, int, 1)),
            retry_backoff=_env("FEDERATE_RETRY_BACKOFF", cls.retry_backoff, float, 0),
        )


def default_workers() -> int:
    # network-bound, and reads and writes release the GIL: even 2 cores keep 16 streams
    # busy, which a store capping each connection (25 MB/s is common) needs
    return 16


def max_workers() -> int:
    """``FEDERATE_MAX_WORKERS`` or the default."""
    return TransferSettings.from_env().max_workers
