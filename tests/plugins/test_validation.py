"""Plugins are checked when loaded: declared API version, hook names, hook signatures."""

from __future__ import annotations

import pytest

from federate.errors import INVALID_PARAMETER_VALUE
from federate.plugins.manager import get_plugin_host
from federate.plugins.validation import KNOWN_HOOKS, api_problem, declared_api
from federate.testing.errors import raises_federate_error

REPO = "from federate.plugins import hookimpl\n"


def test_the_hooks_are_the_documented_ones():
    assert KNOWN_HOOKS == ("federate_artifact_repos", "federate_registries")


@pytest.mark.parametrize(
    ("api", "declared"),
    [("FEDERATE_PLUGIN_API = 1", (1,)), ("FEDERATE_PLUGIN_API = (2, 1)", (1, 2)), ("", None)],
)
def test_a_plugin_declaring_a_fitting_api_version_loads(fake_site, api, declared):
    fake_site.add_repo("fits", "fits", api=api)
    host = get_plugin_host()
    assert host.infos["fits"].error is None
    assert host.infos["fits"].api == declared
    assert host.repo_plugin("fits://x")[1].package == "fits"


def test_a_plugin_needing_another_api_version_is_skipped_with_a_clear_message(fake_site):
    fake_site.add_repo("future", "future", api="FEDERATE_PLUGIN_API = (2, 3)")
    fake_site.add_repo("today", "today")
    host = get_plugin_host()
    assert host.infos["future"].error == (
        "needs federate plugin API 2 or 3, but this federate provides plugin API 1; install a "
        "release of the plugin made for API 1, or a federate that provides API 2 or 3"
    )
    assert "future" not in host.repo_routes and "today" in host.repo_routes
    with raises_federate_error(INVALID_PARAMETER_VALUE, "future (future 0.1)"):
        host.repo_plugin("future://x")


@pytest.mark.parametrize("value", ["'1'", "1.0", "()", "True"])
def test_a_malformed_api_declaration_is_reported(fake_site, value):
    fake_site.add_repo("odd", "odd", api=f"FEDERATE_PLUGIN_API = {value}")
    error = get_plugin_host().infos["odd"].error
    assert error is not None and error.startswith(f"FEDERATE_PLUGIN_API = {value}")
    assert "is not a plugin API version; use an int such as 1, or a tuple of ints" in error


def test_api_checks_directly():
    assert declared_api(object()) is None
    assert api_problem(None) is None and api_problem((1,)) is None
    assert api_problem((0,)) is not None


def test_a_hook_without_hookimpl_is_reported_not_silently_ignored(fake_site):
    fake_site.add_repo("unmarked", "unmarked", marker="")
    host = get_plugin_host()
    assert host.infos["unmarked"].error == (
        "defines ['federate_artifact_repos'] without @hookimpl (from federate.plugins import "
        "hookimpl), so federate would never call them"
    )
    assert "unmarked" not in host.repo_routes


def test_a_plugin_with_no_hooks_is_reported(fake_site):
    fake_site.add("empty", "X = 1\n")
    assert get_plugin_host().infos["empty"].error == (
        "implements no federate hook (known hooks: federate_artifact_repos, federate_registries)"
    )


def test_a_wrong_signature_isolates_only_that_plugin(fake_site):
    fake_site.add(
        "needs-args",
        f"{REPO}@hookimpl\ndef federate_artifact_repos(location, credentials):\n    return []\n",
    )
    fake_site.add_repo("fine", "fine")
    host = get_plugin_host()
    error = host.infos["needs-args"].error
    assert error is not None and error.startswith("invalid hook implementation: Plugin ")
    assert "hookimpl definition: federate_artifact_repos(location, credentials)" in error
    assert "\n" not in error
    assert host.repo_plugin("fine://x")[1].name == "fine"
    assert host.repo_plugin("/tmp")[1].name == "local"


def test_a_hook_returning_the_wrong_type_is_reported(fake_site):
    fake_site.add(
        "wrong",
        "from federate.plugins import hookimpl\n"
        "@hookimpl\ndef federate_registries():\n    return ['sqlite']\n",
    )
    host = get_plugin_host()
    assert host.infos["wrong"].error.startswith(
        "federate_registries failed: TypeError: federate_registries returned str, "
        "expected RegistryPlugin (at "
    )
    assert host.registry_plugin("sqlite:///x.db")[1].name == "sql"
