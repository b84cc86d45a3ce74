"""Lineage tags: where a copied version came from, and finding an earlier copy by them.

A copy carries its source's tags unchanged plus exactly these four:
``federate.source.registry`` (the profile name if the source registry came from a
federate.toml profile (`models://<profile>/...` or the default profile), else the
source registry's URI without its password), ``federate.source.name``,
``federate.source.version`` and ``federate.source.digest`` (:mod:`federate.jobs.digest`).
The first three identify the source version: a destination version that has them is
that version's copy, whatever state an earlier, interrupted copy left it in.
"""

from __future__ import annotations

from federate.entities import ModelVersion
from federate.redaction import split_userinfo
from federate.registry.base import Registry

REGISTRY = "federate.source.registry"
NAME = "federate.source.name"
VERSION = "federate.source.version"
DIGEST = "federate.source.digest"
#: the tags that say which source version a copy is of
IDENTITY = (REGISTRY, NAME, VERSION)


def without_password(uri: str) -> str:
    """``uri`` with the password of its user-info (if any) removed: ``user@host/db``."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    userinfo, after = split_userinfo(rest)
    if userinfo is None:
        return uri
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}@{after}" if user else f"{scheme}://{after}"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find_copy(registry: Registry, name: str, identity: dict[str, str]) -> ModelVersion | None:
    """The version of ``name`` in ``registry`` whose lineage tags are ``identity`` (any
    status: a copy killed half-way left a PENDING_REGISTRATION one), the oldest if an
    older federate made several; None if there is none (or no model ``name``)."""
    clauses = [f"name = {_quoted(name)}"]
    clauses += [f"tags.`{key}` = {_quoted(value)}" for key, value in identity.items()]
    found = [
        mv
        for mv in registry.search_model_versions(" AND ".join(clauses))
        if mv.name == name and all(mv.tags.get(k) == v for k, v in identity.items())
    ]
    return min(found, key=lambda mv: mv.version) if found else None
