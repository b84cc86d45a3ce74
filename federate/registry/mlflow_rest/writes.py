"""Writes to an MLflow server's registry, as MLflow's own client makes them.

:func:`federate.register` against a server goes: ``registered-models/create`` (an
existing model is kept), a new run (:meth:`Tracking.create_run`) whose artifacts under
:data:`ARTIFACT_PATH` are where the files go (``mlflow-artifacts:`` through the server's
proxy, any other store with the caller's credentials), then ``model-versions/create``
with that ``run_id`` and a source inside the run's artifacts (the only source the server
accepts with a run), and the run marked FINISHED. The version is READY when created, so
it is created only once every file is stored; until then the pending record is local,
version 0. A failed upload marks the run FAILED and deletes it: no version is left.

Tags, aliases, stage transitions, descriptions and deletions are the REST calls of the
same names.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

from federate.credentials import ScopedCredentials
from federate.entities import PENDING_REGISTRATION, ModelVersion, RegisteredModel
from federate.names import check_alias
from federate.registry.base import as_version
from federate.registry.mlflow_rest import wire
from federate.registry.mlflow_rest.tracking import join

if TYPE_CHECKING:
    from federate.registry.mlflow_rest.tracking import Tracking
    from federate.registry.rest_client import RestClient, RestServer

API = "/api/2.0/mlflow"
#: where in the run's artifacts a registered version's files go (MLflow's classic
#: ``log_model(artifact_path="model")``)
ARTIFACT_PATH = "model"
#: the run tag MLflow's client sets to say who ran it
USER_TAG = "mlflow.user"


def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (tags or {}).items()]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or passwd
        return ""


class MlflowWrites:
    """The write half of :class:`~federate.registry.mlflow_rest.store.MlflowServerRegistry`."""

    client: RestClient
    server: RestServer
    tracking: Tracking

    if TYPE_CHECKING:  # the registry's own

        def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None: ...

    # -- registered models ----------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _tags(tags)}
        if description is not None:
            body["description"] = description
        answer = self.client.post(f"{API}/registered-models/create", body)
        return wire.registered_model(answer.get("registered_model"), name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        answer = self.client.post(
            f"{API}/registered-models/rename", {"name": name, "new_name": new_name}
        )
        return wire.registered_model(answer.get("registered_model"), new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        answer = self.client.patch(
            f"{API}/registered-models/update", {"name": name, "description": description or ""}
        )
        return wire.registered_model(answer.get("registered_model"), name)

    def delete_registered_model(self, name: str) -> None:
        self.client.delete(f"{API}/registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.client.post(
            f"{API}/registered-models/set-tag", {"name": name, "key": key, "value": value}
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.client.delete(f"{API}/registered-models/delete-tag", {"name": name, "key": key})

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        self.client.post(
            f"{API}/registered-models/alias",
            {"name": name, "alias": alias, "version": str(as_version(version))},
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.client.delete(f"{API}/registered-models/alias", {"name": name, "alias": alias})

    # -- versions -------------------------------------------------------------------------

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
        """A version from files already stored (``source`` inside the artifacts of
        ``run_id`` or of the logged model ``model_id``, or ``models:/<name>/<version>``);
        with ``status=PENDING_REGISTRATION`` (:func:`federate.register`): a new run to
        store the files in, and a local pending record (version 0) naming it."""
        if kwargs.get("status") == PENDING_REGISTRATION:
            run_id, artifact_uri = self.tracking.create_run(
                f"federate-register-{name}", {USER_TAG: _user()} if _user() else {}
            )
            return ModelVersion(
                name=name,
                version=0,
                creation_timestamp=0,
                last_updated_timestamp=0,
                source=source,
                storage_location=join(artifact_uri, ARTIFACT_PATH),
                description=description,
                run_id=run_id,
                status=PENDING_REGISTRATION,
                tags=dict(tags or {}),
            )
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tags(tags)}
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value:
                body[key] = value
        answer = self.client.post(f"{API}/model-versions/create", body)
        return wire.model_version(answer.get("model_version"), name)

    def upload_location(self, model_version: ModelVersion) -> str | None:
        """The pending version's place in its run's artifacts."""
        return model_version.storage_location

    def write_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """Which server proxies the files (``mlflow-artifacts:``); None for a store
        written with the caller's own credentials."""
        return self.read_credentials(model_version)

    def complete_registration(self, pending: ModelVersion, storage_location: str) -> ModelVersion:
        """Create the version from the run's stored files, then finish the run."""
        assert pending.run_id is not None
        mv = self.create_model_version(
            pending.name,
            storage_location,
            run_id=pending.run_id,
            tags=pending.tags,
            description=pending.description,
        )
        self.tracking.end_run(pending.run_id, "FINISHED")
        return mv

    def abandon_registration(self, pending: ModelVersion) -> None:
        """The run of a failed upload, marked FAILED and deleted (no version was made)."""
        if pending.version:  # a version the server numbered: delete it
            self.delete_model_version(pending.name, pending.version)
            return
        if pending.run_id:
            self.tracking.end_run(pending.run_id, "FAILED")
            self.tracking.delete_run(pending.run_id)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        answer = self.client.patch(
            f"{API}/model-versions/update",
            {"name": name, "version": str(as_version(version)), "description": description or ""},
        )
        return wire.model_version(answer.get("model_version"), name)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.client.delete(
            f"{API}/model-versions/delete", {"name": name, "version": str(as_version(version))}
        )

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        answer = self.client.post(
            f"{API}/model-versions/transition-stage",
            {
                "name": name,
                "version": str(as_version(version)),
                "stage": stage,
                "archive_existing_versions": archive_existing_versions,
            },
        )
        return wire.model_version(answer.get("model_version"), name)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        self.client.post(
            f"{API}/model-versions/set-tag",
            {"name": name, "version": str(as_version(version)), "key": key, "value": value},
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.client.delete(
            f"{API}/model-versions/delete-tag",
            {"name": name, "version": str(as_version(version)), "key": key},
        )
