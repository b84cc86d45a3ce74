"""Write an index from any registry: publish a snapshot of a live registry as one file.

    >>> import federate
    >>> from federate_index.export import write_index
    >>> write_index(federate.get_registry(), "s3://models/registry/index.json")

Readers then use ``index+s3://models/registry/index.json`` with no database at all.
Only versions whose files are in place (status READY) are written.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from federate.entities import READY, ModelVersion
from federate.plugins.manager import get_plugin_host
from federate.registry import Registry
from federate_index.registry import INDEX_FORMAT


def _all_versions(registry: Registry) -> list[ModelVersion]:
    versions: list[ModelVersion] = []
    token = None
    while True:
        page = registry.search_model_versions(page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def build_index(registry: Registry) -> dict[str, Any]:
    """The index document describing every READY version of ``registry``."""
    models: dict[str, Any] = {}
    for mv in _all_versions(registry):
        if mv.status != READY or not mv.download_uri:
            continue
        if mv.name not in models:
            rm = registry.get_registered_model(mv.name)
            models[mv.name] = {
                "description": rm.description,
                "tags": dict(rm.tags),
                "aliases": dict(rm.aliases),
                "versions": {},
            }
        models[mv.name]["versions"][str(mv.version)] = {
            "source": mv.download_uri,
            "stage": mv.current_stage,
            "description": mv.description,
            "run_id": mv.run_id,
            "tags": dict(mv.tags),
            "created_ms": mv.creation_timestamp,
        }
    for model in models.values():  # an alias of a version left out would dangle
        model["aliases"] = {
            a: n for a, n in model["aliases"].items() if str(n) in model["versions"]
        }
    return {"federate_index": INDEX_FORMAT, "models": models}


def write_index(registry: Registry, location: str) -> dict[str, Any]:
    """Write :func:`build_index` to ``location`` (a writable store); returns the document."""
    doc = build_index(registry)
    folder, _, name = location.rstrip("/").rpartition("/")
    repo = get_plugin_host().open_repo(folder)
    fd, tmp = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True, ensure_ascii=False)
        repo.upload_file(tmp, name)
    finally:
        os.unlink(tmp)
    return doc
