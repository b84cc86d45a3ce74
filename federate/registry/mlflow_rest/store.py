"""A running MLflow tracking server's model registry, read through its REST API.

Resolution asks the server what MLflow's own client asks it, so both give one answer:
a version by number (``model-versions/get``), ``@alias`` (``registered-models/alias``),
a stage or ``latest`` (``registered-models/get-latest-versions``, the highest of the
versions it returns, for that stage or over all stages). The files are where
``model-versions/get-download-uri`` says (the ``storage_location`` of the version
returned): an ``mlflow-artifacts:`` location is read through the server's artifact proxy
(:mod:`federate.repos.mlflow_artifacts`), any other (``s3://``, a path) by the repository
for its scheme, with the caller's own credentials; a ``runs:/`` download URI is the run's
artifacts (:mod:`.tracking`). ``models:/<model_id>`` (an MLflow 3 logged model) is the
logged model's files, not a registry version: version 0 of a "model" named by its id.

Writes are MLflow's client's (:mod:`.writes`): the files go to a new run's artifacts
first, then the version is created from them, READY at once (an MLflow server has no
pending versions), so ``latest`` never names a version whose files are not all there.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

from federate.config import RegistryConfig
from federate.credentials import ScopedCredentials
from federate.entities import ModelVersion, PagedList, RegisteredModel
from federate.errors import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.names import check_alias
from federate.registry.base import Registry, as_version
from federate.registry.mlflow_rest import wire
from federate.registry.mlflow_rest.server import server_for
from federate.registry.mlflow_rest.tracking import RUNS_SCHEME, Tracking
from federate.registry.mlflow_rest.writes import MlflowWrites
from federate.registry.rest_client import RestClient
from federate.uri import ModelRef, parse_uri

API = "/api/2.0/mlflow"


class MlflowServerRegistry(MlflowWrites, Registry):
    """The registry of the MLflow tracking server (or Databricks workspace) ``config.uri``
    names."""

    keeps_pending_versions = False  # versions exist once their files are stored

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self.server = server_for(config.uri)
        self.client = RestClient(self.server)
        self.tracking = Tracking(self.client)

    def __repr__(self) -> str:
        return f"MlflowServerRegistry({self.server.base_url!r})"

    # -- resolution --------------------------------------------------------------------

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        """The version ``ref`` means, its ``storage_location`` the server's download URI."""
        if isinstance(ref, str):
            ref = parse_uri(ref)
        if ref.model_id is not None and not ref.is_prompt:
            return self.get_model_version_by_model_id(ref.model_id)
        mv = super().resolve(ref)
        location = self.get_model_version_download_uri(mv.name, mv.version)
        if location.lower().startswith(RUNS_SCHEME + ":"):
            location = self.tracking.runs_uri_location(location, self._has_files)
        return dataclasses.replace(mv, storage_location=location)

    def get_model_version_by_model_id(self, model_id: str) -> ModelVersion:
        """The logged model ``model_id`` as version 0 of a model named by its id (logged
        models are not registry versions; 0 keeps them apart from any registered one)."""
        location = self.tracking.logged_model_location(model_id)
        return ModelVersion(
            name=model_id,
            version=0,
            creation_timestamp=0,
            last_updated_timestamp=0,
            source=f"models:/{model_id}",
            storage_location=location,
            model_id=model_id,
        )

    def _has_files(self, location: str) -> bool:
        """Whether anything is stored at ``location`` (a run's artifacts)."""
        from federate.plugins.manager import get_plugin_host

        stub = ModelVersion("", 0, 0, 0, storage_location=location)
        repo = get_plugin_host().open_repo(location, self.read_credentials(stub))
        try:
            return bool(repo.list(""))
        except FederateError as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                return False
            raise

    def get_registered_model(self, name: str) -> RegisteredModel:
        answer = self.client.get(f"{API}/registered-models/get", {"name": name})
        return wire.registered_model(answer.get("registered_model"), name)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        answer = self.client.get(
            f"{API}/model-versions/get", {"name": name, "version": str(as_version(version))}
        )
        return wire.model_version(answer.get("model_version"), name)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        check_alias(alias, lookup=True)
        answer = self.client.get(f"{API}/registered-models/alias", {"name": name, "alias": alias})
        return wire.model_version(answer.get("model_version"), name)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (all stages if None), as the server
        answers: stage names in any case, an unknown stage refused by the server."""
        body: dict[str, object] = {"name": name}
        if stages:
            body["stages"] = list(stages)
        answer = self.client.post(f"{API}/registered-models/get-latest-versions", body)
        return wire.model_versions(answer.get("model_versions"), name)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of the server's own search (MLflow's filter grammar: ``name = '...'``,
        ``tags.`key` = '...'``, ``run_id``...), as the server answers it."""
        params: list[tuple[str, str]] = [("max_results", str(max_results))]
        if filter_string:
            params.append(("filter", filter_string))
        params += [("order_by", clause) for clause in order_by or []]
        if page_token:
            params.append(("page_token", page_token))
        answer = self.client.get(f"{API}/model-versions/search?{urlencode(params)}")
        token = answer.get("next_page_token")
        return PagedList(
            wire.model_versions(answer.get("model_versions"), ""), str(token) if token else None
        )

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        answer = self.client.get(
            f"{API}/model-versions/get-download-uri",
            {"name": name, "version": str(as_version(version))},
        )
        uri = answer.get("artifact_uri")
        if not isinstance(uri, str) or not uri:
            raise FederateError(
                f"{self.server.kind} {self.server.base_url} gave no download URI for "
                f"{name!r} version {version}",
                INTERNAL_ERROR,
            )
        return uri

    # -- files -------------------------------------------------------------------------

    def read_credentials(self, model_version: ModelVersion) -> ScopedCredentials | None:
        """For ``mlflow-artifacts:`` files, which server proxies them (this one); None for
        a store the caller reads with their own credentials."""
        from federate.repos.mlflow_artifacts import SCHEME, server_credentials

        location = model_version.download_uri or ""
        if location.lower().startswith(SCHEME + ":"):
            return server_credentials(self.config.uri)
        return None
