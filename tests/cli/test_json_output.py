"""``--json`` is JSON wherever a script reads output, with documented field types;
tab-separated listings have a header row that ``--no-header`` drops."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from federate.cli import cli


@pytest.fixture
def run(federate_home):
    runner = CliRunner()

    def invoke(*args: str):
        res = runner.invoke(cli, list(args), catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return res

    return invoke


def _json(run, *args: str):
    return json.loads(run(*args).stdout)


def test_every_command_that_returns_something_prints_json(run, model_tree, tmp_path, federate_home):
    mv = _json(run, "register", str(model_tree), "iris", "--alias", "champion", "--json")
    assert mv["name"] == "iris" and mv["version"] == 1 and mv["aliases"] == ["champion"]
    assert mv["download_uri"] == mv["storage_location"]

    models = _json(run, "models", "list", "--json")
    assert [m["name"] for m in models] == ["iris"]
    assert models[0]["aliases"] == {"champion": 1}
    assert models[0]["latest_versions"][0]["version"] == 1  # an object, not a repr
    (version,) = _json(run, "models", "versions", "iris", "--json")
    assert version["version"] == 1 and version["current_stage"] == "None"
    assert _json(run, "models", "stage", "iris", "1", "Staging", "--json")["current_stage"] == (
        "Staging"
    )
    assert _json(run, "resolve", "models:/iris@champion", "--json")["version"] == 1

    entries = _json(run, "ls", "models:/iris/1", "--json")
    by_path = {e["path"]: e for e in entries}
    assert by_path["MLmodel"]["size"] == (model_tree / "MLmodel").stat().st_size
    assert by_path["MLmodel"]["is_dir"] is False and by_path["data"]["is_dir"] is True

    dst = tmp_path / "dst"
    got = _json(run, "download", "models:/iris/1", str(dst), "--json")
    assert got == {"uri": "models:/iris/1", "path": str(dst)}

    cached = _json(run, "cache", "ls", "--json")
    assert [(v["name"], v["version"]) for v in cached["versions"]] == [("iris", 1)]
    assert cached["versions"][0]["files"] >= 1 and cached["bytes"] > 0
    assert cached["partials"] == [] and cached["staging"] == []

    pv = _json(run, "prompts", "register", "summ", "Say {{ x }}", "--alias", "prod", "--json")
    assert pv["version"] == 1 and pv["aliases"] == ["prod"] and pv["variables"] == ["x"]
    (prompt,) = _json(run, "prompts", "list", "--json")
    assert prompt["name"] == "summ" and prompt["latest_version"] == 1
    (pv,) = _json(run, "prompts", "versions", "summ", "--json")
    assert pv["version"] == 1 and pv["template"] == "Say {{ x }}"
    assert _json(run, "prompts", "show", "prompts:/summ@prod", "--json")["version"] == 1

    run("webhooks", "create", "hook", "https://example.com/h", "--event", "prompt.created")
    (hook,) = _json(run, "webhooks", "list", "--json")
    assert hook["name"] == "hook" and hook["events"] == ["prompt.created"]

    registry = f"sqlite:///{federate_home / 'registry.db'}"
    state = _json(run, "db", "current", registry, "--json")
    assert state["revision"] == state["head"] and isinstance(state["head"], str)
    assert state["at_head"] is True
    plugins = _json(run, "plugins", "--json")
    assert any(p["name"] and p["package"] == "federate" for p in plugins["plugins"])


def test_listings_have_a_header_row_unless_no_header(run, model_tree):
    run("register", str(model_tree), "iris")
    run("prompts", "register", "summ", "Say {{ x }}")
    for args, header in [
        (["resolve", "models:/iris/1"], "NAME\tVERSION\tLOCATION"),
        (["models", "list"], "NAME\tLATEST\tALIASES"),
        (["models", "versions", "iris"], "VERSION\tSTAGE\tSTATUS\tALIASES\tLOCATION"),
        (["prompts", "list"], "NAME\tLATEST\tALIASES"),
        (["prompts", "versions", "summ"], "VERSION\tALIASES\tMESSAGE"),
        (["webhooks", "list"], "ID\tNAME\tSTATUS\tSIGNED\tURL\tEVENTS"),
        (["cache", "ls"], "NAME\tVERSION\tSIZE\tFILES\tSTATE\tWHERE"),
        (["ls", "models:/iris/1"], f"{'SIZE':>12}  PATH"),
    ]:
        lines = run(*args).stdout.splitlines()
        assert lines[0] == header, args
        bare = run(*args, "--no-header").stdout.splitlines()
        assert bare == lines[1:], args
        width = header.count("\t")
        assert all(line.count("\t") == width for line in lines), args
