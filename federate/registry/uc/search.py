"""Version search on Unity Catalog: what it can answer of MLflow's filter grammar.

Unity Catalog lists the versions of one model (``name = 'catalog.schema.model'``), with
no order and, in MLflow's dialect, without tags in the results. So a search names exactly
one model by equality; tag equalities (``tags.`key` = 'value'``, what copies look up their
earlier copies by) are checked here against each version read whole. Anything else is
INVALID_PARAMETER_VALUE naming what is accepted.
"""

from __future__ import annotations

from federate.entities import ModelVersion, PagedList
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.filters import Attribute, Grammar, Tag, parse_filter
from federate.registry.uc.resolution import UnityCatalogResolution

GRAMMAR = Grammar(
    "Unity Catalog model version", strings={"name": ("=",)}, numbers=(), order_keys=()
)
ACCEPTED = "name = '<catalog.schema.model>', optionally AND tags.`key` = 'value'"


def _refuse(why: str) -> FederateError:
    return FederateError(
        f"Unity Catalog cannot search versions by {why}: it lists the versions of one model "
        f"({ACCEPTED})",
        INVALID_PARAMETER_VALUE,
    )


def search_versions(
    registry: UnityCatalogResolution,
    filter_string: str | None,
    max_results: int,
    order_by: list[str] | None,
) -> PagedList[ModelVersion]:
    if order_by:
        raise _refuse(f"order ({', '.join(order_by)})")
    names: list[str] = []
    tags: dict[str, str] = {}
    for comparison in parse_filter(filter_string, GRAMMAR):
        target, value = comparison.target, comparison.value
        if isinstance(target, Attribute) and isinstance(value, str):
            names.append(value)
        elif isinstance(target, Tag) and comparison.op == "=" and isinstance(value, str):
            tags[target.key] = value
        else:
            raise _refuse(f"{comparison.op} on a tag")
    if len(names) != 1:
        raise _refuse("no model or several" if names else "anything but a model name")
    try:
        found = registry.versions(names[0])
    except FederateError as err:
        if err.error_code == RESOURCE_DOES_NOT_EXIST:
            return PagedList([])
        raise
    if tags:
        whole = (registry.get_model_version(names[0], mv.version) for mv in found)
        found = [mv for mv in whole if all(mv.tags.get(k) == v for k, v in tags.items())]
    return PagedList(sorted(found, key=lambda mv: mv.version)[:max_results])
