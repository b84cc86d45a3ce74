"""The values registries and repositories hand back: plain, typed, immutable records.

Field names follow MLflow's entities so code written against MlflowClient reads the
same attributes here. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

T = TypeVar("T")

# Model version statuses, as MLflow names them.
PENDING_REGISTRATION = "PENDING_REGISTRATION"
FAILED_REGISTRATION = "FAILED_REGISTRATION"
READY = "READY"


class PagedList(list, Generic[T]):  # type: ignore[type-arg]
    """A list of results plus ``token``, the page token for the next page (None at the end)."""

    def __init__(self, items: Iterable[T], token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str = "None"
    source: str | None = None
    storage_location: str | None = None
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def download_uri(self) -> str | None:
        """Where the version's files live: the registry's copy if it made one, else the source."""
        return self.storage_location or self.source


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: tuple[ModelVersion, ...] = ()


_PROMPT_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class PromptVersion:
    name: str
    version: int
    template: str
    creation_timestamp: int
    last_updated_timestamp: int
    commit_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def variables(self) -> list[str]:
        """The ``{{ name }}`` placeholders of the template, in order of first use."""
        return list(dict.fromkeys(_PROMPT_VARIABLE.findall(self.template)))

    def format(self, **values: object) -> str:
        """Fill the ``{{ name }}`` placeholders; every placeholder needs a value."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise FederateError(
                f"Prompt {self.name!r} version {self.version} needs values for {missing}",
                INVALID_PARAMETER_VALUE,
            )
        return _PROMPT_VARIABLE.sub(lambda m: str(values[m.group(1)]), self.template)


@dataclass(frozen=True)
class Prompt:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None


@dataclass(frozen=True)
class FileInfo:
    """One entry of a repository listing; ``path`` is relative to the listed root, '/'-separated.

    ``checksum`` is ``<algorithm>:<base64 digest>`` of the whole file when the store keeps
    one (``crc32c:...``, ``sha256:...``). ``etag`` is the store's entity tag, unquoted;
    ``etag_kind`` says what it can verify: ``md5`` (the MD5 of the bytes, hex),
    ``multipart`` (S3's MD5 of the part MD5s with a ``-<parts>`` suffix), or None (opaque).
    """

    path: str
    is_dir: bool
    file_size: int | None = None
    checksum: str | None = None
    etag: str | None = None
    etag_kind: str | None = None
