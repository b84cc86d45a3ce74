"""How both Unity Catalog dialects resolve a URI: three-level names, no stages, and
``latest`` as the highest READY version, found by reading every version (Unity Catalog
promises no order, and versions still being registered or that failed are skipped)."""

from __future__ import annotations

from federate.entities import READY, ModelVersion, PagedList
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.base import Registry
from federate.registry.uc.names import full_name
from federate.uri import ModelRef, parse_uri


def no_stages(name: str, stage: str) -> FederateError:
    return FederateError(
        f"models:/{name}/{stage}: Unity Catalog has no stages; load a version by alias "
        f"instead (models:/{name}@<alias>), by number, or models:/{name}/latest",
        INVALID_PARAMETER_VALUE,
    )


class UnityCatalogResolution(Registry):
    """Resolution shared by the Unity Catalog registries; they list versions
    (:meth:`versions`), this picks among them."""

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, all pages read."""
        raise NotImplementedError

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        if isinstance(ref, str):
            ref = parse_uri(ref)
        if ref.name is not None:
            full_name(ref.name)
            if ref.stage is not None:
                raise no_stages(ref.name, ref.stage)
        return super().resolve(ref)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """[the highest READY version] (empty if none); stages do not exist in UC."""
        if stages:
            raise no_stages(name, stages[0])
        ready = [mv for mv in self.versions(name) if mv.status == READY]
        return [max(ready, key=lambda mv: mv.version)] if ready else []

    def get_latest_version(self, name: str, stage: str | None = None) -> ModelVersion:
        if stage is not None:
            raise no_stages(name, stage)
        # confirm the model exists first, so a typo says "no such model", not "no versions"
        self.get_registered_model(name)
        latest = self.get_latest_versions(name)
        if not latest:
            raise FederateError(
                f"Registered model {name!r} has no READY version (versions still being "
                "registered or that failed to register are never 'latest')",
                RESOURCE_DOES_NOT_EXIST,
            )
        return latest[0]

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """The versions of the one model the filter names (see :mod:`.search`)."""
        from federate.registry.uc.search import search_versions

        return search_versions(self, filter_string, max_results, order_by)
