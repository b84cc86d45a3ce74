"""create_model_version's fast write path returns exactly what the registry then reads."""

from __future__ import annotations

import pytest

from federate.entities import PENDING_REGISTRATION
from federate.errors import RESOURCE_DOES_NOT_EXIST
from federate.testing.errors import raises_federate_error


@pytest.mark.parametrize("status", ["READY", PENDING_REGISTRATION])
def test_returned_version_equals_the_stored_one(registry, status):
    registry.create_registered_model("iris")
    registry.create_model_version("iris", "/src/1")
    created = registry.create_model_version(
        "iris",
        "s3://bucket/iris/2",
        run_id="run-2",
        tags={"team": "växjö", "n": 3},  # type: ignore[dict-item]
        run_link="https://ci/2",
        description="second",
        model_id="m-2",
        storage_location="s3://registry/iris/2",
        status=status,
        user_id="ada",
    )
    stored = registry.get_model_version("iris", 2)
    assert created.tags == {"team": "växjö", "n": 3}
    assert stored.tags == {"team": "växjö", "n": "3"}
    assert created == stored.__class__(**{**stored.__dict__, "tags": created.tags})
    assert (created.version, created.status, created.current_stage) == (2, status, "None")
    bare = registry.create_model_version("iris", "/src/3")
    assert bare == registry.get_model_version("iris", 3)


def test_name_that_only_pads_an_existing_one_is_not_found(registry):
    registry.create_registered_model("iris")
    for name in ("iris ", "IRIS", "iri"):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, repr(name), case=name):
            registry.create_model_version(name, "/src")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        registry.get_latest_version("iris")  # nothing was added to iris
