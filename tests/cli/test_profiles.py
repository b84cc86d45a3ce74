"""``federate --profile NAME`` (and ``FEDERATE_PROFILE``): every command reaches a
``[registries.NAME]`` table of federate.toml, with its artifact root; federate.toml's
top-level keys are checked by every command that reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federate.cli import cli
from federate.registry.sql.db import SCHEMA_HEAD


@pytest.fixture
def prod(federate_home: Path, tmp_path: Path) -> Path:
    """A federate.toml in the working directory with a [registries.prod] table; returns
    that profile's artifact root."""
    root = tmp_path / "prod-artifacts"
    Path("federate.toml").write_text(
        f'[registries.prod]\nuri = "sqlite:///{tmp_path / "prod.db"}"\nartifact_root = "{root}"\n',
        encoding="utf-8",
    )
    return root


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_profile_reaches_register_models_prompts_and_db(prod, model_tree, federate_home, tmp_path):
    res = run("--profile", "prod", "register", str(model_tree), "iris", "--alias", "champion")
    assert res.exit_code == 0, res.output
    # the profile's artifact_root holds the files, not $FEDERATE_HOME/artifacts
    assert res.stdout.strip().endswith(str(prod / "models" / "iris" / "1"))
    assert (prod / "models" / "iris" / "1" / "MLmodel").is_file()
    assert not (federate_home / "artifacts").exists()

    assert run("--profile", "prod", "models", "list", "--no-header").stdout.startswith("iris\t1\t")
    env = {"FEDERATE_PROFILE": "prod"}
    assert run("models", "list", "--no-header", env=env).stdout.startswith("iris\t1\t")
    # the default registry never saw it
    res = run("models", "list", "--no-header")
    assert res.exit_code == 0 and res.stdout == "", res.output

    res = run("--profile", "prod", "prompts", "register", "greet", "Hello {{name}}")
    assert res.exit_code == 0, res.output
    assert run("prompts", "show", "prompts:/greet/1", env=env).stdout == "Hello {{name}}\n"
    res = run("--profile", "prod", "resolve", "--no-header", "models:/iris@champion")
    assert res.stdout.startswith("iris\t1\t")
    dst = tmp_path / "dst"
    res = run("--profile", "prod", "download", "models:/iris/1", str(dst))
    assert res.exit_code == 0 and (dst / "MLmodel").is_file()
    assert run("--profile", "prod", "ls", "models:/iris/1").stdout.count("MLmodel") == 1

    for command in ("current", "check"):
        res = run("--profile", "prod", "db", command)
        assert res.exit_code == 0 and SCHEMA_HEAD in res.stdout, res.output
        res = run("db", command, env=env)
        assert res.exit_code == 0 and SCHEMA_HEAD in res.stdout, res.output


def test_db_current_and_check_default_to_the_configured_registry(federate_home, tmp_path):
    Path("federate.toml").write_text(
        f'default_registry = "prod"\n[registries.prod]\nuri = "sqlite:///{tmp_path / "p.db"}"\n',
        encoding="utf-8",
    )
    assert run("models", "create", "m").exit_code == 0  # creates p.db
    assert run("db", "current").stdout == f"{SCHEMA_HEAD} (head)\n"
    assert run("db", "check").stdout == f"ok: at {SCHEMA_HEAD}\n"
    # and without any configuration: the embedded default, once it exists
    os.remove("federate.toml")
    res = run("db", "current")
    assert res.exit_code == 1 and str(federate_home / "registry.db") in res.stderr
    assert run("models", "create", "m").exit_code == 0
    assert run("db", "check").stdout == f"ok: at {SCHEMA_HEAD}\n"


def test_a_bare_registry_uri_keeps_working(prod, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("--registry-uri", other, "models", "create", "solo").exit_code == 0
    assert run("--registry-uri", other, "models", "list", "--no-header").stdout.startswith("solo\t")
    assert run("--registry-uri", other, "db", "current").stdout == f"{SCHEMA_HEAD} (head)\n"
    assert run("--profile", "prod", "models", "create", "p1").exit_code == 0
    assert run("--profile", "prod", "models", "list", "--no-header").stdout.startswith("p1\t")
    # a typed --profile beats FEDERATE_REGISTRY_URI from the environment
    res = run(
        "--profile", "prod", "models", "list", "--no-header", env={"FEDERATE_REGISTRY_URI": other}
    )
    assert res.exit_code == 0 and res.stdout.startswith("p1\t")
    res = run("models", "list", "--no-header", env={"FEDERATE_REGISTRY_URI": other})
    assert res.exit_code == 0 and res.stdout.startswith("solo\t")


def test_profile_errors_are_one_line(prod, tmp_path):
    res = run("--profile", "ghost", "models", "list", "--no-header")
    assert res.exit_code == 1
    assert "No registry profile 'ghost' is configured (configured profiles: prod)" in res.stderr
    res = run(
        "--profile", "prod", "--registry-uri", "sqlite:///x.db", "models", "list", "--no-header"
    )
    assert res.exit_code == 2 and "--registry-uri or --profile, not both" in res.stderr
    env = {"FEDERATE_PROFILE": "prod", "FEDERATE_REGISTRY_URI": f"sqlite:///{tmp_path / 'o.db'}"}
    res = run("models", "list", "--no-header", env=env)
    assert res.exit_code == 1
    assert "FEDERATE_REGISTRY_URI and FEDERATE_PROFILE are both set" in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("models", "list", "--no-header"),
        ("resolve", "models:/iris/1"),
        ("download", "models:/iris/1", "out"),
        ("prompts", "list"),
        ("db", "current"),
        ("register", ".", "iris"),
    ],
)
def test_an_unknown_top_level_key_is_named_by_every_command(federate_home, args):
    Path("federate.toml").write_text(
        'defualt_registry = "prod"\n[registries.prod]\nuri = "sqlite:///p.db"\n',
        encoding="utf-8",
    )
    res = run(*args)
    assert res.exit_code == 1, res.output
    assert res.stderr.count("\n") == 1
    assert "unknown top-level key 'defualt_registry'" in res.stderr
    assert "accepts default_registry and registries" in res.stderr
    assert str(Path("federate.toml").absolute()) in res.stderr
    assert not Path("p.db").exists() and not Path("out").exists()
