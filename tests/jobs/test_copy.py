"""federate.copy between two SQL registries whose artifact roots are in different stores."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

import federate
from federate.cache import ModelCache, housekeeping
from federate.entities import PENDING_REGISTRATION, READY
from federate.errors import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    FederateError,
)
from federate.jobs import heartbeat, lineage
from federate.jobs.digest import tree_digest
from federate.plugins.manager import get_plugin_host
from federate.testing.terminal import stderr_on_terminal


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sha256sum_digest(root: Path) -> str:
    """The digest as the shell recipe in federate/jobs/digest.py computes it."""
    lines = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n"
        for path, data in sorted(_tree(root).items())
    )
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


@pytest.fixture
def two_registries(federate_home: Path, tmp_path: Path, store_s3, monkeypatch):  # type: ignore[no-untyped-def]
    """``team`` (SQLite, local artifacts) and ``company`` (SQLite, artifacts in moto S3),
    as federate.toml profiles; the team registry is also the default."""
    (tmp_path / "team-artifacts").mkdir()
    Path("federate.toml").write_text(
        'default_registry = "team"\n'
        "[registries.team]\n"
        f'uri = "sqlite:///{tmp_path / "team.db"}"\n'
        f'artifact_root = "{tmp_path / "team-artifacts"}"\n'
        "[registries.company]\n"
        f'uri = "sqlite:///{tmp_path / "company.db"}"\n'
        f'artifact_root = "{store_s3.root}/company"\n'
    )
    return store_s3


def test_copy_local_to_s3_bytes_tags_and_lineage(two_registries, model_tree, tmp_path):
    src = federate.register(
        model_tree, "churn", tags={"team": "ml", "k": "v"}, description="the churn model"
    )
    copied = federate.copy("models:/churn/1", "company", alias="champion")
    assert (copied.name, copied.version, copied.status) == ("churn", 1, READY)
    assert copied.download_uri.startswith(two_registries.root + "/company/models/churn/1")
    assert copied.description == "the churn model"
    digest = _sha256sum_digest(model_tree)
    assert copied.tags == {
        "team": "ml",
        "k": "v",
        lineage.REGISTRY: "team",
        lineage.NAME: "churn",
        lineage.VERSION: "1",
        lineage.DIGEST: digest,
    }
    assert "champion" in copied.aliases
    out = federate.download("models://company/churn@champion", tmp_path / "out")
    assert _tree(Path(out)) == _tree(model_tree)
    assert src.version == 1

    again = federate.copy("models://team/churn/1", "company")
    assert again.version == 1  # lineage says team/churn/1 either way
    company = federate.registries.open_registry(federate.config.registry_config(profile="company"))
    assert [mv.version for mv in company.search_model_versions("name = 'churn'")] == [1]


def test_copy_by_uri_names_the_registry_without_its_password(two_registries, model_tree):
    federate.register(model_tree, "churn")
    dst = "sqlite:///" + str(Path("dst.db").absolute())
    copied = federate.copy("models:/churn/1", dst, name="churn-copy")
    assert copied.name == "churn-copy"
    assert copied.tags[lineage.REGISTRY] == "team"  # the default registry is a profile here
    assert lineage.without_password("postgresql://u:p@ss/w@db:5432/x") == "postgresql://u@db:5432/x"
    assert lineage.without_password("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def _reserve_like_a_copy(store, filling: bytes):  # type: ignore[no-untyped-def]
    """What a copy of team's churn 1 leaves in company mid-upload: a reserved version
    with the lineage tags and part of the files under its location."""
    company = federate.registries.open_registry(federate.config.registry_config(profile="company"))
    company.create_registered_model("churn")
    identity = {lineage.REGISTRY: "team", lineage.NAME: "churn", lineage.VERSION: "1"}
    pending = company.create_model_version(
        "churn", source="models:/churn/1", tags=identity, status=PENDING_REGISTRATION
    )
    store.put("company/models/churn/1/MLmodel", filling)
    return company, pending


def _age_versions(db: Path) -> None:
    """Make every version of the SQLite registry ``db`` look untouched since 1970."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE model_versions SET last_updated_time = 1")
    conn.close()


def test_a_copy_killed_after_reserving_its_version_is_finished_not_duplicated(
    two_registries, model_tree, tmp_path
):
    federate.register(model_tree, "churn")
    company, _ = _reserve_like_a_copy(two_registries, b"half")  # then killed
    _age_versions(tmp_path / "company.db")  # its copy stopped beating long ago
    copied = federate.copy("models:/churn/1", "company")
    assert (copied.version, copied.status) == (1, READY)
    assert copied.download_uri == two_registries.root + "/company/models/churn/1"
    assert copied.tags[lineage.DIGEST] == _sha256sum_digest(model_tree)
    out = federate.download("models://company/churn/1")
    assert _tree(Path(out)) == _tree(model_tree)
    assert [mv.version for mv in company.search_model_versions("name = 'churn'")] == [1]


def test_a_failed_upload_leaves_nothing_behind(two_registries, model_tree, monkeypatch):
    federate.register(model_tree, "churn")
    from federate.jobs import copy as copy_module

    def broken(location, fetched, **kwargs):  # type: ignore[no-untyped-def]
        raise FederateError("the store went away")

    monkeypatch.setattr(copy_module, "_upload", broken)
    with pytest.raises(FederateError, match="the store went away"):
        federate.copy("models:/churn/1", "company")
    company = federate.registries.open_registry(federate.config.registry_config(profile="company"))
    assert list(company.search_model_versions("name = 'churn'")) == []


def test_missing_source_and_bad_destination(two_registries, model_tree):
    federate.register(model_tree, "other")
    with pytest.raises(FederateError) as err:
        federate.copy("models:/nope/1", "company")
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST and "'nope'" in err.value.message
    with pytest.raises(FederateError) as err:
        federate.copy("models:/nope/1", "nowhere")
    assert err.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert "No registry profile 'nowhere'" in err.value.message
    with pytest.raises(FederateError) as err:
        federate.copy("prompts:/p/1", "company")
    assert err.value.error_code == INVALID_PARAMETER_VALUE and "prompt URI" in err.value.message


def test_digest_of_file_hashes_is_order_free():
    assert tree_digest({"b": "2", "a": "1"}) == tree_digest({"a": "1", "b": "2"})
    assert tree_digest({"a": "1"}) != tree_digest({"a": "2"})


def test_a_live_copy_is_left_alone_by_a_second_copy_of_its_source(
    two_registries, model_tree, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_JOBS_LEASE_SECONDS", "1")  # polled every third of it
    federate.register(model_tree, "churn")
    company, pending = _reserve_like_a_copy(two_registries, b"being uploaded")  # alive
    where = two_registries.uri("company/models/churn/1")
    location = get_plugin_host().open_repo(where)
    # while the first copy's heartbeat is fresh, the second waits: it neither deletes its
    # files nor makes another version; once the first is done, the second returns its version
    answers: list[object] = []
    with heartbeat.beating(company, pending, every=0.05):
        second = threading.Thread(
            target=lambda: answers.append(federate.copy("models:/churn/1", "company"))
        )
        second.start()
        second.join(1.5)
        assert second.is_alive() and not answers  # waiting for the live copy
        assert {f.path: f.file_size for f in location.walk_files()} == {"MLmodel": 14}
        assert [mv.version for mv in company.search_model_versions("name = 'churn'")] == [1]
        company.finish_model_version("churn", 1, where)  # the first copy ends
    second.join(30)
    (copied,) = answers
    assert (copied.version, copied.status) == (1, READY)
    assert [mv.version for mv in company.search_model_versions("name = 'churn'")] == [1]
    assert {f.path: f.file_size for f in location.walk_files()} == {"MLmodel": 14}


def test_a_copy_that_stops_beating_is_taken_over(two_registries, model_tree, tmp_path):
    federate.register(model_tree, "churn")
    company, pending = _reserve_like_a_copy(two_registries, b"being uploaded")
    # while it beats, the version stays live; once it stops for a lease, it is stale
    _age_versions(tmp_path / "company.db")
    assert not heartbeat.is_live(company.get_model_version("churn", 1))
    with heartbeat.beating(company, pending, every=0.05):
        beaten = threading.Event()
        for _ in range(200):
            if heartbeat.is_live(company.get_model_version("churn", 1)):
                beaten.set()
                break
            beaten.wait(0.05)
        assert beaten.is_set()
    _age_versions(tmp_path / "company.db")
    copied = federate.copy("models:/churn/1", "company")
    assert (copied.version, copied.status) == (1, READY)
    assert _tree(Path(federate.download("models://company/churn/1"))) == _tree(model_tree)


def test_the_upload_reads_the_cached_source_under_the_read_lock(
    two_registries, model_tree, monkeypatch
):
    """A prune while the copy uploads skips the source's snapshot (its lock is held)."""
    federate.register(model_tree, "churn")
    from federate.jobs import copy as copy_module

    upload = copy_module._upload
    pruned: list[list[str]] = []

    def prune_then_upload(location, fetched, **kwargs):  # type: ignore[no-untyped-def]
        pruned.append(housekeeping.prune(ModelCache(), older_than_s=0))
        upload(location, fetched, **kwargs)

    monkeypatch.setattr(copy_module, "_upload", prune_then_upload)
    copied = federate.copy("models:/churn/1", "company")
    assert pruned == [[]]  # the snapshot being read was skipped
    assert _tree(Path(federate.download(copied.download_uri))) == _tree(model_tree)


@pytest.fixture
def s3_to_azure(federate_home: Path, tmp_path: Path, store_s3, store_azure):  # type: ignore[no-untyped-def]
    """``team`` (SQLite, artifacts in moto S3; the default) and ``company`` (SQLite,
    artifacts in Azurite)."""
    Path("federate.toml").write_text(
        'default_registry = "team"\n'
        "[registries.team]\n"
        f'uri = "sqlite:///{tmp_path / "team.db"}"\n'
        f'artifact_root = "{store_s3.root}/team"\n'
        "[registries.company]\n"
        f'uri = "sqlite:///{tmp_path / "company.db"}"\n'
        f'artifact_root = "{store_azure.root}/company"\n'
    )
    return store_s3, store_azure


def _on_a_terminal(*args: str) -> str:
    """Run ``federate ARGS`` with stderr on a pseudo-terminal; what it drew there."""
    env = os.environ | {"PYTHONPATH": str(Path(federate.__file__).resolve().parents[1])}
    code, drawn = stderr_on_terminal([sys.executable, "-m", "federate", *args], env)
    assert code == 0, drawn
    return drawn


def test_copy_s3_to_azure_bytes_tags_and_an_upload_bar(s3_to_azure, model_tree, tmp_path):
    s3, azure = s3_to_azure
    src = federate.register(model_tree, "churn", tags={"team": "ml"}, description="d")
    assert src.download_uri.startswith(s3.root + "/team/")
    drawn = _on_a_terminal("copy", "models:/churn/1", "--to", "company", "--alias", "prod")
    assert "upload" in drawn and "%|" in drawn  # the foreground copy's upload bar
    company = federate.registries.open_registry(federate.config.registry_config(profile="company"))
    copied = company.get_model_version("churn", 1)
    assert copied.status == READY and "prod" in copied.aliases
    assert copied.download_uri == azure.root + "/company/models/churn/1"
    assert copied.description == "d"
    assert copied.tags == {
        "team": "ml",
        lineage.REGISTRY: "team",
        lineage.NAME: "churn",
        lineage.VERSION: "1",
        lineage.DIGEST: _sha256sum_digest(model_tree),
    }
    # the bytes in Azure, read straight from the store (not through the cache)
    out = federate.download(copied.download_uri, tmp_path / "from-azure")
    assert _tree(Path(out)) == _tree(model_tree)
    assert federate.copy("models:/churn/1", "company").version == 1  # once
