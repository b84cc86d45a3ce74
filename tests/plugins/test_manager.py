"""Third-party plugins, installed for real and discovered through the ``federate`` entry points.

Each test runs federate in a subprocess, as a user would after ``pip install``, with the
plugin's install directory on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federate.testing.trees import tree_digest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def memo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test plugin package ``federate-memo``, pip-installed into its own directory."""
    target = tmp_path_factory.mktemp("memo-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(HERE / "federate-memo"),
        ],
        check=True,
    )
    return target


def run_federate(*args: str, site: Path | None, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "federate", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


@pytest.fixture
def env(federate_home: Path) -> dict[str, str]:
    return {"FEDERATE_HOME": str(federate_home), "XDG_CONFIG_HOME": str(federate_home / "cfg")}


def test_plugins_command_lists_builtins_and_the_entry_point_plugin(memo_site, env):
    out = run_federate("plugins", site=memo_site, env=env)
    assert out.returncode == 0, out.stderr
    assert "memo  [entry point; federate-memo 0.1.0]" in out.stdout
    assert "registries: memo" in out.stdout
    assert "sql  [built-in" in out.stdout and "local  [built-in" in out.stdout
    assert "registry schemes: mariadb, memo, mssql, mysql, postgresql, sqlite" in out.stdout


def test_third_party_registry_scheme_resolves_and_downloads(memo_site, env, model_tree, tmp_path):
    index = tmp_path / "index.json"
    index.write_text(
        json.dumps(
            {"models": {"demo": {"versions": {"1": str(model_tree)}, "aliases": {"champion": 1}}}}
        )
    )
    env = {**env, "FEDERATE_REGISTRY_URI": f"memo://{index}"}
    out = run_federate("resolve", "models:/demo@champion", site=memo_site, env=env)
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


def _fake_dist(site: Path, dist: str, module: str, source: str) -> None:
    """An installed distribution in ``site`` (dist-info + module), as pip would leave it."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[federate]\n{module} = {module}\n")
    (site / f"{module}.py").write_text(source)


def test_broken_plugins_are_reported_and_isolated(env, model_tree, tmp_path):
    site = tmp_path / "site"
    _fake_dist(site, "broken-import", "broken_import", "import does_not_exist_anywhere\n")
    _fake_dist(
        site,
        "typo-hook",
        "typo_hook",
        "from federate.plugins import hookimpl\n\n"
        "@hookimpl\ndef federate_registrys():\n    return []\n",
    )
    _fake_dist(
        site,
        "raising-hook",
        "raising_hook",
        "from federate.plugins import hookimpl\n\n"
        "@hookimpl\ndef federate_artifact_repos():\n    raise RuntimeError('boom')\n",
    )
    out = run_federate("plugins", site=site, env=env)
    assert out.returncode == 0, out.stderr
    assert "broken_import  [entry point; broken-import 0.1]" in out.stdout
    assert "ERROR: failed to import 'broken_import': ModuleNotFoundError" in out.stdout
    assert "ERROR: implements unknown hooks ['federate_registrys']" in out.stdout
    assert "ERROR: federate_artifact_repos failed: RuntimeError: boom" in out.stdout

    # everything else keeps working, and a routing error names the broken packages
    out = run_federate("download", str(model_tree), str(tmp_path / "d"), site=site, env=env)
    assert out.returncode == 0, out.stderr
    out = run_federate("ls", "hdfs://x/y", site=site, env=env)
    assert out.returncode == 1
    assert "broken_import (broken-import 0.1)" in out.stderr
