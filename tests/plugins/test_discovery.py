"""Which plugins load and which one serves a scheme: precedence, selection, laziness."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from federate.errors import INVALID_PARAMETER_VALUE
from federate.plugins.manager import BUILTIN_PLUGINS, get_plugin_host
from federate.testing.cli import python_path
from federate.testing.errors import raises_federate_error


def test_two_plugins_claiming_a_scheme_resolve_by_name_with_a_warning(fake_site, caplog):
    # installed in reverse alphabetical order: the winner must not depend on it
    fake_site.add_repo("zeta-store", "shared")
    fake_site.add_repo("alpha-store", "shared")
    with caplog.at_level(logging.WARNING, logger="federate.plugins.manager"):
        host = get_plugin_host()
    assert host.repo_plugin("shared://x")[1].package == "alpha-store"
    expected = (
        "federate plugins zeta-store (zeta-store 0.1) and alpha-store (alpha-store 0.1) both "
        "handle scheme 'shared'; using alpha-store (alpha-store 0.1) (set "
        "FEDERATE_DISABLE_PLUGINS=zeta-store to choose explicitly and silence this)"
    )
    assert host.conflicts == [expected]
    assert expected in caplog.text


def test_disabling_the_loser_picks_the_other_plugin_silently(fake_site, monkeypatch):
    fake_site.add_repo("zeta-store", "shared")
    fake_site.add_repo("alpha-store", "shared")
    monkeypatch.setenv("FEDERATE_DISABLE_PLUGINS", "Alpha_Store")  # pip-style name matching
    host = get_plugin_host()
    assert host.repo_plugin("shared://x")[1].package == "zeta-store"
    assert host.conflicts == [] and host.notes == []
    assert host.infos["alpha-store"].disabled == "disabled by FEDERATE_DISABLE_PLUGINS"


def test_a_third_party_plugin_overrides_a_builtin_without_a_warning(fake_site):
    fake_site.add_repo("my-files", "file")
    host = get_plugin_host()
    assert host.repo_plugin("/some/path")[1].package == "my-files"
    assert host.conflicts == []


def test_two_packages_with_one_entry_point_name_are_kept_apart(fake_site):
    fake_site.add_repo("pkg-one", "one", entry_name="store")
    fake_site.add_repo("pkg-two", "two", entry_name="store")
    host = get_plugin_host()
    assert host.repo_plugin("one://x")[1].package == "pkg-one"
    assert host.repo_plugin("two://x")[1].package == "pkg-two"
    assert [i.error for i in host.infos.values()] == [None] * len(host.infos)


def test_a_builtin_that_fails_to_import_leaves_the_others_working(federate_home, monkeypatch):
    monkeypatch.setitem(BUILTIN_PLUGINS, "gone", "federate.repos.not_a_module")
    host = get_plugin_host()
    assert host.infos["gone"].error == (
        "failed to import 'federate.repos.not_a_module': ModuleNotFoundError: "
        "No module named 'federate.repos.not_a_module'"
    )
    assert host.repo_plugin("/tmp")[1].name == "local"


def test_disabling_a_builtin_removes_its_schemes(federate_home, monkeypatch):
    monkeypatch.setenv("FEDERATE_DISABLE_PLUGINS", "local")
    monkeypatch.setenv("FEDERATE_PLUGINS", "")
    host = get_plugin_host()
    assert host.infos["local"].disabled == "disabled by FEDERATE_DISABLE_PLUGINS"
    assert "file" not in host.repo_routes
    with raises_federate_error(INVALID_PARAMETER_VALUE, "handles scheme 'file'"):
        host.repo_plugin("/tmp")


@pytest.mark.parametrize(
    ("allow", "loaded"),
    [("", set()), ("beta", {"beta"}), ("alpha-pkg,beta", {"alpha", "beta"})],
)
def test_federate_plugins_is_an_allow_list_of_third_party_plugins(
    fake_site, monkeypatch, allow, loaded
):
    fake_site.add_repo("alpha-pkg", "alpha", entry_name="alpha")
    fake_site.add_repo("beta", "beta")
    monkeypatch.setenv("FEDERATE_PLUGINS", allow)
    host = get_plugin_host()
    builtin = {s for s, (_, info) in host.repo_routes.items() if info.origin == "built-in"}
    assert set(host.repo_routes) - builtin == loaded
    assert host.repo_plugin("/tmp")[1].name == "local"  # built-ins are not affected
    for name in {"alpha", "beta"} - loaded:
        assert host.infos[name].disabled == "not named in FEDERATE_PLUGINS"


def test_a_misspelt_plugin_name_in_the_variables_is_reported(fake_site, monkeypatch, caplog):
    fake_site.add_repo("beta", "beta")
    monkeypatch.setenv("FEDERATE_DISABLE_PLUGINS", "betta")
    host = get_plugin_host()
    [note] = host.notes
    assert note.startswith(
        "FEDERATE_DISABLE_PLUGINS names betta, which match no installed plugin (installed: "
    )
    installed = note.rsplit("(installed: ", 1)[1].rstrip(")").split(", ")
    assert {"beta", "local", "sql"} <= set(installed)
    assert "beta" in host.repo_routes


PROBE = """
import json, sys
from importlib import metadata
calls = []
real = metadata.entry_points
def counting(**kw):
    calls.append(kw.get("group"))
    return real(**kw)
metadata.entry_points = counting

import federate
after_import = list(calls)
import federate.plugins.manager as m
host = m.get_plugin_host()
host.repo_plugin("/tmp"); host.registry_plugin("sqlite:///x.db")
m.get_plugin_host().repo_plugin("/tmp")
print(json.dumps({
    "after_import": after_import,
    "after_routing": calls,
    "heavy": sorted(k for k in ("sqlalchemy", "alembic", "boto3") if k in sys.modules),
}))
"""


def test_entry_points_are_read_once_and_only_when_routing(federate_home):
    """``import federate`` reads no entry points; routing reads them once; building the
    host imports no registry or store SDK (those load inside the factories)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": python_path(), "FEDERATE_HOME": str(federate_home), "PATH": ""},
        check=True,
    )
    probe = json.loads(out.stdout)
    assert probe["after_import"] == []
    assert probe["after_routing"] == ["federate"]
    assert probe["heavy"] == []
