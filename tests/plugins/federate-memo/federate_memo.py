"""A tiny third-party federate plugin used by federate's own tests.

* ``memo:///path/index.json``: a read-only registry kept as a JSON index
  ``{"models": {"<name>": {"versions": {"1": "<location>"}, "aliases": {"a": 1}}}}``.
* ``file``: takes over the built-in local repository, appending every location it
  opens to the file named by ``FEDERATE_MEMO_LOG``, so a test can see the takeover.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from federate.entities import ModelVersion, RegisteredModel
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.plugins import RegistryPlugin, RepoPlugin, hookimpl
from federate.registry import Registry
from federate.registry.base import as_version
from federate.repos.local import LocalArtifactRepository


class MemoRegistry(Registry):
    def _index(self) -> dict:
        path = Path(self.uri.removeprefix("memo://"))
        return json.loads(path.read_text())["models"]

    def _model(self, name: str) -> dict:
        models = self._index()
        if name not in models:
            raise FederateError(f"memo: no model {name!r}", RESOURCE_DOES_NOT_EXIST)
        return models[name]

    def _version(self, name: str, number: int) -> ModelVersion:
        model = self._model(name)
        location = model["versions"].get(str(number))
        if location is None:
            raise FederateError(f"memo: {name!r} has no version {number}", RESOURCE_DOES_NOT_EXIST)
        aliases = tuple(a for a, v in model.get("aliases", {}).items() if v == number)
        return ModelVersion(name, number, 0, 0, source=location, aliases=aliases)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel(name, 0, 0, aliases=dict(self._model(name).get("aliases", {})))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self._version(name, as_version(version))

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        numbers = [int(v) for v in self._model(name)["versions"]]
        return [self._version(name, max(numbers))] if numbers else []

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        number = self._model(name).get("aliases", {}).get(alias)
        if number is None:
            raise FederateError(f"memo: {name!r} has no alias {alias!r}", RESOURCE_DOES_NOT_EXIST)
        return self._version(name, number)


def open_logged_local(location, credentials, refresh):
    log = os.environ.get("FEDERATE_MEMO_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(location + "\n")
    return LocalArtifactRepository(location, credentials, refresh)


@hookimpl
def federate_registries():
    return [RegistryPlugin("memo", ("memo",), MemoRegistry, "JSON index registry (tests)")]


@hookimpl
def federate_artifact_repos():
    return [RepoPlugin("logged-local", ("file",), open_logged_local, "logging local repo")]
