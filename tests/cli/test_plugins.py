"""``federate plugins``: every plugin with package, origin, schemes and what went wrong."""

from __future__ import annotations

import json

from click.testing import CliRunner

import federate
from federate.cli import cli


def plugins(*args: str):
    return CliRunner().invoke(cli, ["plugins", *args], catch_exceptions=False)


def test_text_lists_origin_package_schemes_overrides_and_problems(fake_site, monkeypatch):
    fake_site.add_repo("my-files", "file")
    fake_site.add_repo("zeta-store", "shared")
    fake_site.add_repo("alpha-store", "shared")
    fake_site.add_repo("off", "off")
    fake_site.add("broken", "raise ImportError('needs libfoo')\n")
    monkeypatch.setenv("FEDERATE_DISABLE_PLUGINS", "off")
    res = plugins()
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    v = federate.__version__
    assert f"sql  [built-in; federate {v}]" in lines
    assert f"local  [built-in; federate {v}]" in lines
    assert "    repositories: file (overridden by my-files)" in lines
    assert "my-files  [entry point; my-files 0.1]" in lines
    assert "    skipped: disabled by FEDERATE_DISABLE_PLUGINS" in lines
    broken = lines.index("broken  [entry point; broken 0.1]")
    assert lines[broken + 1].startswith("    ERROR: failed to import 'broken_")
    assert "ImportError: needs libfoo (at " in lines[broken + 1]
    (summary,) = [line for line in lines if line.startswith("repository schemes: ")]
    schemes = summary.split(": ", 1)[1].split(", ")
    assert schemes == sorted(schemes) and {"file", "shared"} <= set(schemes)
    assert "off" not in schemes  # a disabled plugin routes nothing
    assert lines[-1].startswith("warning: federate plugins zeta-store (zeta-store 0.1) and ")


def test_json_carries_the_same_facts(fake_site):
    fake_site.add_repo("my-files", "file", api="FEDERATE_PLUGIN_API = 1")
    res = plugins("--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["plugin_api"] == 1
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["local"] == {
        "name": "local",
        "origin": "built-in",
        "package": "federate",
        "version": federate.__version__,
        "module": "federate.repos.local",
        "api": None,
        "registry_schemes": [],
        "repo_schemes": ["file"],
        "error": None,
        "disabled": None,
    }
    mine = by_name["my-files"]
    assert (mine["origin"], mine["package"], mine["version"], mine["api"]) == (
        "entry point",
        "my-files",
        "0.1",
        [1],
    )
    assert mine["module"].startswith("my_files_")
    assert data["routes"]["repositories"]["file"] == "my-files"
    assert data["routes"]["registries"]["sqlite"] == "sql"
    assert data["conflicts"] == [] and data["notes"] == []
