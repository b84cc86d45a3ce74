"""What the command line shows of a database password holding unencoded ``/ ? #`` (as
generated passwords do): the unknown-scheme errors, and after a download from a registry
with such a password, ``federate cache ls`` and the cache's files (registries.json is
readable by every user of the machine)."""

from __future__ import annotations

import json

import pytest

from federate.testing.databases import database_params, fresh_database_uri

PASSWORD = "Hu/nt?er#2x"


def test_unknown_registry_scheme_error_hides_the_password(run):
    res = run(
        "--registry-uri",
        f"nosuch+db://svc:{PASSWORD}@db.internal:5432/reg",
        "resolve",
        "models:/m/1",
    )
    assert res.exit_code == 1
    assert "No registry plugin handles scheme 'nosuch+db'" in res.stderr
    assert "(registry URI 'nosuch+db://svc:***@db.internal:5432/reg')" in res.stderr
    assert "nt?er" not in res.output and "er#2" not in res.output


def test_unknown_repository_scheme_error_hides_the_password(run, tmp_path):
    res = run("download", f"hdfs://svc:{PASSWORD}@namenode:8020/models/m", str(tmp_path / "d"))
    assert res.exit_code == 1
    assert "No artifact repository plugin handles scheme 'hdfs'" in res.stderr
    assert "(location 'hdfs://svc:***@namenode:8020/models/m')" in res.stderr
    assert "nt?er" not in res.output and "er#2" not in res.output


def _postgres_with_password(tmp_path):
    """The test PostgreSQL, addressed with a password it does not check (trust auth)."""
    found = [p.values[0] for p in database_params() if p.values[0].id == "postgresql"]
    if not found:
        pytest.skip("no PostgreSQL in FEDERATE_TEST_DB_URIS")
    uri = fresh_database_uri(found[0], tmp_path)
    head, _, rest = uri.partition("://")
    user, _, host = rest.partition("@")
    assert ":" not in user, "the test database URL has no password of its own"
    return f"{head}://{user}:{PASSWORD}@{host}"


def test_a_download_through_a_registry_with_a_password_keeps_it_out_of_the_cache(
    run, federate_home, model_tree, tmp_path
):
    registry_uri = _postgres_with_password(tmp_path)
    res = run("--registry-uri", registry_uri, "register", str(model_tree), "m")
    assert res.exit_code == 0, res.output
    res = run("--registry-uri", registry_uri, "download", "models:/m/1", str(tmp_path / "d"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "MLmodel").read_bytes() == (model_tree / "MLmodel").read_bytes()

    cache = federate_home / "cache"
    shown = registry_uri.replace(f":{PASSWORD}@", ":***@")
    assert list(json.loads((cache / "registries.json").read_text()).values()) == [shown]
    (meta,) = [p for p in cache.rglob("1.json") if p.with_suffix("").is_dir()]  # version 1
    assert json.loads(meta.read_text())["registry"] == shown
    for path in cache.rglob("*.json"):
        assert "nt?er" not in path.read_text(), path

    res = run("cache", "ls")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1].startswith("m\t1\t") and shown in res.stdout
    assert "nt?er" not in res.output and "er#2" not in res.output
