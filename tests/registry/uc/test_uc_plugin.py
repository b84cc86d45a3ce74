"""The Unity Catalog registry is a built-in plugin like any other, in ``federate plugins``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from federate.cli import cli
from federate.plugins.manager import get_plugin_host
from federate.testing.cli import run_federate


def test_listed_and_routed(federate_home):
    res = CliRunner().invoke(cli, ["plugins", "--json"], catch_exceptions=False)
    data = json.loads(res.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    uc = by_name["databricks-uc"]
    assert (uc["origin"], uc["module"], uc["registry_schemes"]) == (
        "built-in",
        "federate.registry.uc.plugin",
        ["databricks-uc"],
    )
    assert data["routes"]["registries"]["databricks-uc"] == "databricks-uc"
    record, _ = get_plugin_host().registry_plugin("databricks-uc://prod")
    assert record.name == "databricks-uc"


def test_disabled_like_any_plugin(federate_home, monkeypatch):
    monkeypatch.setenv("FEDERATE_DISABLE_PLUGINS", "databricks-uc")
    res = CliRunner().invoke(cli, ["plugins", "--json"], catch_exceptions=False)
    data = json.loads(res.stdout)
    assert "databricks-uc" not in data["routes"]["registries"]


def test_the_cli_resolves(uc_workspace):
    uc_workspace.add_version("main.a.b", "s3://bucket/x")
    res = run_federate("--registry-uri", "databricks-uc", "resolve", "models:/main.a.b/1", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["version"] == 1
    res = run_federate("--registry-uri", "databricks-uc", "resolve", "models:/a.b/1")
    assert res.returncode == 1
    assert "catalog.schema.model" in res.stderr and "[INVALID_PARAMETER_VALUE]" in res.stderr
