"""The index registry: resolves models:/ URIs from a JSON index file read through any store.

The index (format 1)::

    {
      "federate_index": 1,
      "models": {
        "fraud": {
          "description": "card fraud scorer",
          "tags": {"team": "risk"},
          "aliases": {"champion": 2},
          "versions": {
            "1": "fraud/1",
            "2": {"source": "s3://models/fraud/2", "stage": "Production",
                  "tags": {"auc": "0.91"}, "description": "retrained", "run_id": "r-12"}
          }
        }
      }
    }

A version is its source location, or an object with ``source`` and optional fields.
A relative source is resolved against the index's own folder, so an index stored next to
its models can be copied elsewhere whole. Resolution follows federate's (and MLflow's)
rules: ``latest`` is the highest version, a stage URI the highest version in that stage.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from federate.config import RegistryConfig
from federate.entities import ModelVersion, RegisteredModel
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError, redact
from federate.plugins.manager import get_plugin_host
from federate.registry import Registry
from federate.registry.base import as_version, check_stage

#: The index format this registry reads.
INDEX_FORMAT = 1
PREFIX = "index+"


@dataclass(frozen=True)
class IndexedModel:
    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: dict[int, ModelVersion] = field(default_factory=dict)


def index_location(uri: str) -> str:
    """``index+file:///srv/r/index.json`` -> ``file:///srv/r/index.json``."""
    if not uri.lower().startswith(PREFIX) or len(uri) == len(PREFIX):
        raise FederateError(
            f"Index registry URI {redact(uri)!r} names no index file; write index+<location>, "
            "for example index+file:///srv/registry/index.json or index+s3://bucket/index.json",
            INVALID_PARAMETER_VALUE,
        )
    return uri[len(PREFIX) :]


def _is_absolute(source: str) -> bool:
    head, sep, _ = source.partition(":")
    has_scheme = bool(sep) and "/" not in head and len(head) > 1
    return has_scheme or source.startswith("/")


class _Parser:
    """Turns the decoded JSON into models, naming the exact spot of any mistake."""

    def __init__(self, where: str, base: str) -> None:
        self.where = where
        self.base = base

    def bad(self, path: str, problem: str) -> FederateError:
        return FederateError(
            f"Index {self.where} is malformed at {path}: {problem}", INVALID_PARAMETER_VALUE
        )

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.bad(path, f"expected an object, found {type(value).__name__}")
        return value

    def strings(self, value: Any, path: str) -> dict[str, str]:
        out = self.mapping(value, path)
        for key, item in out.items():
            if not isinstance(item, str):
                raise self.bad(f"{path}.{key}", "tag values are strings")
        return dict(out)

    def number(self, value: Any, path: str) -> int:
        try:
            return as_version(value)
        except FederateError as err:
            raise self.bad(path, err.message) from None

    def index(self, doc: Any) -> dict[str, IndexedModel]:
        doc = self.mapping(doc, "the top level")
        if doc.get("federate_index") != INDEX_FORMAT:
            raise self.bad(
                "federate_index",
                f"this plugin reads format {INDEX_FORMAT}, found {doc.get('federate_index')!r}",
            )
        models = self.mapping(doc.get("models", {}), "models")
        return {name: self.model(name, body) for name, body in models.items()}

    def model(self, name: str, body: Any) -> IndexedModel:
        path = f"models.{name}"
        body = self.mapping(body, path)
        aliases = {
            alias: self.number(number, f"{path}.aliases.{alias}")
            for alias, number in self.mapping(body.get("aliases", {}), f"{path}.aliases").items()
        }
        raw_versions = self.mapping(body.get("versions", {}), f"{path}.versions")
        versions = {}
        for key, entry in raw_versions.items():
            number = self.number(key, f"{path}.versions.{key}")
            names = tuple(sorted(a for a, n in aliases.items() if n == number))
            versions[number] = self.version(name, number, entry, names, f"{path}.versions.{key}")
        for alias, number in aliases.items():
            if number not in versions:
                raise self.bad(f"{path}.aliases.{alias}", f"version {number} is not in the index")
        return IndexedModel(
            name,
            body.get("description"),
            self.strings(body.get("tags", {}), f"{path}.tags"),
            aliases,
            versions,
        )

    def version(
        self, name: str, number: int, entry: Any, aliases: tuple[str, ...], path: str
    ) -> ModelVersion:
        if isinstance(entry, str):
            entry = {"source": entry}
        entry = self.mapping(entry, path)
        source = entry.get("source")
        if not isinstance(source, str) or not source:
            raise self.bad(f"{path}.source", "each version needs a source location")
        try:
            stage = check_stage(entry.get("stage", "None"))
        except FederateError as err:
            raise self.bad(f"{path}.stage", err.message) from None
        created = entry.get("created_ms", 0)
        return ModelVersion(
            name,
            number,
            created,
            created,
            current_stage=stage,
            source=source if _is_absolute(source) else f"{self.base}/{source.removeprefix('./')}",
            description=entry.get("description"),
            run_id=entry.get("run_id"),
            tags=self.strings(entry.get("tags", {}), f"{path}.tags"),
            aliases=aliases,
        )


class IndexRegistry(Registry):
    """Read-only: every write raises FederateError(NOT_IMPLEMENTED) (from Registry).

    The index is read again on each call, or at most every ``cache_seconds`` (a key of
    the registry's ``federate.toml`` profile) for indexes in remote stores.
    """

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self.location = index_location(config.uri)
        self.cache_seconds = float(config.options.get("cache_seconds", 0))
        self._cached: tuple[float, dict[str, IndexedModel]] | None = None
        self._lock = threading.Lock()

    def _read(self) -> dict[str, IndexedModel]:
        repo = get_plugin_host().open_repo(self.location)
        info = repo.stat("")
        if info.is_dir:
            raise FederateError(
                f"Index location {redact(self.location)!r} is a directory; name the JSON file",
                INVALID_PARAMETER_VALUE,
            )
        raw = b"".join(repo.iter_chunks("", info.file_size))
        where = redact(self.location)
        try:
            doc = json.loads(raw)
        except ValueError as err:
            raise FederateError(
                f"Index {where} is not valid JSON: {err}", INVALID_PARAMETER_VALUE
            ) from None
        return _Parser(where, self.location.rsplit("/", 1)[0]).index(doc)

    def models(self) -> dict[str, IndexedModel]:
        """The whole index, as of now (or as of at most ``cache_seconds`` ago)."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._read())
            return self._cached[1]

    def _model(self, name: str) -> IndexedModel:
        model = self.models().get(name)
        if model is None:
            raise FederateError(f"Registered model {name!r} not found", RESOURCE_DOES_NOT_EXIST)
        return model

    def get_registered_model(self, name: str) -> RegisteredModel:
        model = self._model(name)
        return RegisteredModel(
            name,
            0,
            0,
            description=model.description,
            tags=dict(model.tags),
            aliases=dict(model.aliases),
            latest_versions=tuple(self.get_latest_versions(name)),
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        number = as_version(version)
        mv = self._model(name).versions.get(number)
        if mv is None:
            raise FederateError(
                f"Model version not found: {name!r} version {number}", RESOURCE_DOES_NOT_EXIST
            )
        return mv

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The highest version in each stage asked for (every stage when none are)."""
        wanted = {check_stage(s) for s in stages} if stages else None
        latest: dict[str, ModelVersion] = {}
        for mv in self._model(name).versions.values():
            if wanted is not None and mv.current_stage not in wanted:
                continue
            held = latest.get(mv.current_stage)
            if held is None or mv.version > held.version:
                latest[mv.current_stage] = mv
        return sorted(latest.values(), key=lambda mv: mv.version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        model = self._model(name)
        number = model.aliases.get(alias)
        if number is None:
            raise FederateError(
                f"Registered model {name!r} has no alias {alias!r}", RESOURCE_DOES_NOT_EXIST
            )
        return model.versions[number]
