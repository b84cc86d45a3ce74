"""Which model, prompt and alias names federate accepts (federate.names), through every
door a name comes in by: the API, the registry, the CLI, a URI, and the cache."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import federate
from federate.api import clear_registry_cache
from federate.cli import cli
from federate.errors import INVALID_PARAMETER_VALUE
from federate.names import check_alias, check_name
from federate.testing.errors import raises_federate_error

ESCAPING = [
    pytest.param("..", "'.' and '..'", id="dotdot"),
    pytest.param(".", "'.' and '..'", id="dot"),
    pytest.param("a\x00b", "control character", id="nul"),
    pytest.param("a\udcffb", "lone surrogate", id="lone-surrogate"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("a/b", "'/'", id="slash"),
]


@pytest.mark.parametrize(
    "name",
    ["iris", "my model", "catalog.schema.model", "größe", "v1.2-final_x", "a.", ".x"],
)
def test_names_mlflow_and_unity_catalog_accept_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        *ESCAPING,
        pytest.param("..iris", "start with '..'", id="leading-dotdot"),
        pytest.param("a:b", "':'", id="colon"),
        pytest.param("a@b", "'@'", id="at"),
        pytest.param("a\\..\\b", "'\\\\'", id="backslash"),
        pytest.param(" a", "whitespace", id="leading-space"),
        pytest.param("x" * 257, "longer than 256", id="too-long"),
    ],
)
def test_refused_names_say_why_and_what_is_accepted(name: str, why: str) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, why, "Accepted: 1-256 characters"):
        check_name(name)


@pytest.mark.parametrize("alias", ["a\x00", "\ud800", "a b", "latest", "v2", "x" * 256])
def test_refused_aliases(alias: str) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, "Invalid alias", "Accepted: 1-255"):
        check_alias(alias)


@pytest.mark.parametrize("name, why", ESCAPING)
def test_api_register_refuses_escaping_names_and_writes_nothing(
    sqlite_registry, model_tree: Path, federate_home: Path, name: str, why: str
) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, why):
        federate.register(model_tree, name)
    # nothing was stored anywhere: not under the artifact root, not beside it
    assert not (federate_home / "artifacts").exists()
    assert [p.name for p in federate_home.iterdir() if not p.name.startswith("registry.db")] == []


@pytest.mark.parametrize("name, why", ESCAPING)
def test_registry_create_and_rename_refuse_escaping_names(sqlite_registry, name, why) -> None:
    with raises_federate_error(INVALID_PARAMETER_VALUE, why):
        sqlite_registry.create_registered_model(name)
    sqlite_registry.create_registered_model("ok")
    with raises_federate_error(INVALID_PARAMETER_VALUE, why):
        sqlite_registry.rename_registered_model("ok", name)
    with raises_federate_error(INVALID_PARAMETER_VALUE, why):
        sqlite_registry.register_prompt(name, "Hello {{x}}")


@pytest.mark.parametrize(
    "uri, why",
    [
        ("models:/../1", "'.' and '..'"),
        ("models:/%2E%2E@champion", "'.' and '..'"),
        ("models:/./latest", "'.' and '..'"),
        ("models:/a%00b/1", "control character"),
        ("models:/a\udcffb/1", "lone surrogate"),
        ("models:/m@a%00", "Invalid alias"),
        ("models:/m-%00", "Invalid model id"),
        ("prompts:/%2E%2E/1", "'.' and '..'"),
    ],
)
def test_download_and_resolve_refuse_escaping_names_in_uris(
    sqlite_registry, tmp_path: Path, uri: str, why: str
) -> None:
    for call in (lambda: federate.resolve(uri), lambda: federate.download(uri, tmp_path / "d")):
        with raises_federate_error(INVALID_PARAMETER_VALUE, "Not a valid", why, case=uri):
            call()
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("name, why", [p for p in ESCAPING if "\x00" not in p.values[0]])
def test_cli_register_refuses_escaping_names_in_one_line(
    federate_home: Path, model_tree: Path, name: str, why: str
) -> None:
    res = CliRunner().invoke(cli, ["register", str(model_tree), name], catch_exceptions=False)
    assert res.exit_code == 1
    assert res.stderr.startswith("federate: error: Invalid registered model name")
    assert why in res.stderr and res.stderr.rstrip().endswith("[INVALID_PARAMETER_VALUE]")
    assert "Traceback" not in res.stderr


def test_cli_name_not_decodable_from_argv_is_a_clean_error(
    federate_home: Path, model_tree: Path
) -> None:
    # bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape)
    package_dir = Path(federate.__file__).parent.parent
    env = {**os.environ, "FEDERATE_HOME": str(federate_home), "PYTHONPATH": str(package_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "federate", "register", str(model_tree), b"m\xff"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, err
    assert "lone surrogate" in err and "[INVALID_PARAMETER_VALUE]" in err
    assert "Traceback" not in err


def test_registries_holding_a_dotdot_name_do_not_share_a_cache_directory(
    federate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written before names were checked (or by another tool) still cannot make two
    registries' versions one cache directory: the second would be served the first's files."""
    for which in ("a", "b"):
        src = tmp_path / f"src-{which}"
        src.mkdir()
        (src / "weights.bin").write_text(f"registry {which}")
        db = tmp_path / f"{which}.db"
        monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", str(tmp_path / f"root-{which}"))
        federate.register(src, "legacy", registry_uri=f"sqlite:///{db}")
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE registered_models SET name = '..'")
            conn.execute(f"UPDATE model_versions SET model_id = 'm-{which}'")
        clear_registry_cache()
        dst = tmp_path / f"dst-{which}"
        with raises_federate_error(INVALID_PARAMETER_VALUE, "'..'", "as a name under"):
            federate.download(f"models:/m-{which}", dst, registry_uri=f"sqlite:///{db}")
        assert not dst.exists()
    assert not list((federate_home / "cache").glob("snapshots/**/*.json"))
