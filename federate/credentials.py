"""Short-lived, scoped credentials that registries hand to artifact repositories.

A registry that vends credentials for one model version (Unity Catalog style) returns a
:class:`ScopedCredentials`; the repository gets it at construction together with a
refresh callback. The values are secrets: they never appear in ``repr`` or messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScopedCredentials:
    """``kind`` names the credential family (``aws_session``, ``azure_sas``, ``gcp_oauth``,
    ``presigned_urls`` ...); ``values`` holds its fields; ``expires_at`` is epoch seconds."""

    kind: str
    values: Mapping[str, str] = field(repr=False)
    expires_at: float | None = None

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at is not None and self.expires_at - time.time() <= seconds

    def __repr__(self) -> str:
        return (
            f"ScopedCredentials(kind={self.kind!r}, fields={sorted(self.values)!r}, "
            f"expires_at={self.expires_at!r})"
        )


CredentialRefresher = Callable[[], "ScopedCredentials | None"]
