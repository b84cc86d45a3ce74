"""The tracking side of an MLflow server that its registry leans on: experiments and runs
(a version's files live in a run's artifacts) and MLflow 3 logged models
(``models:/<model_id>``).

What MLflow's client does, through the same REST calls:

- a new version's files are logged to a run first (the server accepts a version's source
  only inside the artifacts of the run named by ``run_id``); the run is made in the
  experiment ``MLFLOW_EXPERIMENT_ID`` names, else ``MLFLOW_EXPERIMENT_NAME`` (created if
  missing, as ``mlflow.set_experiment`` does), else the server's Default experiment ("0");
- ``runs:/<run_id>/<path>`` is the run's ``artifact_uri`` joined with ``<path>``, unless
  nothing is there and the run logged an MLflow 3 model of that name: then the logged
  model's artifacts (where MLflow 3's ``log_model`` puts the files);
- ``models:/<model_id>`` is the logged model's ``artifact_uri`` (no registry lookup).
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import quote, urlsplit

from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.registry.rest_client import RestClient

API = "/api/2.0/mlflow"
EXPERIMENT_ID_ENV = "MLFLOW_EXPERIMENT_ID"
EXPERIMENT_NAME_ENV = "MLFLOW_EXPERIMENT_NAME"
#: the experiment every MLflow server has
DEFAULT_EXPERIMENT_ID = "0"
RUNS_SCHEME = "runs"


def _field(answer: dict[str, Any], *names: str) -> Any:
    value: Any = answer
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>[/<path>]`` as (run id, path without slashes at the ends)."""
    parts = urlsplit(uri)
    run_id, _, path = parts.path.lstrip("/").partition("/")
    if parts.scheme.lower() != RUNS_SCHEME or parts.netloc or not run_id or parts.query:
        raise FederateError(
            f"Not a runs URI: {uri!r} (runs:/<run_id>/<path inside the run's artifacts>)",
            INVALID_PARAMETER_VALUE,
        )
    return run_id, path.strip("/")


def join(location: str, path: str) -> str:
    return f"{location.rstrip('/')}/{path}" if path else location


class Tracking:
    """Experiments, runs and logged models of one MLflow server."""

    def __init__(self, client: RestClient) -> None:
        self.client = client

    def _where(self) -> str:
        return f"{self.client.server.kind} {self.client.server.base_url}"

    # -- experiments and runs -------------------------------------------------------------

    def experiment_id(self) -> str:
        """The experiment new runs go to, as MLflow's client picks it."""
        explicit = os.environ.get(EXPERIMENT_ID_ENV, "").strip()
        if explicit:
            return explicit
        name = os.environ.get(EXPERIMENT_NAME_ENV, "").strip()
        if not name:
            return DEFAULT_EXPERIMENT_ID
        try:
            answer = self.client.get(f"{API}/experiments/get-by-name", {"experiment_name": name})
            found = _field(answer, "experiment", "experiment_id")
        except FederateError as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            found = _field(
                self.client.post(f"{API}/experiments/create", {"name": name}), "experiment_id"
            )
        if not found:
            raise FederateError(
                f"{self._where()} gave no id for the experiment {name!r}", INTERNAL_ERROR
            )
        return str(found)

    def create_run(self, run_name: str, tags: dict[str, str]) -> tuple[str, str]:
        """A new running run: (run id, artifact URI)."""
        answer = self.client.post(
            f"{API}/runs/create",
            {
                "experiment_id": self.experiment_id(),
                "start_time": int(time.time() * 1000),
                "run_name": run_name,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )
        run_id = _field(answer, "run", "info", "run_id")
        artifact_uri = _field(answer, "run", "info", "artifact_uri")
        if not run_id or not artifact_uri:
            raise FederateError(
                f"{self._where()} created a run without an id or artifact URI", INTERNAL_ERROR
            )
        return str(run_id), str(artifact_uri)

    def end_run(self, run_id: str, status: str) -> None:
        """Mark the run ``status`` (FINISHED, FAILED) now."""
        self.client.post(
            f"{API}/runs/update",
            {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)},
        )

    def delete_run(self, run_id: str) -> None:
        self.client.post(f"{API}/runs/delete", {"run_id": run_id})

    def run_artifact_uri(self, run_id: str) -> str:
        answer = self.client.get(f"{API}/runs/get", {"run_id": run_id})
        uri = _field(answer, "run", "info", "artifact_uri")
        if not uri:
            raise FederateError(
                f"{self._where()} gave run {run_id} no artifact URI", INTERNAL_ERROR
            )
        return str(uri)

    def _run_experiment(self, run_id: str) -> str:
        answer = self.client.get(f"{API}/runs/get", {"run_id": run_id})
        return str(_field(answer, "run", "info", "experiment_id") or "")

    # -- logged models --------------------------------------------------------------------

    def logged_model_location(self, model_id: str) -> str:
        """Where the files of the logged model ``model_id`` are (its ``artifact_uri``)."""
        answer = self.client.get(f"{API}/logged-models/{quote(model_id, safe='')}")
        uri = _field(answer, "model", "info", "artifact_uri")
        if not uri:
            raise FederateError(
                f"{self._where()} gave the logged model {model_id} no artifact URI",
                INTERNAL_ERROR,
            )
        return str(uri)

    def run_model_location(self, run_id: str, name: str) -> str | None:
        """The artifact URI of the logged model ``name`` that run ``run_id`` logged, if any
        (the newest such model, as MLflow's client takes the first it finds)."""
        experiment = self._run_experiment(run_id)
        token: str | None = None
        while True:
            body: dict[str, object] = {
                "experiment_ids": [experiment],
                "filter": f"name = '{name}'" if "'" not in name else "",
            }
            if token:
                body["page_token"] = token
            answer = self.client.post(f"{API}/logged-models/search", body)
            for model in answer.get("models") or []:
                info = _field(model, "info") or {}
                if info.get("source_run_id") == run_id and info.get("name") == name:
                    uri = info.get("artifact_uri")
                    return str(uri) if uri else None
            token = answer.get("next_page_token")
            if not token:
                return None

    def runs_uri_location(self, uri: str, has_files: Any) -> str:
        """Where ``runs:/<run_id>/<path>`` points, as MLflow resolves it: ``has_files`` is
        asked whether the run's own artifacts hold anything at the location."""
        run_id, path = parse_runs_uri(uri)
        location = join(self.run_artifact_uri(run_id), path)
        if not path or has_files(location):
            return location
        name, _, rest = path.partition("/")
        model = self.run_model_location(run_id, name)
        return join(model, rest) if model else location
