"""How long a failed job waits before its next attempt: exponential, capped.

Attempt ``n`` (the first retry is ``n = 0``) waits ``base * 2**n`` seconds, at most
``cap``; ``FEDERATE_JOBS_RETRY_BASE_SECONDS`` (1) and ``FEDERATE_JOBS_RETRY_MAX_SECONDS``
(300) set them.
"""

from __future__ import annotations

from dataclasses import dataclass

from federate.envvars import env_float


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 300.0

    def delay(self, retry_count: int) -> float:
        """Seconds to wait before the retry that follows ``retry_count`` earlier ones."""
        if retry_count >= 64:  # 2**64 seconds is past any cap
            return self.cap
        return min(self.cap, self.base * (2**retry_count))

    @classmethod
    def from_env(cls) -> Backoff:
        return cls(
            env_float("FEDERATE_JOBS_RETRY_BASE_SECONDS", 1.0, 0.0, "seconds before a retry"),
            env_float("FEDERATE_JOBS_RETRY_MAX_SECONDS", 300.0, 0.0, "longest wait"),
        )
