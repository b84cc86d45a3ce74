"""What the fake workspace (:mod:`federate.testing.uc_workspace`) keeps and refuses with.

Its registered models and their versions (``FakeModel``, ``FakeVersion``, each rendering
itself as the MLflow dialect's message), the log of requests it answered (``Request``),
and :class:`Refusal`, the error a route raises to answer ``{"error_code": ...,
"message": ...}`` with a status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the prefix of MLflow's Unity Catalog dialect
API = "/api/2.0/mlflow/unity-catalog"
READY = "READY"
PENDING = "PENDING_REGISTRATION"
FAILED = "FAILED_REGISTRATION"

#: the ``error_code`` a workspace sends with each scripted status
_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


class Refusal(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _CODES.get(status, "INTERNAL_ERROR")


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


@dataclass
class FakeVersion:
    name: str
    version: int
    status: str
    storage_location: str
    source: str
    created_ms: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def message(self, aliases: list[str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.created_ms,
            "last_updated_timestamp": self.created_ms,
            "user_id": "fake@example.com",
            "source": self.source,
            "status": self.status,
            "storage_location": self.storage_location,
            "description": self.description,
            "aliases": [{"alias": a, "version": str(self.version)} for a in aliases],
            "tags": _tag_list(self.tags),
        }


@dataclass
class FakeModel:
    name: str
    created_ms: int
    versions: dict[int, FakeVersion] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: where new versions' files go (``<storage root>/models/<uuid>``)
    storage_location: str = ""
    #: versions ever created: numbers are not reused after a delete
    last_version: int = 0

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def message(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "creation_timestamp": self.created_ms,
            "last_updated_timestamp": self.created_ms,
            "description": self.description,
            "storage_location": self.storage_location,
            "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(self.aliases.items())],
            "tags": _tag_list(self.tags),
        }


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any]
    status: int
