"""A third-party repository or registry whose *methods* fail while federate uses them.

The plugin is a real distribution (``federate-faulty``, found through its entry point);
its objects fail on demand through the module's ``FAULTS``. Users must learn which
package failed, in which method, and how; federate's own errors and retries stay as
they are.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import federate
from federate.cli import cli
from federate.errors import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.testing.trees import tree_digest

FAULTY = '''
"""faulty://<path>: files under a local directory, and a registry whose every model has
version 1 stored there; methods raise the exceptions queued in FAULTS first."""
import shutil
from pathlib import Path

from federate.entities import FileInfo, ModelVersion, RegisteredModel
from federate.plugins import RegistryPlugin, RepoPlugin, hookimpl
from federate.registry import Registry
from federate.repos.base import ArtifactRepository

#: method name -> exceptions its next calls raise, one per call
FAULTS = {}


def fault(method):
    pending = FAULTS.get(method)
    if pending:
        raise pending.pop(0)


class FaultyRepo(ArtifactRepository):
    def __init__(self, root, credentials=None, refresh=None):
        super().__init__(root, credentials, refresh)
        self.base = Path(root.removeprefix("faulty://"))

    def _info(self, p):
        rel = p.relative_to(self.base).as_posix()
        return FileInfo(rel, p.is_dir(), None if p.is_dir() else p.stat().st_size)

    def list(self, path="", recursive=False):
        fault("list")
        top = self.base / path
        found = top.rglob("*") if recursive else top.iterdir()
        return [self._info(p) for p in sorted(found)] if top.is_dir() else []

    def stat(self, path=""):
        fault("stat")
        return self._info(self.base / path)

    def read_range(self, path, start, length):
        fault("read_range")
        with open(self.base / path, "rb") as f:
            f.seek(start)
            return f.read(length)

    writable = True

    def upload_file(self, local_path, path):
        fault("upload_file")
        (self.base / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, self.base / path)

    def delete(self, path=""):
        shutil.rmtree(self.base / path, ignore_errors=True)


class FaultyRegistry(Registry):
    def resolve(self, ref):
        fault("resolve")
        return super().resolve(ref)

    def _version(self, name):
        return ModelVersion(name, 1, 0, 0, source=self.uri)

    def get_registered_model(self, name):
        return RegisteredModel(name, 0, 0)

    def get_model_version(self, name, version):
        return self._version(name)

    def get_latest_versions(self, name, stages=None):
        return [self._version(name)]

    def get_model_version_by_alias(self, name, alias):
        return self._version(name)

    def search_registered_models(self, filter_string=None, max_results=100, **kw):
        fault("search_registered_models")
        return []


@hookimpl
def federate_artifact_repos():
    return [RepoPlugin("faulty", ("faulty",), FaultyRepo)]


@hookimpl
def federate_registries():
    return [RegistryPlugin("faulty", ("faulty",), FaultyRegistry)]
'''

BLAME = "Plugin 'federate-faulty' 0.1 failed in "
ADVICE = " — report this to the plugin's authors"


@pytest.fixture
def faults(fake_site, monkeypatch) -> dict[str, list[BaseException]]:
    """The plugin's FAULTS; no backoff, so retries cost no time."""
    monkeypatch.setenv("FEDERATE_RETRY_BACKOFF", "0")
    module = fake_site.add("federate-faulty", FAULTY)
    return importlib.import_module(module).FAULTS


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A small tree with one file big enough to be read in ranges when the threshold is low."""
    root = tmp_path / "store"
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB
    return root


def test_a_raising_list_names_the_plugin_the_method_and_the_error(faults, store):
    faults["list"] = [KeyError("x")]
    with pytest.raises(FederateError) as caught:
        federate.list_artifacts(f"faulty://{store}")
    err = caught.value
    assert err.error_code == INTERNAL_ERROR
    assert err.message == f"{BLAME}ArtifactRepository.list: KeyError: 'x'{ADVICE}"
    assert isinstance(err.__cause__, KeyError)  # the plugin's own error stays chained


@pytest.mark.parametrize("threshold", ["1", "16MiB"], ids=["ranged", "whole-file"])
def test_a_raising_read_during_download_names_the_plugin(
    faults, store, tmp_path, monkeypatch, threshold
):
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", threshold)
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "64KiB")
    faults["read_range"] = [ValueError("offset out of range")]
    dst = tmp_path / "dst"
    with pytest.raises(FederateError) as caught:
        federate.download(f"faulty://{store}", dst, progress=False)
    err = caught.value
    assert err.error_code == INTERNAL_ERROR
    assert err.message == (
        f"{BLAME}ArtifactRepository.read_range: ValueError: offset out of range{ADVICE}"
    )
    assert isinstance(err.__cause__, ValueError)
    assert not dst.exists()


def test_a_raising_registry_resolve_names_the_plugin(faults, store, tmp_path):
    registry = f"faulty://{store}"
    faults["resolve"] = [AttributeError("'NoneType' object has no attribute 'version'")]
    with pytest.raises(FederateError) as caught:
        federate.resolve("models:/m/1", registry_uri=registry)
    assert caught.value.error_code == INTERNAL_ERROR
    assert caught.value.message == (
        f"{BLAME}Registry.resolve: AttributeError: 'NoneType' object has no attribute "
        f"'version'{ADVICE}"
    )
    # the same through download, which resolves first; then, the fault gone, it works
    faults["resolve"] = [AttributeError("boom")]
    with pytest.raises(FederateError, match=f"^{BLAME}Registry.resolve: AttributeError: boom"):
        federate.download("models:/m/1", tmp_path / "dst", registry_uri=registry, progress=False)
    federate.download("models:/m/1", tmp_path / "dst", registry_uri=registry, progress=False)
    assert tree_digest(tmp_path / "dst") == tree_digest(store)


def test_a_url_in_the_plugins_message_loses_its_secret(faults, store):
    faults["list"] = [RuntimeError("GET https://store.example/b?sig=SECRET-SIG failed")]
    with pytest.raises(FederateError) as caught:
        federate.list_artifacts(f"faulty://{store}")
    assert "SECRET-SIG" not in caught.value.message
    assert caught.value.message == (
        f"{BLAME}ArtifactRepository.list: RuntimeError: GET "
        f"https://store.example/b?<redacted> failed{ADVICE}"
    )


def test_a_federate_error_from_a_plugin_passes_through_unchanged(faults, store, tmp_path):
    gone = FederateError("faulty: the bucket is gone", RESOURCE_DOES_NOT_EXIST)
    faults["list"] = [gone]
    with pytest.raises(FederateError) as caught:
        federate.download(f"faulty://{store}", tmp_path / "dst", progress=False)
    assert caught.value is gone


@pytest.mark.parametrize("method", ["list", "read_range"])
def test_a_transient_error_of_a_plugin_repo_is_still_retried(
    faults, store, tmp_path, monkeypatch, method
):
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1")
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "64KiB")
    faults[method] = [ConnectionError("connection reset by peer")]
    dst = tmp_path / "dst"
    assert federate.download(f"faulty://{store}", dst, progress=False) == str(dst)
    assert faults[method] == []  # the fault was hit, and the retry went through
    assert tree_digest(dst) == tree_digest(store)


def test_the_cli_prints_the_plugins_failure_on_one_line(faults, store):
    faults["search_registered_models"] = [TypeError("unexpected keyword 'page_token'")]
    res = CliRunner().invoke(cli, ["--registry-uri", f"faulty://{store}", "models", "list"])
    assert res.exit_code == 1, res.output
    assert res.stderr.splitlines() == [
        f"federate: error: {BLAME}Registry.search_registered_models: TypeError: unexpected "
        f"keyword 'page_token'{ADVICE} [INTERNAL_ERROR]"
    ]


def test_register_into_a_plugin_store_that_fails_names_the_plugin(
    faults, store, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", f"faulty://{tmp_path / 'root'}")
    faults["upload_file"] = [PermissionError("bucket policy forbids PutObject")]
    with pytest.raises(FederateError) as caught:
        federate.register(store, "m")
    assert caught.value.message == (
        f"{BLAME}ArtifactRepository.upload_file: PermissionError: bucket policy forbids "
        f"PutObject{ADVICE}"
    )
    # the failed version was rolled back as before: the next one registers cleanly
    with pytest.raises(FederateError, match="has no versions"):
        federate.resolve("models:/m/latest")
    assert federate.register(store, "m").version == 2


def test_with_federate_debug_the_cli_shows_the_plugins_traceback(faults, store, monkeypatch):
    monkeypatch.setenv("FEDERATE_DEBUG", "1")
    faults["list"] = [KeyError("x")]
    res = CliRunner().invoke(cli, ["ls", f"faulty://{store}"])
    assert isinstance(res.exception, FederateError)
    assert str(res.exception).startswith(f"{BLAME}ArtifactRepository.list: KeyError")
    assert isinstance(res.exception.__cause__, KeyError)
