"""SqlRegistry's prompt registry against every database: MLflow 3's prompt semantics."""

from __future__ import annotations

import pytest

from federate import parse_uri
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.testing.errors import raises_federate_error

GREETING = "Hello {{ name }}, welcome to {{place}}! Bye {{ name }}."


@pytest.fixture
def prompt(registry):
    """Prompt 'greet' with versions 1, 2, 3."""
    registry.register_prompt("greet", "Hi {{ name }}", commit_message="first", tags={"t": "1"})
    registry.register_prompt("greet", GREETING, commit_message="second")
    registry.register_prompt("greet", "Yo {{ name }}", commit_message="third")
    return registry


def test_register_prompt_numbers_versions_from_one(registry):
    v1 = registry.register_prompt("greet", "Hi {{ name }}", commit_message="first", tags={"t": "1"})
    assert (v1.name, v1.version, v1.template) == ("greet", 1, "Hi {{ name }}")
    assert (v1.commit_message, v1.tags, v1.aliases) == ("first", {"t": "1"}, ())
    v2 = registry.register_prompt("greet", GREETING)
    assert (v2.version, v2.template, v2.commit_message, v2.tags) == (2, GREETING, None, {})

    got = registry.get_prompt_version("greet", 1)
    assert (got.template, got.commit_message, got.tags) == ("Hi {{ name }}", "first", {"t": "1"})
    assert registry.get_prompt_version("greet", "2").template == GREETING
    assert registry.get_prompt("greet").latest_version == 2


def test_get_missing_prompt_version_names_prompt_and_version(prompt):
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "version 9"):
        prompt.get_prompt_version("greet", 9)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "version 9"):
        prompt.load_prompt("prompts:/greet/9")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        prompt.load_prompt("prompts:/nope/1")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'nope'"):
        prompt.get_prompt("nope")
    with raises_federate_error(INVALID_PARAMETER_VALUE):
        prompt.get_prompt_version("greet", "one")


def test_load_prompt_by_uri_or_name_and_version(prompt):
    assert prompt.load_prompt("prompts:/greet/1").template == "Hi {{ name }}"
    assert prompt.load_prompt("prompts:/greet/2").template == GREETING
    assert prompt.load_prompt("greet", version=2).version == 2
    assert prompt.load_prompt("greet", version="3").template == "Yo {{ name }}"
    assert prompt.resolve_prompt(parse_uri("prompts:/greet/1")).version == 1
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'greet'"):
        prompt.load_prompt("greet")


def test_prompt_alias_resolves_moves_and_goes(prompt):
    prompt.set_prompt_alias("greet", "prod", 1)
    loaded = prompt.load_prompt("prompts:/greet@prod")
    assert (loaded.version, loaded.template, loaded.aliases) == (1, "Hi {{ name }}", ("prod",))
    assert prompt.get_prompt("greet").aliases == {"prod": 1}

    prompt.set_prompt_alias("greet", "prod", "2")
    assert prompt.load_prompt("prompts:/greet@prod").version == 2
    assert prompt.get_prompt_version("greet", 1).aliases == ()
    assert prompt.get_prompt("greet").aliases == {"prod": 2}

    prompt.delete_prompt_alias("greet", "prod")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "'prod'"):
        prompt.load_prompt("prompts:/greet@prod")
    prompt.delete_prompt_alias("greet", "prod")  # not set any more: no error, as in MLflow
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'ghost'"):
        prompt.delete_prompt_alias("ghost", "prod")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "version 7"):
        prompt.set_prompt_alias("greet", "prod", 7)


def test_prompt_alias_vanishes_with_its_version(prompt):
    prompt.set_prompt_alias("greet", "prod", 2)
    prompt.delete_prompt_version("greet", 2)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'prod'"):
        prompt.load_prompt("prompts:/greet@prod")
    assert prompt.get_prompt("greet").aliases == {}


def test_prompt_at_latest_is_the_newest_version(prompt):
    assert prompt.load_prompt("prompts:/greet@latest").version == 3
    assert prompt.load_prompt("prompts:/greet@LATEST").version == 3
    prompt.register_prompt("greet", "v4 {{ x }}")
    assert prompt.load_prompt("prompts:/greet@latest").template == "v4 {{ x }}"
    prompt.delete_prompt_version("greet", 4)
    assert prompt.load_prompt("prompts:/greet@latest").version == 3
    for alias in ("latest", "Latest", "v1"):  # reserved, so @latest cannot be shadowed
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=alias):
            prompt.set_prompt_alias("greet", alias, 1)
    assert prompt.load_prompt("prompts:/greet@latest").version == 3


def test_prompt_at_latest_without_versions_does_not_exist(prompt):
    for version in (1, 2, 3):
        prompt.delete_prompt_version("greet", version)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'"):
        prompt.load_prompt("prompts:/greet@latest")


def test_format_fills_double_brace_variables(prompt):
    pv = prompt.load_prompt("prompts:/greet/2")
    assert pv.variables == ["name", "place"]
    assert pv.format(name="x", place="Paris") == "Hello x, welcome to Paris! Bye x."
    assert pv.format(name=1, place="P", unused="ignored") == "Hello 1, welcome to P! Bye 1."
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'greet'", "place"):
        pv.format(name="x")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "name", "place"):
        pv.format()


def test_prompt_is_not_reachable_as_a_model(prompt):
    for call in (
        lambda: prompt.get_registered_model("greet"),
        lambda: prompt.get_model_version("greet", 1),
        lambda: prompt.get_latest_versions("greet"),
        lambda: prompt.get_model_version_by_alias("greet", "prod"),
        lambda: prompt.resolve(parse_uri("models:/greet/1")),
        lambda: prompt.resolve(parse_uri("models:/greet/latest")),
        lambda: prompt.resolve(parse_uri("models:/greet/Production")),
        lambda: prompt.create_model_version("greet", "/src"),
        lambda: prompt.delete_registered_model("greet"),
        lambda: prompt.delete_model_version("greet", 1),
        lambda: prompt.set_registered_model_tag("greet", "k", "v"),
        lambda: prompt.rename_registered_model("greet", "renamed"),
    ):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "prompt"):
            call()
    assert prompt.search_registered_models() == []
    assert prompt.search_model_versions() == []
    assert prompt.search_model_versions("name = 'greet'") == []
    # and the failed model-side writes changed nothing
    assert prompt.get_prompt("greet").latest_version == 3
    assert [v.version for v in prompt.search_prompt_versions("greet")] == [3, 2, 1]


def test_model_is_not_reachable_as_a_prompt(registry):
    registry.create_registered_model("iris")
    registry.create_model_version("iris", "/src")
    for call in (
        lambda: registry.get_prompt("iris"),
        lambda: registry.get_prompt_version("iris", 1),
        lambda: registry.load_prompt("prompts:/iris/1"),
        lambda: registry.load_prompt("prompts:/iris@latest"),
        lambda: registry.set_prompt_alias("iris", "prod", 1),
        lambda: registry.set_prompt_tag("iris", "k", "v"),
        lambda: registry.delete_prompt_version("iris", 1),
        lambda: registry.delete_prompt("iris"),
    ):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'iris'", "registered model"):
            call()
    assert registry.search_prompts() == []
    assert registry.get_latest_version("iris").version == 1
    assert registry.get_registered_model("iris").aliases == {}


def test_models_and_prompts_share_one_name_space(prompt):
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "'greet'"):
        prompt.create_registered_model("greet")
    prompt.create_registered_model("iris")
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "'greet'"):
        prompt.rename_registered_model("iris", "greet")
    assert prompt.get_prompt("greet").latest_version == 3
    assert prompt.get_registered_model("iris").name == "iris"


def test_register_prompt_under_a_model_name_changes_nothing(registry):
    registry.create_registered_model("iris")
    registry.create_model_version("iris", "/src")
    with pytest.raises(FederateError) as info:
        registry.register_prompt("iris", "Hi {{ name }}")
    assert "'iris'" in str(info.value) and "registered model" in str(info.value)
    assert registry.search_prompts() == []
    assert [mv.version for mv in registry.search_model_versions("name = 'iris'")] == [1]
    assert registry.create_model_version("iris", "/src2").version == 2  # no number consumed


def test_register_prompt_under_a_model_name_is_already_exists(registry):
    registry.create_registered_model("iris")
    with raises_federate_error(RESOURCE_ALREADY_EXISTS, "'iris'"):
        registry.register_prompt("iris", "Hi {{ name }}")


def test_invalid_prompts_are_rejected(registry):
    for name, template in [("a/b", "t"), ("a@b", "t"), ("", "t"), ("p", ""), ("p", "   ")]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, case=(name, template)):
            registry.register_prompt(name, template)
    assert registry.search_prompts() == []


def test_search_prompts(registry):
    names = ["summarize", "summary-v2", "translate", "classify"]
    for name in names:
        registry.register_prompt(name, f"{name} {{{{ text }}}}")
    registry.register_prompt("translate", "again {{ text }}")
    registry.create_registered_model("summarizer-model")

    found = registry.search_prompts()
    assert [p.name for p in found] == sorted(names)
    assert {p.name: p.latest_version for p in found}["translate"] == 2
    assert [p.name for p in registry.search_prompts("name = 'translate'")] == ["translate"]
    assert [p.name for p in registry.search_prompts("name LIKE 'summ%'")] == [
        "summarize",
        "summary-v2",
    ]
    pages, token = [], None
    while True:
        page = registry.search_prompts(max_results=3, page_token=token)
        pages.append([p.name for p in page])
        token = page.token
        if token is None:
            break
    assert [len(p) for p in pages] == [3, 1]
    assert [n for page in pages for n in page] == sorted(names)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "unknown attribute 'run_id'"):
        registry.search_prompts("run_id = 'r'")


def test_prompt_tags(prompt):
    prompt.set_prompt_tag("greet", "owner", "me")
    prompt.set_prompt_tag("greet", "owner", "you")
    prompt.set_prompt_tag("greet", "lang", "en")
    assert prompt.get_prompt("greet").tags == {"owner": "you", "lang": "en"}
    prompt.delete_prompt_tag("greet", "owner")
    assert prompt.get_prompt("greet").tags == {"lang": "en"}
    assert prompt.get_prompt_version("greet", 1).tags == {"t": "1"}  # version tags apart


def test_search_prompt_versions(prompt):
    versions = prompt.search_prompt_versions("greet")
    assert [(v.version, v.commit_message) for v in versions] == [
        (3, "third"),
        (2, "second"),
        (1, "first"),
    ]
    page = prompt.search_prompt_versions("greet", max_results=2)
    assert [v.version for v in page] == [3, 2] and page.token is not None
    rest = prompt.search_prompt_versions("greet", max_results=2, page_token=page.token)
    assert [v.version for v in rest] == [1] and rest.token is None


def test_delete_prompt_version_never_reuses_its_number(prompt):
    prompt.delete_prompt_version("greet", 3)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'", "version 3"):
        prompt.get_prompt_version("greet", 3)
    assert prompt.get_prompt_version("greet", 2).template == GREETING
    assert prompt.register_prompt("greet", "new {{ x }}").version == 4
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "version 3"):
        prompt.delete_prompt_version("greet", 3)


def test_delete_prompt(prompt):
    prompt.set_prompt_alias("greet", "prod", 1)
    prompt.register_prompt("other", "keep {{ me }}")
    prompt.delete_prompt("greet")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'"):
        prompt.get_prompt("greet")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'"):
        prompt.load_prompt("prompts:/greet@prod")
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, "'greet'"):
        prompt.delete_prompt("greet")
    assert [p.name for p in prompt.search_prompts()] == ["other"]
    # the name is free again, for a model or a new prompt starting at version 1
    assert prompt.register_prompt("greet", "fresh").version == 1
    assert prompt.get_prompt("greet").aliases == {}
