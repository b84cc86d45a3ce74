"""Third-party plugins, installed for real and discovered through the ``federate`` entry points.

Each test runs federate in a subprocess, as a user would after ``pip install``, with the
plugin's install directory on PYTHONPATH.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federate.testing.cli import run_federate as run
from federate.testing.trees import tree_digest


def run_federate(*args: str, site: Path | None, env: dict[str, str]):
    # only the plugins of the test, even where the examples are installed (CI)
    return run(*args, sites=[site] if site else [], env={"FEDERATE_PLUGINS": "memo", **env})


@pytest.fixture
def env(federate_home: Path) -> dict[str, str]:
    return {"FEDERATE_HOME": str(federate_home), "XDG_CONFIG_HOME": str(federate_home / "cfg")}


def test_plugins_command_lists_builtins_and_the_entry_point_plugin(memo_site, env):
    out = run_federate("plugins", site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert "memo  [entry point; federate-memo 0.1.0]" in out.stdout
    assert "registries: memo" in out.stdout
    assert "sql  [built-in" in out.stdout and "local  [built-in" in out.stdout
    assert (
        "registry schemes: databricks, databricks-uc, http, https, mariadb, memo, mssql, mysql, "
        "postgresql, sqlite" in out.stdout
    )


def test_third_party_registry_scheme_resolves_and_downloads(memo_site, env, model_tree, tmp_path):
    index = tmp_path / "index.json"
    index.write_text(
        json.dumps(
            {"models": {"demo": {"versions": {"1": str(model_tree)}, "aliases": {"champion": 1}}}}
        )
    )
    env = {**env, "FEDERATE_REGISTRY_URI": f"memo://{index}"}
    out = run_federate("resolve", "--no-header", "models:/demo@champion", site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\t")[:2] == ["demo", "1"]
    dst = tmp_path / "dst"
    out = run_federate("download", "models:/demo/latest", str(dst), site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert tree_digest(dst) == tree_digest(model_tree)

    out = run_federate("models", "create", "new", site=memo_site, env=env)
    assert out.returncode == 1
    assert "read-only" in out.stderr and "[NOT_IMPLEMENTED]" in out.stderr


def test_third_party_plugin_wins_over_the_builtin_for_the_same_scheme(
    memo_site, env, model_tree, tmp_path
):
    log = tmp_path / "opened.log"
    env = {**env, "FEDERATE_MEMO_LOG": str(log)}
    out = run_federate("download", str(model_tree), str(tmp_path / "d"), site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert log.read_text().splitlines() == [str(model_tree)]

    # disabling the plugin brings the built-in back
    log.unlink()
    env["FEDERATE_DISABLE_PLUGINS"] = "memo"
    out = run_federate("download", str(model_tree), str(tmp_path / "e"), site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert not log.exists()


BROKEN = {
    "broken-import": "import does_not_exist_anywhere\n",
    "typo-hook": "@hookimpl\ndef federate_registrys():\n    return []\n",
    "raising-hook": "@hookimpl\ndef federate_artifact_repos():\n    raise RuntimeError('boom')\n",
    "bad-signature": "@hookimpl\ndef federate_registries(uri):\n    return []\n",
    "future-api": "FEDERATE_PLUGIN_API = 2\n@hookimpl\ndef federate_registries():\n    return []\n",
    "raising-factory": (
        "from federate.plugins import RepoPlugin\n"
        "def open_repo(location, credentials, refresh):\n    raise OSError('no route to host')\n"
        "@hookimpl\ndef federate_artifact_repos():\n"
        "    return [RepoPlugin('flaky', ('flaky',), open_repo)]\n"
    ),
}


def test_broken_plugins_are_reported_and_isolated(env, model_tree, tmp_path):
    """Each way a plugin can break is reported naming its package; nothing else breaks."""
    site = tmp_path / "site"
    for dist, body in BROKEN.items():
        module = dist.replace("-", "_")
        info = site / f"{module}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[federate]\n{module} = {module}\n")
        (site / f"{module}.py").write_text(f"from federate.plugins import hookimpl\n{body}")
    env = {**env, "FEDERATE_PLUGINS": ",".join(BROKEN)}
    out = run_federate("plugins", site=site, env=env)
    assert out.returncode == 0, out.stderr
    assert "broken_import  [entry point; broken-import 0.1]" in out.stdout
    assert "ERROR: failed to import 'broken_import': ModuleNotFoundError" in out.stdout
    assert "ERROR: implements unknown hooks ['federate_registrys']" in out.stdout
    assert "did you mean federate_registrys -> federate_registries?" in out.stdout
    assert "ERROR: federate_artifact_repos failed: RuntimeError: boom (at " in out.stdout
    assert "raising_hook.py:4)" in out.stdout
    assert "ERROR: invalid hook implementation: Plugin 'bad_signature'" in out.stdout
    assert "Argument(s) {'uri'} are declared in the hookimpl" in out.stdout
    assert "ERROR: needs federate plugin API 2, but this federate provides plugin API 1" in (
        out.stdout
    )
    assert (
        "registry schemes: databricks, databricks-uc, http, https, mariadb, mssql, mysql, "
        "postgresql, sqlite" in out.stdout
    )
    (summary,) = [ln for ln in out.stdout.splitlines() if ln.startswith("repository schemes: ")]
    assert {"file", "flaky"} <= set(summary.split(": ", 1)[1].split(", "))

    # everything else keeps working, and a routing error names the broken packages
    out = run_federate("download", str(model_tree), str(tmp_path / "d"), site=site, env=env)
    assert out.returncode == 0, out.stderr
    assert tree_digest(tmp_path / "d") == tree_digest(model_tree)
    out = run_federate("ls", "hdfs://x/y", site=site, env=env)
    assert out.returncode == 1
    assert "No artifact repository plugin handles scheme 'hdfs'" in out.stderr
    # the schemes a location may start with; not credential kinds or host claims
    listed = out.stderr.split("Installed repository schemes: ", 1)[1].split(".", 1)[0]
    assert {"file", "s3", "wasbs", "flaky"} <= set(listed.split(", "))
    assert "credentials:" not in listed and "://" not in listed
    assert "broken_import (broken-import 0.1)" in out.stderr
    assert "bad_signature (bad-signature 0.1)" in out.stderr

    # every command warns about the broken plugins, naming them
    assert "federate plugin typo_hook (typo-hook 0.1): implements unknown hooks" in out.stderr
    # a factory that raises is reported as that plugin's failure, not a traceback
    out = run_federate("ls", "flaky://x", site=site, env=env)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == (
        "federate: error: federate plugin raising_factory (raising-factory 0.1) failed: "
        "OSError: no route to host [INTERNAL_ERROR]"
    )
