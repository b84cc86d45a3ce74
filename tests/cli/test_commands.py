"""The command line as a user types it: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from federate.testing.trees import tree_digest


def test_register_resolve_download_ls(run, model_tree, tmp_path):
    res = run("register", str(model_tree), "iris", "--alias", "champion", "--tag", "team=ml")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Registered iris version 1 at ")

    res = run("resolve", "--no-header", "models:/iris@champion")
    name, version, location = res.stdout.rstrip("\n").split("\t")
    assert (name, version) == ("iris", "1") and os.path.isdir(location)

    res = run("resolve", "--json", "models:/iris/latest")
    data = json.loads(res.stdout)
    assert data["version"] == 1 and data["aliases"] == ["champion"]
    assert data["tags"] == {"team": "ml"}

    dst = tmp_path / "dst"
    res = run("download", "models:/iris@champion", str(dst))
    assert res.exit_code == 0 and res.stdout.strip() == str(dst)
    assert tree_digest(dst) == tree_digest(model_tree)

    res = run("ls", "--no-header", "models:/iris/1")
    size = (model_tree / "MLmodel").stat().st_size
    assert res.stdout.split("\n")[:2] == [f"{size:>12}  MLmodel", f"{'':>12}  data/"]


def test_errors_are_one_line_with_code_and_exit_1(run, model_tree, tmp_path):
    res = run("resolve", "models:/@champion")
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("federate: error: Not a valid models:/ URI: 'models:/@champion'")
    assert res.stderr.rstrip().endswith("[INVALID_PARAMETER_VALUE]")
    assert "Traceback" not in res.stderr

    # a new user's first command: the embedded default registry is there, empty
    res = run("resolve", "models:/ghost/1")
    assert res.exit_code == 1
    assert "Registered model 'ghost' does not exist [RESOURCE_DOES_NOT_EXIST]" in res.stderr

    run("register", str(model_tree), "iris")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    res = run("download", "models:/iris/1", str(tmp_path / "full"))
    assert res.exit_code == 1 and "[RESOURCE_ALREADY_EXISTS]" in res.stderr
    res = run("download", "--overwrite", "models:/iris/1", str(tmp_path / "full"))
    assert res.exit_code == 0
    assert tree_digest(tmp_path / "full") == tree_digest(model_tree)


def test_models_subcommands(run, model_tree):
    assert run("models", "create", "fraud", "--description", "d").exit_code == 0
    assert run("models", "create", "fraud").exit_code == 1
    for _ in range(3):
        run("register", str(model_tree), "fraud")
    assert (
        run("models", "alias", "fraud", "champion", "2").stdout == "fraud@champion -> version 2\n"
    )
    assert run("models", "stage", "fraud", "3", "production").stdout.endswith("in Production\n")

    listing = run("models", "list").stdout
    assert listing.startswith("NAME\tLATEST\tALIASES\nfraud\t3\tchampion->2")

    versions = run("models", "versions", "--no-header", "fraud").stdout.splitlines()
    assert [line.split("\t")[:4] for line in versions] == [
        ["3", "Production", "READY", ""],
        ["2", "None", "READY", "champion"],
        ["1", "None", "READY", ""],
    ]
    assert run("models", "alias", "fraud", "champion", "--delete").exit_code == 0
    res = run("resolve", "models:/fraud@champion")
    assert res.exit_code == 1 and "no alias 'champion'" in res.stderr

    assert run("models", "delete", "fraud", "3", "--yes").exit_code == 0
    assert run("resolve", "--no-header", "models:/fraud/latest").stdout.split("\t")[1] == "2"
    res = run("models", "delete", "fraud", input="y\n")  # no terminal: --yes is needed
    assert res.exit_code == 1 and "--yes" in res.stderr
    assert run("resolve", "models:/fraud/1").exit_code == 0  # not deleted
    assert run("models", "delete", "fraud", "--yes").exit_code == 0
    assert run("models", "list", "--no-header").stdout == ""


def test_prompts_subcommands(run, tmp_path):
    template = tmp_path / "t.txt"
    template.write_text("Summarise {{ text }} in {{ n }} words.")
    assert (
        run("prompts", "register", "summ", "--file", str(template), "--alias", "prod").exit_code
        == 0
    )
    assert (
        run("prompts", "register", "summ", "Summarise {{ text }}.", "--message", "short").exit_code
        == 0
    )
    assert run("prompts", "show", "prompts:/summ@prod").stdout == template.read_text() + "\n"
    assert (
        json.loads(run("prompts", "show", "--json", "prompts:/summ/2").stdout)["commit_message"]
        == "short"
    )
    assert run("prompts", "list", "--no-header").stdout == "summ\t2\tprod->1\n"
    assert run("prompts", "versions", "summ").stdout.splitlines()[:2] == [
        "VERSION\tALIASES\tMESSAGE",
        "2\t\tshort",
    ]
    res = run("prompts", "register", "summ")
    assert res.exit_code == 2 and "either as an argument or with --file" in res.stderr
    assert run("prompts", "alias", "summ", "prod", "2").stdout == "summ@prod -> version 2\n"
    assert run("prompts", "show", "prompts:/summ@prod").stdout == "Summarise {{ text }}.\n"
    res = run("prompts", "alias", "summ", "prod")
    assert res.exit_code == 2 and "VERSION is required unless --delete" in res.stderr
    assert run("prompts", "alias", "summ", "prod", "--delete").stdout == (
        "Removed alias prod of prompt summ\n"
    )
    assert run("prompts", "list", "--no-header").stdout == "summ\t2\t\n"


def test_console_script_and_python_m_work_in_a_fresh_process(federate_home, model_tree):
    env = {**os.environ, "FEDERATE_HOME": str(federate_home)}
    exe = shutil.which("federate")
    assert exe, "the federate console script is installed"
    out = subprocess.run(
        [exe, "register", str(model_tree), "m"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "federate", "resolve", "--no-header", "models:/m/LATEST"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stdout.startswith("m\t1\t")
    out = subprocess.run([exe, "resolve", "models:/m/1/2"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "too many path segments" in out.stderr


def test_download_of_a_single_file_prints_where_it_landed(run, model_tree, tmp_path):
    res = run("download", str(model_tree / "MLmodel"), str(tmp_path / "dst"))
    assert res.exit_code == 0, res.output
    assert res.stdout == f"{tmp_path / 'dst' / 'MLmodel'}\n"
    assert (tmp_path / "dst" / "MLmodel").read_bytes() == (model_tree / "MLmodel").read_bytes()
    res = run("download", "--help")
    assert "A single-file source lands at DST/<name>" in res.stdout
