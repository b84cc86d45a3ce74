"""The values registries and repositories hand back: plain, typed, immutable records.

Field names follow MLflow's entities so code written against MlflowClient reads the
same attributes here. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

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

    ``checksum`` holds what the store knows about the content as ``"<algorithm>:<digest>"``
    (``md5``, ``crc32``, ``crc32c`` or ``sha256``; hex or base64; several separated by commas),
    which the download engine verifies. ``etag`` is the store's entity tag, unquoted and
    otherwise opaque: the engine only resumes a partial download whose etag (or checksum) is
    unchanged. ``etag_kind`` says whether the etag can verify content: ``md5`` (the MD5 of
    the bytes, hex), ``multipart`` (S3's MD5 of the part MD5s with a ``-<parts>`` suffix), or
    None (opaque).
    """

    path: str
    is_dir: bool
    file_size: int | None = None
    checksum: str | None = None
    etag: str | None = None
    etag_kind: str | None = None


class WebhookEvent(str, Enum):
    """The registry changes (and ends of jobs queued in the registry's database) a
    webhook can subscribe to; the value is the wire name."""

    REGISTERED_MODEL_CREATED = "registered_model.created"
    MODEL_VERSION_CREATED = "model_version.created"
    MODEL_VERSION_TAG_SET = "model_version_tag.set"
    MODEL_VERSION_TAG_DELETED = "model_version_tag.deleted"
    MODEL_VERSION_ALIAS_CREATED = "model_version_alias.created"
    MODEL_VERSION_ALIAS_DELETED = "model_version_alias.deleted"
    PROMPT_CREATED = "prompt.created"
    PROMPT_VERSION_CREATED = "prompt_version.created"
    PROMPT_ALIAS_CREATED = "prompt_alias.created"
    PROMPT_ALIAS_DELETED = "prompt_alias.deleted"
    #: a queued job (copy, mirror) ended: SUCCEEDED; FAILED or TIMEOUT
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"

    def __str__(self) -> str:
        return self.value


# Webhook statuses: only ACTIVE webhooks receive events.
WEBHOOK_ACTIVE = "ACTIVE"
WEBHOOK_DISABLED = "DISABLED"


@dataclass(frozen=True)
class Webhook:
    """A registered webhook. Its signing secret stays in the registry: this record only
    says whether there is one (``has_secret``)."""

    id: str
    name: str
    url: str
    events: tuple[WebhookEvent, ...]
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    status: str = WEBHOOK_ACTIVE
    has_secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["events"] = [event.value for event in self.events]
        return data


@dataclass(frozen=True)
class WebhookTestResult:
    """What happened when a test event was sent to a webhook (one attempt, no retry)."""

    success: bool
    delivery_id: str
    event: WebhookEvent
    status_code: int | None = None
    response_body: str | None = None
    error_message: str | None = None
