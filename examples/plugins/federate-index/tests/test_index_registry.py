"""federate-index through federate: discovered, resolving like the SQL registry, read-only."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from federate_index.export import write_index

import federate
from federate.errors import INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED, RESOURCE_DOES_NOT_EXIST
from federate.plugins.manager import get_plugin_host
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error
from federate.testing.stores import StoreUnderTest

FILES = {"MLmodel": b"flavors: {}\n", "weights/w.bin": bytes(range(256)) * 1000}

INDEX = {
    "federate_index": 1,
    "models": {
        "fraud": {
            "description": "card fraud scorer",
            "tags": {"team": "risk"},
            "aliases": {"champion": 1},
            "versions": {
                "1": {"source": "fraud/1", "stage": "Production", "tags": {"auc": "0.91"}},
                "2": "./fraud/2",
                "3": {"source": "fraud/3", "stage": "staging"},
            },
        }
    },
}


@pytest.fixture
def published(store_local: StoreUnderTest, federate_home) -> str:
    """An index and three versions' files in a local store; returns the registry URI."""
    store_local.put("registry/index.json", json.dumps(INDEX).encode())
    for version in ("1", "2", "3"):
        for path, data in FILES.items():
            store_local.put(f"registry/fraud/{version}/{path}", data + version.encode())
    return f"index+{store_local.uri('registry/index.json')}"


def test_the_plugin_is_discovered_through_its_entry_point(federate_home):
    record, info = get_plugin_host().registry_plugin("index+s3://bucket/index.json")
    assert (record.name, info.package, info.origin, info.api) == (
        "index",
        "federate-index",
        "entry point",
        (1,),
    )


def test_uris_resolve_and_download(published, store_local, tmp_path):
    def version(uri: str) -> int:
        return federate.resolve(uri, registry_uri=published).version

    assert version("models:/fraud/2") == 2
    assert version("models:/fraud/latest") == 3
    assert version("models:/fraud@champion") == 1
    assert version("models:/fraud/production") == 1
    assert version("models:/fraud/Staging") == 3
    mv = federate.resolve("models:/fraud/1", registry_uri=published)
    assert mv.download_uri == store_local.uri("registry/fraud/1")
    assert (mv.current_stage, mv.tags, mv.aliases) == ("Production", {"auc": "0.91"}, ("champion",))
    rm = federate.get_registry(published).get_registered_model("fraud")
    assert (rm.description, rm.tags, rm.aliases) == (
        "card fraud scorer",
        {"team": "risk"},
        {"champion": 1},
    )

    dst = Path(
        federate.download("models:/fraud@champion", tmp_path / "out", registry_uri=published)
    )
    assert {p: (dst / p).read_bytes() for p in FILES} == {p: d + b"1" for p, d in FILES.items()}


def test_an_exported_sql_registry_resolves_the_same(sqlite_registry, store_local, tmp_path):
    """The index answers every URI form exactly as the registry it was exported from."""
    src = tmp_path / "model"
    (src / "weights").mkdir(parents=True)
    for path, data in FILES.items():
        (src / path).write_bytes(data)
    for _ in range(3):
        federate.register(src, "iris", tags={"k": "v"})
    sqlite_registry.set_registered_model_alias("iris", "champion", 2)
    sqlite_registry.transition_model_version_stage("iris", 1, "Production")
    sqlite_registry.transition_model_version_stage("iris", 3, "Staging")
    sqlite_registry.delete_model_version("iris", 3)

    location = store_local.uri("index.json")
    write_index(sqlite_registry, location)
    index = federate.get_registry(f"index+{location}")
    for uri in [
        "models:/iris/1",
        "models:/iris/latest",
        "models:/iris@champion",
        "models:/iris/Production",
        "models:/iris/None",
    ]:
        a, b = sqlite_registry.resolve(uri), index.resolve(uri)
        fields = ("version", "download_uri", "current_stage", "aliases", "tags")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], uri
    for uri in ["models:/iris/3", "models:/iris/Staging"]:
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, case=uri):
            index.resolve(uri)


def test_missing_names_are_resource_does_not_exist(published):
    registry = federate.get_registry(published)
    cases = {
        "models:/nope/1": "Registered model 'nope' not found",
        "models:/fraud/9": "'fraud' version 9",
        "models:/fraud@gone": "no alias 'gone'",
        "models:/fraud/Archived": "no versions in stage 'Archived'",
    }
    for uri, message in cases.items():
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, message, case=uri):
            registry.resolve(uri)
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST):
        federate.resolve("models:/fraud/1", registry_uri=published.replace("index.json", "no.json"))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"federate_index": 2}', "at federate_index: this plugin reads format 1, found 2"),
        ('{"federate_index": 1, "models": []}', "at models: expected an object, found list"),
        (
            '{"federate_index": 1, "models": {"m": {"versions": {"x": "a"}}}}',
            "at models.m.versions.x: Invalid version 'x'",
        ),
        (
            '{"federate_index": 1, "models": {"m": {"versions": {"1": {"source": "a", '
            '"stage": "Live"}}}}}',
            "at models.m.versions.1.stage: Invalid stage 'Live'",
        ),
        (
            '{"federate_index": 1, "models": {"m": {"aliases": {"a": 2}, "versions": {"1": "a"}}}}',
            "at models.m.aliases.a: version 2 is not in the index",
        ),
        ('{"federate_index": 1, "models": {"m": {"versions": {"1": {}}}}}', "needs a source"),
    ],
)
def test_a_malformed_index_is_reported_where_it_is_wrong(
    store_local, federate_home, document, message
):
    store_local.put("index.json", document.encode())
    with raises_federate_error(INVALID_PARAMETER_VALUE, message):
        federate.resolve("models:/m/1", registry_uri=f"index+{store_local.uri('index.json')}")


def test_writes_are_refused_and_bad_uris_explained(published, federate_home):
    with raises_federate_error(NOT_IMPLEMENTED, "IndexRegistry is read-only"):
        federate.get_registry(published).create_registered_model("new")
    with raises_federate_error(
        INVALID_PARAMETER_VALUE, "names no index file; write index+<location>"
    ):
        federate.get_registry("index://somewhere")


def test_changes_to_the_index_are_seen_on_the_next_call(published, store_local):
    assert federate.resolve("models:/fraud/latest", registry_uri=published).version == 3
    doc = json.loads(json.dumps(INDEX))
    doc["models"]["fraud"]["versions"]["4"] = "fraud/1"
    store_local.put("registry/index.json", json.dumps(doc).encode())
    assert federate.resolve("models:/fraud/latest", registry_uri=published).version == 4


def test_an_index_inside_a_zip_archive(federate_home, tmp_path):
    """Two plugins compose: the index is read through federate-zip's repository."""
    pytest.importorskip("federate_zip", reason="needs the federate-zip example installed")
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("index.json", json.dumps(INDEX))
        for path, data in FILES.items():
            zf.writestr(f"fraud/1/{path}", data)
    registry_uri = f"index+zip://{bundle}!/index.json"
    mv = federate.resolve("models:/fraud@champion", registry_uri=registry_uri)
    assert mv.download_uri == f"zip://{bundle}!/fraud/1"
    dst = Path(
        federate.download("models:/fraud@champion", tmp_path / "out", registry_uri=registry_uri)
    )
    assert {p: (dst / p).read_bytes() for p in FILES} == FILES


def test_command_line(published, federate_home, store_local):
    env = {"FEDERATE_REGISTRY_URI": published, "FEDERATE_HOME": str(federate_home)}
    out = run_federate("resolve", "--no-header", "models:/fraud@champion", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"fraud\t1\t{store_local.uri('registry/fraud/1')}\n"
    out = run_federate("models", "create", "new", env=env)
    assert out.returncode == 1
    assert "IndexRegistry is read-only" in out.stderr and "[NOT_IMPLEMENTED]" in out.stderr
