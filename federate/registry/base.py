"""The contract every registry plugin implements.

Method names, arguments and semantics mirror MlflowClient's registry methods, so code
moves between the two unchanged: tags are plain dicts, versions may be int or str,
``get_latest_versions`` answers per stage. On top of that, :meth:`Registry.resolve` turns
a parsed URI into one version and :meth:`Registry.read_credentials` hands out scoped
read credentials where the registry vends them.

Read-only registries implement the read methods; every write method here raises
FederateError(NOT_IMPLEMENTED) until overridden.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from federate.config import RegistryConfig
from federate.credentials import ScopedCredentials
from federate.entities import (
    WEBHOOK_ACTIVE,
    ModelVersion,
    PagedList,
    Prompt,
    PromptVersion,
    RegisteredModel,
    Webhook,
    WebhookEvent,
    WebhookTestResult,
)
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.names import check_alias, check_name
from federate.uri import STAGES, ModelRef, canonical_stage, parse_uri

__all__ = ["MAX_VERSION", "Registry", "as_version", "check_alias", "check_name", "check_stage"]

#: The largest version number: registries keep versions in a 32-bit signed integer column.
MAX_VERSION = 2**31 - 1


def as_version(version: int | str) -> int:
    """Accept 3, "3" (MLflow passes strings); anything else is INVALID_PARAMETER_VALUE."""
    if isinstance(version, bool):
        raise FederateError(f"Invalid version {version!r}", INVALID_PARAMETER_VALUE)
    if isinstance(version, int):
        value = version
    elif isinstance(version, str) and version.strip().isascii() and version.strip().isdigit():
        value = int(version.strip())
    else:
        raise FederateError(
            f"Invalid version {version!r}: a version is a positive integer", INVALID_PARAMETER_VALUE
        )
    if not 1 <= value <= MAX_VERSION:
        raise FederateError(
            f"Invalid version {version!r}: versions run from 1 to {MAX_VERSION}",
            INVALID_PARAMETER_VALUE,
        )
    return value


def check_stage(stage: str) -> str:
    """The canonical stage name; INVALID_PARAMETER_VALUE listing the stages otherwise."""
    canonical = canonical_stage(stage) if isinstance(stage, str) else None
    if canonical is None:
        raise FederateError(
            f"Invalid stage {stage!r}. Stages are {', '.join(STAGES)} (any case).",
            INVALID_PARAMETER_VALUE,
        )
    return canonical


class Registry(ABC):
    """A model registry. ``config`` says which one and where ``register`` stores files."""

    #: Whether a version created ``PENDING_REGISTRATION`` is a row others can see and
    #: update while its files upload (SQL, Unity Catalog). False for a registry that numbers
    #: a version only once its files are stored (an MLflow server): the pending version is
    #: then a local record, and a copy's heartbeat has nothing to touch.
    keeps_pending_versions: bool = True

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config

    @property
    def uri(self) -> str:
        return self.config.uri

    @property
    def artifact_root(self) -> str:
        return self.config.artifact_root

    def _not_implemented(self, op: str) -> FederateError:
        return FederateError(
            f"{type(self).__name__} is read-only: {op} is not supported by this registry.",
            NOT_IMPLEMENTED,
        )

    # -- resolution ----------------------------------------------------------------------

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        """The one model version a models:/ URI means.

        Raises RESOURCE_DOES_NOT_EXIST naming the model, version, stage or alias missing.
        """
        if isinstance(ref, str):
            ref = parse_uri(ref)
        if ref.is_prompt:
            raise FederateError(
                f"{ref} is a prompt URI; use load_prompt() for prompts", INVALID_PARAMETER_VALUE
            )
        if ref.model_id is not None:
            return self.get_model_version_by_model_id(ref.model_id)
        assert ref.name is not None
        if ref.version is not None:
            return self.get_model_version(ref.name, ref.version)
        if ref.alias is not None:
            return self.get_model_version_by_alias(ref.name, ref.alias)
        return self.get_latest_version(ref.name, ref.stage)

    def get_latest_version(self, name: str, stage: str | None = None) -> ModelVersion:
        """The highest version of ``name`` (within ``stage`` if given)."""
        stages = None if stage is None else [stage]
        latest = self.get_latest_versions(name, stages)
        if not latest:
            where = "" if stage is None else f" in stage {check_stage(stage)!r}"
            raise FederateError(
                f"Registered model {name!r} has no versions{where}", RESOURCE_DOES_NOT_EXIST
            )
        return max(latest, key=lambda mv: mv.version)

    def get_model_version_by_model_id(self, model_id: str) -> ModelVersion:
        raise FederateError(
            f"No model version with model id {model_id!r} in this registry "
            f"(did you mean models:/{model_id}/latest?)",
            RESOURCE_DOES_NOT_EXIST,
        )

    def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Scoped read credentials for ``model_version``'s files, or None to use the
        repository's own credential chain (the default)."""
        return None

    def resolve_prompt(self, ref: ModelRef | str) -> PromptVersion:
        if isinstance(ref, str):
            ref = parse_uri(ref)
        if not ref.is_prompt:
            raise FederateError(f"{ref} is not a prompts:/ URI", INVALID_PARAMETER_VALUE)
        assert ref.name is not None
        if ref.version is not None:
            return self.get_prompt_version(ref.name, ref.version)
        assert ref.alias is not None
        return self.get_prompt_version_by_alias(ref.name, ref.alias)

    # -- registered models: reads ---------------------------------------------------------

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def get_model_version(self, name: str, version: int | str) -> ModelVersion: ...

    @abstractmethod
    def get_latest_versions(
        self, name: str, stages: list[str] | None = None
    ) -> list[ModelVersion]: ...

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        mv = self.get_model_version(name, version)
        if mv.download_uri is None:
            raise FederateError(
                f"Model {name!r} version {mv.version} has no storage location",
                RESOURCE_DOES_NOT_EXIST,
            )
        return mv.download_uri

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        raise self._not_implemented("search_registered_models")

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        raise self._not_implemented("search_model_versions")

    # -- registered models: writes --------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        raise self._not_implemented("create_registered_model")

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        raise self._not_implemented("rename_registered_model")

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        raise self._not_implemented("update_registered_model")

    def delete_registered_model(self, name: str) -> None:
        raise self._not_implemented("delete_registered_model")

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> ModelVersion:
        raise self._not_implemented("create_model_version")

    def finish_model_version(
        self, name: str, version: int | str, storage_location: str
    ) -> ModelVersion:
        """Mark a version created with ``status=PENDING_REGISTRATION`` READY, its files now
        at ``storage_location``. Used by :func:`federate.register`."""
        raise self._not_implemented("finish_model_version")

    def complete_registration(self, pending: ModelVersion, storage_location: str) -> ModelVersion:
        """The version :func:`federate.register` made ``pending``, its files now stored at
        ``storage_location``: by default :meth:`finish_model_version`. A registry that
        numbers a version only once its files are stored (an MLflow server) creates it
        here, so the version returned may carry another number than ``pending``."""
        return self.finish_model_version(pending.name, pending.version, storage_location)

    def abandon_registration(self, pending: ModelVersion) -> None:
        """Undo ``pending`` after its files failed to store: by default
        :meth:`delete_model_version` (its number is not reused)."""
        self.delete_model_version(pending.name, pending.version)

    def upload_location(self, model_version: ModelVersion) -> str | None:
        """Where :func:`federate.register` stores the files of ``model_version`` (created
        ``PENDING_REGISTRATION``) when the registry decides, as Unity Catalog does; None
        (the default): register picks ``<artifact_root>/models/<name>/<version>``."""
        return None

    def write_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Scoped credentials to write ``model_version``'s files at its
        :meth:`upload_location`, or None to use the repository's own credential chain
        (the default). Called again to renew them."""
        return None

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        raise self._not_implemented("update_model_version")

    def delete_model_version(self, name: str, version: int | str) -> None:
        raise self._not_implemented("delete_model_version")

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        raise self._not_implemented("transition_model_version_stage")

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        raise self._not_implemented("set_registered_model_tag")

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        raise self._not_implemented("delete_registered_model_tag")

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        raise self._not_implemented("set_model_version_tag")

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        raise self._not_implemented("delete_model_version_tag")

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        raise self._not_implemented("set_registered_model_alias")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        raise self._not_implemented("delete_registered_model_alias")

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Register the version ``src_model_uri`` names as a new version of ``dst_name``
        (created if missing), pointing at the same files."""
        src = self.resolve(src_model_uri)
        try:
            self.get_registered_model(dst_name)
        except FederateError as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            self.create_registered_model(dst_name)
        return self.create_model_version(
            dst_name,
            src.download_uri or "",
            run_id=src.run_id,
            tags=dict(src.tags),
            run_link=src.run_link,
            description=src.description,
            model_id=src.model_id,
        )

    # -- prompts ---------------------------------------------------------------------------

    def register_prompt(
        self,
        name: str,
        template: str,
        commit_message: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> PromptVersion:
        raise self._not_implemented("register_prompt")

    def get_prompt(self, name: str) -> Prompt:
        raise self._not_implemented("get_prompt")

    def search_prompts(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[Prompt]:
        raise self._not_implemented("search_prompts")

    def get_prompt_version(self, name: str, version: int | str) -> PromptVersion:
        raise self._not_implemented("get_prompt_version")

    def get_prompt_version_by_alias(self, name: str, alias: str) -> PromptVersion:
        raise self._not_implemented("get_prompt_version_by_alias")

    def search_prompt_versions(
        self, name: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[PromptVersion]:
        raise self._not_implemented("search_prompt_versions")

    def set_prompt_alias(self, name: str, alias: str, version: int | str) -> None:
        raise self._not_implemented("set_prompt_alias")

    def delete_prompt_alias(self, name: str, alias: str) -> None:
        raise self._not_implemented("delete_prompt_alias")

    def set_prompt_tag(self, name: str, key: str, value: str) -> None:
        raise self._not_implemented("set_prompt_tag")

    def delete_prompt_tag(self, name: str, key: str) -> None:
        raise self._not_implemented("delete_prompt_tag")

    def delete_prompt_version(self, name: str, version: int | str) -> None:
        raise self._not_implemented("delete_prompt_version")

    def delete_prompt(self, name: str) -> None:
        raise self._not_implemented("delete_prompt")

    def load_prompt(self, name_or_uri: str, version: int | str | None = None) -> PromptVersion:
        """MLflow's ``load_prompt``: a prompts:/ URI, or a name plus a version."""
        if name_or_uri.startswith("prompts:"):
            return self.resolve_prompt(name_or_uri)
        if version is None:
            raise FederateError(
                f"load_prompt({name_or_uri!r}) needs a version, or pass a URI such as "
                f"prompts:/{name_or_uri}@<alias>",
                INVALID_PARAMETER_VALUE,
            )
        return self.get_prompt_version(name_or_uri, version)

    # -- webhooks ------------------------------------------------------------------------
    # Registries that keep webhooks override all six; deliveries are POSTs signed as
    # described in federate.webhooks.signing.

    def _no_webhooks(self, op: str) -> FederateError:
        return FederateError(
            f"{type(self).__name__} does not support webhooks ({op})", NOT_IMPLEMENTED
        )

    def create_webhook(
        self,
        name: str,
        url: str,
        events: list[str] | list[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: str = WEBHOOK_ACTIVE,
    ) -> Webhook:
        raise self._no_webhooks("create_webhook")

    def get_webhook(self, webhook_id: str) -> Webhook:
        raise self._no_webhooks("get_webhook")

    def list_webhooks(
        self, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[Webhook]:
        raise self._no_webhooks("list_webhooks")

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        url: str | None = None,
        events: list[str] | list[WebhookEvent] | None = None,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        raise self._no_webhooks("update_webhook")

    def delete_webhook(self, webhook_id: str) -> None:
        raise self._no_webhooks("delete_webhook")

    def test_webhook(
        self, webhook_id: str, event: str | WebhookEvent | None = None
    ) -> WebhookTestResult:
        raise self._no_webhooks("test_webhook")
