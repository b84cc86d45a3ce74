"""SqlRegistry's model registry against every database: MLflow's registry semantics."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from federate import parse_uri
from federate.entities import PENDING_REGISTRATION, READY
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.testing.errors import raises_federate_error
from federate.testing.pages import all_pages

STATUS_INDEX = ["registered_model_id", "status", "version"]


def resolve(reg, uri: str):
    return reg.resolve(parse_uri(uri))


def make_versions(reg, name: str, count: int, **kwargs) -> list[int]:
    return [
        reg.create_model_version(name, f"/src/{name}/{i}", **kwargs).version for i in range(count)
    ]


def model_with_versions(reg, name: str, count: int) -> None:
    reg.create_registered_model(name)
    make_versions(reg, name, count)


def stages(reg, name: str) -> dict[int, str]:
    return {mv.version: mv.current_stage for mv in reg.search_model_versions(f"name = '{name}'")}


# -- registered models -------------------------------------------------------------------


def test_create_and_get_model_with_tags_and_description(registry):
    created = registry.create_registered_model(
        "iris", tags={"team": "ml", "tier": "gold"}, description="Iris classifier"
    )
    assert (created.name, created.description) == ("iris", "Iris classifier")
    assert created.tags == {"team": "ml", "tier": "gold"}

    got = registry.get_registered_model("iris")
    assert (got.name, got.description) == ("iris", "Iris classifier")
    assert got.tags == {"team": "ml", "tier": "gold"}
    assert got.aliases == {}
    assert got.latest_versions == ()
    assert got.creation_timestamp == created.creation_timestamp > 0


def test_duplicate_model_name_is_already_exists(registry):
    registry.create_registered_model("iris", description="first")
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "'iris'"):
        registry.create_registered_model("iris", description="second")
    assert registry.get_registered_model("iris").description == "first"


def test_missing_model_is_does_not_exist_naming_it(registry):
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.get_registered_model("nope")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.create_model_version("nope", "/src")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.delete_registered_model("nope")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        resolve(registry, "models:/nope/latest")


def test_rename_moves_versions_aliases_and_tags_and_frees_old_name(registry):
    registry.create_registered_model("iris", tags={"team": "ml"}, description="d")
    make_versions(registry, "iris", 2)
    registry.set_registered_model_alias("iris", "champion", 1)

    renamed = registry.rename_registered_model("iris", "iris-renamed")
    assert renamed.name == "iris-renamed"
    assert (renamed.tags, renamed.description) == ({"team": "ml"}, "d")
    assert renamed.aliases == {"champion": 1}

    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'"):
        registry.get_registered_model("iris")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'"):
        resolve(registry, "models:/iris@champion")
    mv = resolve(registry, "models:/iris-renamed@champion")
    assert (mv.name, mv.version, mv.source) == ("iris-renamed", 1, "/src/iris/0")
    assert registry.get_latest_version("iris-renamed").version == 2
    # the old name is free again, and starts its own numbering
    registry.create_registered_model("iris")
    assert registry.create_model_version("iris", "/new").version == 1


def test_rename_onto_existing_name_is_already_exists(registry):
    model_with_versions(registry, "a", 1)
    model_with_versions(registry, "b", 2)
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "'b'"):
        registry.rename_registered_model("a", "b")
    assert registry.get_latest_version("a").version == 1
    assert registry.get_latest_version("b").version == 2
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.rename_registered_model("nope", "c")
    with raises_federate_error(INVALID_PARAMETER_VALUE):
        registry.rename_registered_model("a", "c/d")
    assert registry.get_registered_model("a").name == "a"


def test_update_model_description(registry):
    created = registry.create_registered_model("iris", description="old")
    updated = registry.update_registered_model("iris", description="new")
    assert updated.description == "new"
    assert registry.get_registered_model("iris").description == "new"
    assert updated.last_updated_timestamp >= created.last_updated_timestamp


def test_delete_model_removes_its_versions_aliases_and_tags(registry):
    registry.create_registered_model("iris", tags={"team": "ml"})
    make_versions(registry, "iris", 2, tags={"k": "v"})
    registry.set_registered_model_alias("iris", "champion", 2)
    model_with_versions(registry, "other", 1)
    registry.set_registered_model_alias("other", "champion", 1)

    registry.delete_registered_model("iris")

    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'"):
        registry.get_registered_model("iris")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'"):
        registry.get_model_version("iris", 1)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'"):
        resolve(registry, "models:/iris@champion")
    assert registry.search_model_versions("name = 'iris'") == []
    # nothing left behind for a model re-created under the same name
    again = registry.create_registered_model("iris")
    assert (again.tags, again.aliases) == ({}, {})
    assert registry.get_registered_model("iris").aliases == {}
    mv = registry.create_model_version("iris", "/fresh")
    assert (mv.version, mv.tags, mv.aliases) == (1, {}, ())
    # other models are untouched
    assert resolve(registry, "models:/other@champion").version == 1


def test_model_names_are_case_sensitive(registry):
    registry.create_registered_model("Iris", description="upper")
    registry.create_registered_model("iris", description="lower")
    registry.create_model_version("Iris", "/upper")
    registry.create_model_version("iris", "/lower")
    registry.create_model_version("iris", "/lower2")

    assert registry.get_registered_model("Iris").description == "upper"
    assert registry.get_registered_model("iris").description == "lower"
    assert resolve(registry, "models:/Iris/latest").source == "/upper"
    assert resolve(registry, "models:/iris/latest").source == "/lower2"
    assert [m.name for m in registry.search_registered_models("name = 'iris'")] == ["iris"]
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'IRIS'"):
        registry.get_registered_model("IRIS")
    registry.delete_registered_model("iris")
    assert registry.get_registered_model("Iris").description == "upper"


UNUSUAL_NAMES = ["my.model.v2", "my model", "modèle-ñ", "模型 ü", "dash-and_underscore", "x" * 256]


def test_unusual_model_names_round_trip(registry):
    for i, name in enumerate(UNUSUAL_NAMES):
        registry.create_registered_model(name, tags={"k": "v"})
        registry.create_model_version(name, f"/src/{i}")
        registry.set_registered_model_alias(name, "champion", 1)
    for i, name in enumerate(UNUSUAL_NAMES):
        assert registry.get_registered_model(name).name == name
        for uri in (f"models:/{name}/1", f"models:/{name}/latest", f"models:/{name}@champion"):
            mv = resolve(registry, uri)
            assert (mv.name, mv.version, mv.source) == (name, 1, f"/src/{i}"), uri
        found = registry.search_registered_models(f"name = '{name}'")
        assert [m.name for m in found] == [name]
    assert {m.name for m in registry.search_registered_models()} == set(UNUSUAL_NAMES)


def test_names_with_surrounding_whitespace_are_refused_on_every_database(registry):
    # MySQL/MariaDB compare names with PAD SPACE ('iris ' = 'iris'): such names are refused
    # everywhere, so no database can hold two models the others would tell apart
    registry.create_registered_model("iris", description="no space")
    for name in ["iris ", " iris", "iris\t"]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, "whitespace"):
            registry.create_registered_model(name)
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, repr(name)):
            registry.get_registered_model(name)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "whitespace"):
        registry.rename_registered_model("iris", "iris ")
    assert [m.name for m in registry.search_registered_models()] == ["iris"]


def test_invalid_model_names_are_rejected(registry):
    for name in ["", "   ", "a/b", "a@b", "x" * 257, None]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=name):
            registry.create_registered_model(name)
    assert registry.search_registered_models() == []


# -- searching models ----------------------------------------------------------------------

SEARCH_NAMES = ["iris", "iris-v2", "IRIS-big", "Iris", "wine", "virus"]


@pytest.fixture
def searchable(registry):
    for name in SEARCH_NAMES:
        registry.create_registered_model(name)
    return registry


SEARCHES = [
    ("name = 'iris'", {"iris"}),
    ('name = "Iris"', {"Iris"}),
    ("name != 'iris'", set(SEARCH_NAMES) - {"iris"}),
    ("name LIKE '%-%'", {"iris-v2", "IRIS-big"}),
    ("name LIKE 'wi%'", {"wine"}),
    ("name like '%ru%'", {"virus"}),
    ("name LIKE 'iris-__'", {"iris-v2"}),
    ("name ILIKE 'IR%'", {"iris", "iris-v2", "IRIS-big", "Iris"}),
    ("name = 'nope'", set()),
    (None, set(SEARCH_NAMES)),
    ("  ", set(SEARCH_NAMES)),
]


def test_search_models_by_name(searchable):
    for filter_string, expected in SEARCHES:
        found = [m.name for m in searchable.search_registered_models(filter_string)]
        assert sorted(found) == sorted(expected), filter_string


def test_search_like_is_case_sensitive(searchable):
    found = [m.name for m in searchable.search_registered_models("name LIKE 'ir%'")]
    assert sorted(found) == ["iris", "iris-v2"]


def test_search_models_returns_full_entities(registry):
    registry.create_registered_model("iris", tags={"team": "ml"}, description="d")
    make_versions(registry, "iris", 2)
    registry.set_registered_model_alias("iris", "champion", 1)
    (model,) = registry.search_registered_models("name = 'iris'")
    assert (model.name, model.description, model.tags) == ("iris", "d", {"team": "ml"})
    assert model.aliases == {"champion": 1}
    assert [mv.version for mv in model.latest_versions] == [2]


def test_search_models_pagination_covers_everything_once(registry):
    names = [f"model-{i:02d}" for i in range(7)]
    for name in reversed(names):
        registry.create_registered_model(name)
    pages = all_pages(registry.search_registered_models, max_results=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [m.name for page in pages for m in page] == names  # name order, no repeats

    pages = all_pages(
        registry.search_registered_models, filter_string="name LIKE 'model-0%'", max_results=2
    )
    assert [m.name for page in pages for m in page] == names
    exact = registry.search_registered_models(max_results=7)
    assert exact.token is None and len(exact) == 7


def test_search_models_order_by(registry):
    names = ["beta", "alpha", "delta", "gamma"]
    for name in names:
        registry.create_registered_model(name)
    found = registry.search_registered_models(order_by=["name DESC"])
    assert [m.name for m in found] == sorted(names, reverse=True)
    found = registry.search_registered_models(order_by=["name asc"])
    assert [m.name for m in found] == sorted(names)
    pages = all_pages(registry.search_registered_models, order_by=["name DESC"], max_results=3)
    assert [m.name for page in pages for m in page] == sorted(names, reverse=True)


BAD_SEARCHES = [
    {"filter_string": "name = iris"},
    {"filter_string": "nmae = 'iris'"},
    {"filter_string": "run_id = 'r1'"},  # a version attribute, not a model's
    {"filter_string": "name = 'iris' OR name = 'wine'"},
    {"filter_string": "name > 'a'"},
    {"order_by": ["name SIDEWAYS"]},
    {"order_by": ["colour"]},
    {"max_results": 0},
    {"page_token": "not-a-token"},
]


def test_bad_search_arguments_are_invalid(searchable):
    for kwargs in BAD_SEARCHES:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=kwargs):
            searchable.search_registered_models(**kwargs)


def test_bad_filter_message_lists_accepted_filters(registry):
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "version_number = 1", "unknown attribute", "name =|!=|LIKE"
    ):
        registry.search_registered_models("version_number = 1")


# -- versions ------------------------------------------------------------------------------


def test_versions_are_numbered_from_one(registry):
    registry.create_registered_model("m")
    v1 = registry.create_model_version(
        "m",
        "s3://bucket/m/1",
        run_id="run-1",
        tags={"k": "v"},
        run_link="http://x/run-1",
        description="first",
    )
    assert (v1.name, v1.version, v1.status, v1.current_stage) == ("m", 1, READY, "None")
    assert (v1.source, v1.download_uri, v1.run_id) == (
        "s3://bucket/m/1",
        "s3://bucket/m/1",
        "run-1",
    )
    assert (v1.run_link, v1.description, v1.tags) == ("http://x/run-1", "first", {"k": "v"})
    assert [registry.create_model_version("m", f"/src/{i}").version for i in (2, 3)] == [2, 3]

    got = registry.get_model_version("m", 1)
    assert (got.source, got.run_id, got.description, got.tags) == (
        "s3://bucket/m/1",
        "run-1",
        "first",
        {"k": "v"},
    )
    assert registry.get_model_version_download_uri("m", 3) == "/src/3"


def test_versions_are_accepted_as_int_or_str(registry):
    model_with_versions(registry, "m", 3)
    assert registry.get_model_version("m", "2") == registry.get_model_version("m", 2)
    assert registry.get_model_version("m", "2").version == 2
    registry.update_model_version("m", "2", description="via str")
    registry.set_model_version_tag("m", "2", "k", "v")
    registry.transition_model_version_stage("m", "2", "Staging")
    registry.set_registered_model_alias("m", "champion", "2")
    mv = registry.get_model_version("m", 2)
    assert (mv.description, mv.tags, mv.current_stage, mv.aliases) == (
        "via str",
        {"k": "v"},
        "Staging",
        ("champion",),
    )
    registry.delete_model_version("m", "3")
    assert registry.get_latest_version("m").version == 2


def test_malformed_version_is_invalid(registry):
    model_with_versions(registry, "m", 1)
    for version in ["abc", "1.5", "", 0, -1, "0", True, None, 1.0]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=version):
            registry.get_model_version("m", version)


def test_missing_version_names_model_and_version(registry):
    model_with_versions(registry, "m", 2)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "version 7"):
        registry.get_model_version("m", 7)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "version 7"):
        resolve(registry, "models:/m/7")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "version 7"):
        registry.delete_model_version("m", 7)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.get_model_version("nope", 1)


def test_out_of_range_version_is_a_federate_error(registry):
    model_with_versions(registry, "m", 1)
    for uri in ["models:/m/2147483648", "models:/m/99999999999999999999"]:
        with pytest.raises(FederateError) as info:
            resolve(registry, uri)
        assert info.value.error_code in (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE), uri


def test_version_numbers_are_never_reused(registry):
    model_with_versions(registry, "m", 3)
    registry.delete_model_version("m", 3)  # the highest
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "version 3"):
        registry.get_model_version("m", 3)
    assert registry.create_model_version("m", "/src/4").version == 4
    registry.delete_model_version("m", 4)
    registry.delete_model_version("m", 2)
    assert registry.create_model_version("m", "/src/5").version == 5
    assert [mv.version for mv in registry.search_model_versions("name = 'm'")] == [5, 1]


def test_concurrent_version_creation_hands_out_distinct_numbers(registry):
    registry.create_registered_model("m")
    with ThreadPoolExecutor(8) as pool:
        versions = list(
            pool.map(lambda i: registry.create_model_version("m", f"/src/{i}").version, range(32))
        )
    assert sorted(versions) == list(range(1, 33))
    assert registry.get_latest_version("m").version == 32


# -- latest and stages ---------------------------------------------------------------------


@pytest.fixture
def staged(registry):
    """m: v1, v2 Production; v3 Staging; v4, v5 None; v6 Archived."""
    model_with_versions(registry, "m", 6)
    for version, stage in [(1, "Production"), (2, "Production"), (3, "Staging"), (6, "Archived")]:
        registry.transition_model_version_stage("m", version, stage)
    return registry


def test_latest_version_is_highest_over_all_stages(staged):
    assert staged.get_latest_version("m").version == 6
    assert resolve(staged, "models:/m/latest").version == 6
    assert resolve(staged, "models:/m/LATEST").version == 6
    staged.delete_model_version("m", 6)
    assert resolve(staged, "models:/m/latest").version == 5
    staged.delete_model_version("m", 5)
    staged.delete_model_version("m", 4)
    assert resolve(staged, "models:/m/latest").current_stage == "Staging"


def test_latest_of_model_without_versions_does_not_exist(registry):
    registry.create_registered_model("m")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'"):
        registry.get_latest_version("m")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'"):
        resolve(registry, "models:/m/latest")
    assert registry.get_latest_versions("m") == []


def test_get_latest_versions_answers_per_stage(staged):
    latest = {mv.current_stage: mv.version for mv in staged.get_latest_versions("m")}
    assert latest == {"Production": 2, "Staging": 3, "None": 5, "Archived": 6}
    assert [mv.version for mv in staged.get_latest_versions("m", stages=["production"])] == [2]
    both = staged.get_latest_versions("m", stages=["PRODUCTION", "staging"])
    assert sorted(mv.version for mv in both) == [2, 3]
    assert all(mv.name == "m" for mv in both)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'Prod'"):
        staged.get_latest_versions("m", stages=["Prod"])
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        staged.get_latest_versions("nope")
    registered = staged.get_registered_model("m")
    assert sorted(mv.version for mv in registered.latest_versions) == [2, 3, 5, 6]


def test_get_latest_versions_with_empty_stage_list_means_all_stages(staged):
    assert staged.get_latest_versions("m", stages=[]) == staged.get_latest_versions("m")


STAGE_URIS = [
    ("models:/m/Production", 2),
    ("models:/m/production", 2),
    ("models:/m/PRODUCTION", 2),
    ("models:/m/Staging", 3),
    ("models:/m/None", 5),
    ("models:/m/archived", 6),
]


def test_stage_uri_resolves_highest_version_in_stage(staged):
    for uri, version in STAGE_URIS:
        assert resolve(staged, uri).version == version, uri
        assert staged.get_latest_version("m", uri.rsplit("/", 1)[1]).version == version, uri


def test_unknown_stage_in_uri_does_not_exist_and_lists_stages(staged):
    with raises_federate_error(
        RESOURCE_DOES_NOT_EXIST, "'Prod'", "Production", "Staging", "Archived"
    ):
        resolve(staged, "models:/m/Prod")


def test_stage_without_versions_does_not_exist(registry):
    model_with_versions(registry, "m", 2)
    registry.transition_model_version_stage("m", 1, "Production")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "Staging"):
        resolve(registry, "models:/m/Staging")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        resolve(registry, "models:/nope/Production")


def test_transition_returns_the_version_in_its_new_stage(registry):
    model_with_versions(registry, "m", 2)
    mv = registry.transition_model_version_stage("m", 1, "staging")
    assert (mv.version, mv.current_stage) == (1, "Staging")
    registry.transition_model_version_stage("m", 2, "Staging")  # no archiving by default
    assert stages(registry, "m") == {1: "Staging", 2: "Staging"}


def test_archive_existing_versions_archives_only_the_target_stage(staged):
    mv = staged.transition_model_version_stage("m", 4, "Production", archive_existing_versions=True)
    assert (mv.version, mv.current_stage) == (4, "Production")
    assert stages(staged, "m") == {
        1: "Archived",
        2: "Archived",
        3: "Staging",
        4: "Production",
        5: "None",
        6: "Archived",
    }
    assert resolve(staged, "models:/m/Production").version == 4
    staged.transition_model_version_stage("m", 5, "staging", archive_existing_versions=True)
    assert stages(staged, "m")[3] == "Archived"
    assert stages(staged, "m")[4] == "Production"


def test_archive_existing_versions_keeps_the_version_itself(staged):
    staged.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert stages(staged, "m")[1] == "Archived"
    assert stages(staged, "m")[2] == "Production"


def test_archive_existing_versions_into_inactive_stage_is_invalid(staged):
    before = stages(staged, "m")
    for stage in ["Archived", "archived", "None"]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=stage):
            staged.transition_model_version_stage("m", 4, stage, archive_existing_versions=True)
    assert stages(staged, "m") == before


def test_invalid_stage_is_invalid(staged):
    before = stages(staged, "m")
    for stage in ["Prod", "", "deployed", None]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, "Production", "Staging", case=stage):
            staged.transition_model_version_stage("m", 4, stage)
    assert stages(staged, "m") == before


def test_pending_version_is_not_latest_until_finished(registry):
    model_with_versions(registry, "m", 1)
    pending = registry.create_model_version("m", "/upload/tmp", status=PENDING_REGISTRATION)
    assert (pending.version, pending.status) == (2, PENDING_REGISTRATION)
    assert registry.get_model_version("m", 2).status == PENDING_REGISTRATION

    assert registry.get_latest_version("m").version == 1
    assert resolve(registry, "models:/m/latest").version == 1
    assert [mv.version for mv in registry.get_latest_versions("m")] == [1]
    registry.transition_model_version_stage("m", 2, "Production")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "Production"):
        resolve(registry, "models:/m/Production")

    done = registry.finish_model_version("m", 2, "/registry/m/2")
    assert (done.status, done.storage_location, done.download_uri) == (
        READY,
        "/registry/m/2",
        "/registry/m/2",
    )
    assert done.source == "/upload/tmp"
    latest = resolve(registry, "models:/m/latest")
    assert (latest.version, latest.download_uri) == (2, "/registry/m/2")
    assert resolve(registry, "models:/m/Production").version == 2


def test_invalid_status_is_rejected(registry):
    registry.create_registered_model("m")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'BOGUS'"):
        registry.create_model_version("m", "/src", status="BOGUS")
    assert registry.search_model_versions("name = 'm'") == []


def test_update_model_version_description(registry):
    registry.create_registered_model("m")
    created = registry.create_model_version("m", "/src", description="old", tags={"k": "v"})
    updated = registry.update_model_version("m", 1, description="new")
    assert (updated.description, updated.source, updated.tags) == ("new", "/src", {"k": "v"})
    assert registry.get_model_version("m", 1).description == "new"
    assert updated.last_updated_timestamp >= created.last_updated_timestamp


# -- tags ----------------------------------------------------------------------------------


def test_model_tags_set_overwrite_delete(registry):
    registry.create_registered_model("m", tags={"keep": "1"})
    registry.set_registered_model_tag("m", "k", "v1")
    assert registry.get_registered_model("m").tags == {"keep": "1", "k": "v1"}
    registry.set_registered_model_tag("m", "k", "v2")
    registry.set_registered_model_tag("m", "k", "v2")  # same value again: still fine
    assert registry.get_registered_model("m").tags == {"keep": "1", "k": "v2"}
    registry.set_registered_model_tag("m", "K", "upper")  # keys are case-sensitive
    assert registry.get_registered_model("m").tags == {"keep": "1", "k": "v2", "K": "upper"}
    registry.delete_registered_model_tag("m", "k")
    assert registry.get_registered_model("m").tags == {"keep": "1", "K": "upper"}

    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        registry.set_registered_model_tag("nope", "k", "v")
    with raises_federate_error(INVALID_PARAMETER_VALUE):
        registry.set_registered_model_tag("m", "", "v")


def test_version_tags_set_overwrite_delete(registry):
    registry.create_registered_model("m")
    registry.create_model_version("m", "/src", tags={"keep": "1"})
    registry.create_model_version("m", "/src2")
    registry.set_model_version_tag("m", 1, "k", "v1")
    registry.set_model_version_tag("m", 1, "k", "v2")
    registry.set_model_version_tag("m", 1, "k", "v2")
    assert registry.get_model_version("m", 1).tags == {"keep": "1", "k": "v2"}
    assert registry.get_model_version("m", 2).tags == {}
    registry.delete_model_version_tag("m", 1, "k")
    assert registry.get_model_version("m", 1).tags == {"keep": "1"}
    assert resolve(registry, "models:/m/1").tags == {"keep": "1"}

    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "version 9"):
        registry.set_model_version_tag("m", 9, "k", "v")
    with raises_federate_error(INVALID_PARAMETER_VALUE):
        registry.set_model_version_tag("m", 1, "", "v")


# -- searching versions --------------------------------------------------------------------


def test_search_model_versions_by_name(registry):
    model_with_versions(registry, "a", 3)
    model_with_versions(registry, "b", 2)
    registry.create_model_version("a", "/tagged", tags={"k": "v"})
    registry.set_registered_model_alias("a", "champion", 4)

    found = registry.search_model_versions("name = 'a'")
    assert [(mv.name, mv.version) for mv in found] == [("a", 4), ("a", 3), ("a", 2), ("a", 1)]
    assert (found[0].tags, found[0].aliases, found[0].source) == (
        {"k": "v"},
        ("champion",),
        "/tagged",
    )
    assert {mv.name for mv in registry.search_model_versions()} == {"a", "b"}
    ascending = registry.search_model_versions("name = 'a'", order_by=["version_number ASC"])
    assert [mv.version for mv in ascending] == [1, 2, 3, 4]


def test_search_model_versions_pagination(registry):
    model_with_versions(registry, "a", 4)
    model_with_versions(registry, "b", 3)
    pages = all_pages(registry.search_model_versions, max_results=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    seen = [(mv.name, mv.version) for page in pages for mv in page]
    assert seen == [("a", 4), ("a", 3), ("a", 2), ("a", 1), ("b", 3), ("b", 2), ("b", 1)]

    pages = all_pages(registry.search_model_versions, filter_string="name = 'b'", max_results=2)
    assert [mv.version for page in pages for mv in page] == [3, 2, 1]


# -- aliases -------------------------------------------------------------------------------


def test_set_and_resolve_alias(registry):
    model_with_versions(registry, "m", 2)
    registry.set_registered_model_alias("m", "champion", 1)
    mv = registry.get_model_version_by_alias("m", "champion")
    assert (mv.name, mv.version, mv.aliases, mv.source) == ("m", 1, ("champion",), "/src/m/0")
    assert resolve(registry, "models:/m@champion").version == 1
    assert registry.get_registered_model("m").aliases == {"champion": 1}


def test_moving_an_alias_leaves_exactly_one_target(registry):
    model_with_versions(registry, "m", 3)
    registry.set_registered_model_alias("m", "champion", 1)
    registry.set_registered_model_alias("m", "champion", 3)
    registry.set_registered_model_alias("m", "champion", 3)  # again: no duplicate

    assert resolve(registry, "models:/m@champion").version == 3
    assert registry.get_registered_model("m").aliases == {"champion": 3}
    holders = [mv.version for mv in registry.search_model_versions("name = 'm'") if mv.aliases]
    assert holders == [3]
    assert registry.get_model_version("m", 1).aliases == ()


def test_delete_alias(registry):
    model_with_versions(registry, "m", 1)
    registry.set_registered_model_alias("m", "champion", 1)
    registry.delete_registered_model_alias("m", "champion")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'champion'"):
        resolve(registry, "models:/m@champion")
    assert registry.get_model_version("m", 1).aliases == ()
    assert registry.get_registered_model("m").aliases == {}


def test_deleting_an_alias_that_is_not_set_succeeds_like_mlflow(registry):
    model_with_versions(registry, "m", 2)
    registry.set_registered_model_alias("m", "champion", 2)
    registry.delete_registered_model_alias("m", "challenger")  # never set: no error
    registry.delete_registered_model_alias("m", "challenger")
    assert registry.get_registered_model("m").aliases == {"champion": 2}
    registry.delete_registered_model_alias("m", "champion")
    registry.delete_registered_model_alias("m", "champion")  # already gone: no error
    assert registry.get_registered_model("m").aliases == {}
    # the model itself must exist, as in MLflow
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'ghost'"):
        registry.delete_registered_model_alias("ghost", "champion")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "Invalid alias 'a b'"):
        registry.delete_registered_model_alias("m", "a b")


def test_missing_alias_names_model_and_alias(registry):
    model_with_versions(registry, "m", 1)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "'champion'"):
        registry.get_model_version_by_alias("m", "champion")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "'champion'"):
        resolve(registry, "models:/m@champion")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        resolve(registry, "models:/nope@champion")


def test_alias_vanishes_with_its_version(registry):
    model_with_versions(registry, "m", 2)
    registry.set_registered_model_alias("m", "champion", 2)
    registry.set_registered_model_alias("m", "stable", 1)
    registry.delete_model_version("m", 2)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'champion'"):
        resolve(registry, "models:/m@champion")
    assert registry.get_registered_model("m").aliases == {"stable": 1}
    # a new version 3 does not inherit the alias of the deleted version
    registry.create_model_version("m", "/src/3")
    assert registry.get_model_version("m", 3).aliases == ()


def test_alias_on_missing_version_does_not_exist(registry):
    model_with_versions(registry, "m", 1)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m'", "version 5"):
        registry.set_registered_model_alias("m", "champion", 5)
    assert registry.get_registered_model("m").aliases == {}


def test_invalid_aliases_are_rejected(registry):
    model_with_versions(registry, "m", 1)
    for alias in ["latest", "LATEST", "v3", "V12", "a b", "", "a/b", "a@b", "x" * 256]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=alias):
            registry.set_registered_model_alias("m", alias, 1)
    assert registry.get_registered_model("m").aliases == {}


def test_version_and_model_list_their_aliases(registry):
    model_with_versions(registry, "m", 2)
    for alias, version in [("prod", 1), ("champion", 1), ("Champion", 2), ("canary-2", 2)]:
        registry.set_registered_model_alias("m", alias, version)
    assert registry.get_model_version("m", 1).aliases == ("champion", "prod")
    assert set(registry.get_model_version("m", 2).aliases) == {"Champion", "canary-2"}
    assert registry.get_registered_model("m").aliases == {
        "prod": 1,
        "champion": 1,
        "Champion": 2,
        "canary-2": 2,
    }
    assert resolve(registry, "models:/m@Champion").version == 2  # aliases are case-sensitive


# -- model ids and copies ------------------------------------------------------------------


def test_resolve_by_model_id(registry):
    model_with_versions(registry, "m", 1)
    registry.create_model_version("m", "/src/logged", model_id="m-123")
    registry.create_model_version("m", "/src/3")
    mv = resolve(registry, "models:/m-123")
    assert (mv.name, mv.version, mv.model_id, mv.source) == ("m", 2, "m-123", "/src/logged")
    assert registry.get_model_version_by_model_id("m-123").version == 2
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'m-999'"):
        resolve(registry, "models:/m-999")


def test_copy_model_version_to_a_new_model(registry):
    registry.create_registered_model("a")
    registry.create_model_version("a", "s3://bucket/a/1", run_id="r1", description="d")
    registry.set_registered_model_alias("a", "champion", 1)

    copied = registry.copy_model_version("models:/a@champion", "b")
    assert (copied.name, copied.version) == ("b", 1)
    assert copied.download_uri == "s3://bucket/a/1"
    assert registry.get_model_version("b", 1).download_uri == "s3://bucket/a/1"
    assert registry.get_registered_model("b").name == "b"
    assert resolve(registry, "models:/a/latest").version == 1  # the source is untouched

    again = registry.copy_model_version("models:/a/1", "b")
    assert (again.version, again.download_uri) == (2, "s3://bucket/a/1")


def test_copy_model_version_points_at_the_registry_copy(registry):
    registry.create_registered_model("a")
    registry.create_model_version("a", "/upload", status=PENDING_REGISTRATION)
    registry.finish_model_version("a", 1, "/registry/a/1")
    copied = registry.copy_model_version("models:/a/1", "b")
    assert copied.download_uri == "/registry/a/1"
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'a'"):
        registry.copy_model_version("models:/a@champion", "c")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'c'"):
        registry.get_registered_model("c")


# -- schema and query plans ----------------------------------------------------------------


def test_model_versions_has_an_index_for_latest_resolution(registry):
    indexes = sa.inspect(registry.engine).get_indexes("model_versions")
    assert STATUS_INDEX in [ix["column_names"] for ix in indexes], indexes


def _captured_queries(registry, call) -> list[tuple[str, object]]:
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        captured.append((statement, parameters))

    sa.event.listen(registry.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(registry.engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in captured if s.lstrip().upper().startswith("SELECT")]


def _query_plans(registry, queries) -> list[list[str]]:
    with registry.engine.connect() as conn:
        return [
            [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            for sql, params in queries
        ]


@pytest.mark.parametrize(
    "uri, index",
    [
        ("models:/m/latest", "ix_model_versions_registered_model_id_status_version"),
        ("models:/m/Production", "ix_model_versions_registered_model_id_current_stage_version"),
    ],
)
def test_sqlite_latest_resolution_uses_an_index(database, request, uri, index):
    if database.id != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    registry = request.getfixturevalue("registry")
    for name in ("m", "other"):
        model_with_versions(registry, name, 12)
        registry.transition_model_version_stage(name, 3, "Production")

    queries = _captured_queries(registry, lambda: resolve(registry, uri))
    plans = _query_plans(registry, queries)
    flat = [step for plan in plans for step in plan]
    assert any("model_versions" in s and f"USING INDEX {index}" in s for s in flat), plans
    assert not [s for s in flat if s.startswith("SCAN") and "model_versions" in s], plans
    assert not [s for s in flat if "TEMP B-TREE" in s], plans


def test_like_wildcards_and_escapes_mean_the_same_everywhere(registry):
    for name in ["a_b", "axb", "a%b", "a*b", "a?b", "a[b]", "Émile", "émile"]:
        registry.create_registered_model(name)

    def found(filter_string: str) -> set[str]:
        return {m.name for m in registry.search_registered_models(filter_string)}

    assert found("name LIKE 'a_b'") == {"a_b", "axb", "a%b", "a*b", "a?b"}
    assert found("name LIKE 'a\\_b'") == {"a_b"}
    assert found("name LIKE 'a\\%b'") == {"a%b"}
    assert found("name LIKE 'a*b'") == {"a*b"}  # GLOB metacharacters stay literal
    assert found("name LIKE 'a?b'") == {"a?b"}
    assert found("name LIKE 'a[b]'") == {"a[b]"}
    assert found("name LIKE 'É%'") == {"Émile"}
    assert found("name ILIKE 'É%'") == {"Émile", "émile"}  # beyond ASCII case folding
    with raises_federate_error(INVALID_PARAMETER_VALUE, "escape"):
        found("name LIKE 'a\\'")
