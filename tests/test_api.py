"""The public API end to end on the embedded default registry (SQLite + local store)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import federate
from federate.errors import FederateError
from federate.testing.trees import tree_digest


def test_register_then_download_by_alias_is_byte_identical(federate_home, model_tree, tmp_path):
    mv = federate.register(model_tree, "iris", alias="champion", tags={"team": "ml"})
    assert (mv.name, mv.version, mv.aliases, mv.tags) == ("iris", 1, ("champion",), {"team": "ml"})
    assert mv.status == "READY"
    assert mv.storage_location == str(federate_home / "artifacts" / "models" / "iris" / "1")

    dst = tmp_path / "out"
    assert federate.download("models:/iris@champion", dst) == str(dst)
    assert tree_digest(dst) == tree_digest(model_tree)


@pytest.mark.parametrize(
    "uri", ["models:/iris/2", "models:/iris/latest", "models:/iris/LATEST", "models:/iris@prod"]
)
def test_resolution_forms_pick_the_right_version(federate_home, model_tree, uri):
    federate.register(model_tree, "iris")
    federate.register(model_tree, "iris", alias="prod")
    assert federate.resolve(uri).version == 2


def test_stage_uri_resolves_highest_version_in_stage(federate_home, model_tree):
    for _ in range(3):
        federate.register(model_tree, "iris")
    reg = federate.get_registry()
    reg.transition_model_version_stage("iris", 1, "Production")
    reg.transition_model_version_stage("iris", 2, "production")
    assert federate.resolve("models:/iris/Production").version == 2
    assert federate.resolve("models:/iris/PRODUCTION").version == 2
    assert federate.resolve("models:/iris/latest").version == 3


@pytest.mark.parametrize(
    "uri, missing",
    [
        ("models:/nope/1", "'nope'"),
        ("models:/iris/7", "version 7"),
        ("models:/iris@ghost", "'ghost'"),
        ("models:/iris/Staging", "'Staging'"),
        ("models:/iris/Prod", "'Prod'"),
        ("models:/m-0123", "'m-0123'"),
    ],
)
def test_missing_things_are_named(federate_home, model_tree, uri, missing):
    federate.register(model_tree, "iris")
    with pytest.raises(FederateError) as exc:
        federate.resolve(uri)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing in str(exc.value)


def test_list_artifacts_of_version_and_of_subpath(federate_home, model_tree):
    federate.register(model_tree, "iris")
    top = {(f.path, f.is_dir, f.file_size) for f in federate.list_artifacts("models:/iris/1")}
    assert top == {
        ("MLmodel", False, len((model_tree / "MLmodel").read_bytes())),
        ("empty.txt", False, 0),
        ("data", True, None),
    }
    sub = [f.path for f in federate.list_artifacts("models:/iris/1", "data")]
    assert sub == ["data/größe ünïcödé.json", "data/nested deeper"]


def test_listing_a_missing_path_is_an_error_and_an_empty_directory_is_not(
    federate_home, model_tree, tmp_path
):
    federate.register(model_tree, "iris")
    for uri, path in [("models:/iris/1", "no such dir"), (str(tmp_path / "absent"), None)]:
        with pytest.raises(FederateError) as exc:
            federate.list_artifacts(uri, path)
        assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    (tmp_path / "empty").mkdir()
    assert federate.list_artifacts(str(tmp_path / "empty")) == []


def test_plain_storage_uris_bypass_the_registry(federate_home, model_tree, tmp_path):
    dst = tmp_path / "copy"
    federate.download(model_tree.as_uri(), dst)
    assert tree_digest(dst) == tree_digest(model_tree)
    assert {f.path for f in federate.list_artifacts(str(model_tree))} >= {"MLmodel", "data"}
    single = federate.download(str(model_tree / "MLmodel"), tmp_path / "one")
    assert Path(single) == tmp_path / "one" / "MLmodel"
    assert Path(single).read_bytes() == (model_tree / "MLmodel").read_bytes()


def test_download_without_dst_uses_a_reusable_snapshot(federate_home, model_tree):
    federate.register(model_tree, "iris", alias="champion")
    first = federate.download("models:/iris@champion")
    assert Path(first).is_relative_to(federate_home / "cache" / "snapshots")
    assert tree_digest(Path(first)) == tree_digest(model_tree)
    assert federate.download("models:/iris/1") == first


def test_nonempty_destination_is_never_mixed(federate_home, model_tree, tmp_path):
    federate.register(model_tree, "iris")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    with pytest.raises(FederateError) as exc:
        federate.download("models:/iris/1", dst)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "not empty" in str(exc.value)
    assert sorted(os.listdir(dst)) == ["old.txt"]
    assert sorted(os.listdir(tmp_path)) == sorted(["dst", "src-model", "federate-home", "work"])

    federate.download("models:/iris/1", dst, overwrite=True)
    assert tree_digest(dst) == tree_digest(model_tree)  # old.txt is gone, not mixed in


def test_empty_existing_destination_is_filled(federate_home, model_tree, tmp_path):
    federate.register(model_tree, "iris")
    dst = tmp_path / "empty"
    dst.mkdir()
    federate.download("models:/iris/1", dst)
    assert tree_digest(dst) == tree_digest(model_tree)


def test_failed_download_leaves_no_destination_and_no_staging(federate_home, model_tree, tmp_path):
    mv = federate.register(model_tree, "iris")
    # a special file in the store: it is listed, then fails when fetched, after other
    # files of the version have already been written to the staging directory
    os.mkfifo(Path(mv.storage_location) / "zz-pipe")
    out = tmp_path / "out"
    with pytest.raises(FederateError) as exc:
        federate.download("models:/iris/1", out)
    assert "zz-pipe" in str(exc.value)
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_register_failure_removes_the_version_and_its_files(federate_home, model_tree, monkeypatch):
    blocked = federate_home / "blocked-root"
    blocked.write_text("a file where a directory should be")
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", str(blocked))
    federate.api.clear_registry_cache()
    with pytest.raises(FederateError) as exc:
        federate.register(model_tree, "iris")
    assert "blocked-root" in str(exc.value)
    reg = federate.get_registry()
    assert reg.get_latest_versions("iris") == []
    with pytest.raises(FederateError) as exc:
        reg.get_model_version("iris", 1)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    monkeypatch.delenv("FEDERATE_ARTIFACT_ROOT")
    federate.api.clear_registry_cache()
    assert federate.register(model_tree, "iris").version == 2  # 1 is never reused


def test_register_rejects_bad_input_before_storing_anything(federate_home, model_tree, tmp_path):
    with pytest.raises(FederateError) as exc:
        federate.register(tmp_path / "missing", "iris")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(FederateError) as exc:
        federate.register(model_tree, "iris", alias="latest")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(FederateError) as exc:
        federate.register(model_tree, "a/b")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (federate_home / "artifacts").exists()


def test_register_a_single_file(federate_home, model_tree, tmp_path):
    federate.register(model_tree / "MLmodel", "single")
    out = federate.download("models:/single/1", tmp_path / "one")
    assert sorted(os.listdir(out)) == ["MLmodel"]


def test_explicit_registry_uri_and_set_registry_uri(federate_home, model_tree, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    federate.register(model_tree, "only-in-other", registry_uri=other)
    assert federate.resolve("models:/only-in-other/1", registry_uri=other).version == 1
    with pytest.raises(FederateError):
        federate.resolve("models:/only-in-other/1")
    federate.set_registry_uri(other)
    assert federate.get_registry_uri() == other
    assert federate.resolve("models:/only-in-other/1").version == 1


def test_profile_uri_uses_the_federate_toml_registry(federate_home, model_tree, tmp_path):
    other = f"sqlite:///{tmp_path / 'team.db'}"
    Path("federate.toml").write_text(
        f'[registries.team]\nuri = "{other}"\nartifact_root = "{tmp_path / "team-artifacts"}"\n'
    )
    reg = federate.get_registry(other)
    reg.create_registered_model("fraud")
    reg.create_model_version("fraud", source=str(model_tree))
    assert federate.resolve("models://team/fraud/1").source == str(model_tree)
    with pytest.raises(FederateError) as exc:
        federate.resolve("models://nobody/fraud/1")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "team" in str(exc.value)


def test_prompts_through_the_public_api(federate_home):
    reg = federate.get_registry()
    reg.register_prompt("greet", "Hello {{ name }}!")
    reg.register_prompt("greet", "Hi {{ name }}!", commit_message="shorter")
    reg.set_prompt_alias("greet", "prod", 1)
    assert federate.load_prompt("prompts:/greet@prod").format(name="Ada") == "Hello Ada!"
    assert federate.load_prompt("prompts:/greet/2").commit_message == "shorter"
    with pytest.raises(FederateError) as exc:
        federate.resolve("prompts:/greet/1")
    assert "load_prompt" in str(exc.value)
    with pytest.raises(FederateError):
        federate.download("prompts:/greet/1")


def test_unknown_scheme_lists_installed_schemes(federate_home):
    with pytest.raises(FederateError) as exc:
        federate.download("hdfs://namenode/models/x", "/tmp/never")
    assert "'hdfs'" in str(exc.value) and "file" in str(exc.value)
    with pytest.raises(FederateError) as exc:
        federate.resolve("models:/m/1", registry_uri="cassandra://db")
    assert "'cassandra'" in str(exc.value) and "sqlite" in str(exc.value)


def test_secrets_in_uris_are_not_echoed(federate_home):
    with pytest.raises(FederateError) as exc:
        federate.download("hdfs://user:hunter2@host/p?sig=SECRETSIG", "/tmp/never")
    assert "hunter2" not in str(exc.value) and "SECRETSIG" not in str(exc.value)


def test_registries_sharing_an_artifact_root_never_mix_files(federate_home, model_tree, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    first = federate.register(model_tree, "m")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "only.txt").write_text("other registry's version 1")
    second = federate.register(lone, "m", registry_uri=other)
    assert second.version == first.version == 1
    assert second.storage_location != first.storage_location
    assert tree_digest(federate.download("models:/m/1", tmp_path / "a")) == tree_digest(model_tree)
    got = federate.download("models:/m/1", tmp_path / "b", registry_uri=other)
    assert tree_digest(got) == tree_digest(lone)


def test_a_single_file_lands_inside_dst_whatever_names_it(
    federate_home, model_tree, tmp_path, http_server, monkeypatch
):
    """As MLflow's download_artifacts does: dst is a directory, the file goes in it."""
    from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS
    from federate.testing.errors import raises_federate_error

    src = model_tree / "MLmodel"
    (http_server.directory / "model.bin").write_bytes(b"weights" * 1000)
    url = http_server.url("model.bin")
    for n, uri in enumerate([str(src), src.as_uri(), url]):
        dst = tmp_path / f"d{n}"
        got = Path(federate.download(uri, dst))
        assert got == dst / got.name and got.name in ("MLmodel", "model.bin")
        assert os.listdir(dst) == [got.name]
        with raises_federate_error(RESOURCE_ALREADY_EXISTS, str(got), "overwrite"):
            federate.download(uri, dst)
        assert federate.download(uri, dst, overwrite=True) == str(got)
        assert os.listdir(dst) == [got.name]
    assert (tmp_path / "d2" / "model.bin").read_bytes() == b"weights" * 1000
    (tmp_path / "d0" / "other.txt").write_text("kept")  # the file joins what is there
    federate.download(url, tmp_path / "d0")
    assert sorted(os.listdir(tmp_path / "d0")) == ["MLmodel", "model.bin", "other.txt"]
    with raises_federate_error(INVALID_PARAMETER_VALUE, "is a file"):
        federate.download(url, tmp_path / "d0" / "MLmodel")

    auto = Path(federate.download(url))  # no dst: a directory of its own under downloads/
    assert auto.name == "model.bin" and auto.parent.parent == federate_home / "downloads"
    with monkeypatch.context() as offline:
        offline.setenv("FEDERATE_OFFLINE", "1")
        assert federate.download(url) == str(auto)

    # a registry version of one file: the same layout, from the cache
    reg = federate.get_registry()
    reg.create_registered_model("one")
    reg.create_model_version("one", source=url)  # the version *is* the file
    out = federate.download("models:/one/1", tmp_path / "v1")
    assert out == str(tmp_path / "v1") and os.listdir(out) == ["model.bin"]
    federate.register(src, "registered")  # uploaded into a version directory
    out = federate.download("models:/registered/1", tmp_path / "v2")
    assert os.listdir(out) == ["MLmodel"]
    assert os.listdir(federate.download("models:/one/1")) == ["model.bin"]
