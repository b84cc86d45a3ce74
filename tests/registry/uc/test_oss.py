"""The uc: registry against federate serve: register through it, resolve version, latest
and @alias, download; the bytes equal what the SQL registry behind it gives."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

import federate
from federate.errors import FederateError

pytest.importorskip("uvicorn")
pytest.importorskip("urllib3")


@pytest.fixture
def uc(federate_server, federate_home):
    s = federate_server
    assert s.call("POST", "catalogs", {"name": "main"})[0] == 200
    assert s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})[0] == 200
    return s


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 4000)
    return root


def _same(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    return (
        not (cmp.left_only or cmp.right_only or cmp.diff_files)
        and all(filecmp.cmp(a / f, b / f, shallow=False) for f in cmp.common_files)
        and all(_same(a / d, b / d) for d in cmp.common_dirs)
    )


def test_register_through_uc_then_download_both_ways(uc, tmp_path):
    src = _tree(tmp_path / "src")
    mv = federate.register(src, "main.ml.fraud", alias="champion", registry_uri=uc.uc_uri)
    assert (mv.name, mv.version, mv.status) == ("main.ml.fraud", 1, "READY")
    assert mv.storage_location.startswith("file:")
    row = uc.registry.get_model_version("main.ml.fraud", 1)  # the same row, in SQL
    assert (row.status, row.storage_location) == ("READY", mv.storage_location)

    via_uc = federate.download("models:/main.ml.fraud/1", tmp_path / "a", registry_uri=uc.uc_uri)
    via_sql = federate.download(
        "models:/main.ml.fraud/1", tmp_path / "b", registry_uri=uc.registry.uri
    )
    assert _same(Path(via_uc), src) and _same(Path(via_sql), src)
    for uri in ("models:/main.ml.fraud/latest", "models:/main.ml.fraud@champion"):
        assert federate.get_registry(uc.uc_uri).resolve(uri).version == 1


def test_latest_is_highest_ready_across_pages(uc, tmp_path):
    src = _tree(tmp_path / "src")
    registry = federate.get_registry(uc.uc_uri)
    for _ in range(3):
        federate.register(src, "main.ml.m", registry_uri=uc.uc_uri)
    # a pending version above them is never latest
    pending = registry.create_model_version("main.ml.m", "s", status="PENDING_REGISTRATION")
    assert pending.version == 4
    import federate.registry.uc.native as native

    native.PAGE_SIZE, saved = 1, native.PAGE_SIZE
    try:
        assert registry.resolve("models:/main.ml.m/latest").version == 3
        assert [mv.version for mv in registry.versions("main.ml.m")] == [1, 2, 3, 4]
    finally:
        native.PAGE_SIZE = saved


def test_missing_things_are_named(uc):
    registry = federate.get_registry(uc.uc_uri)
    with pytest.raises(FederateError) as err:
        registry.resolve("models:/main.ml.nope/1")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "main.ml.nope" in str(err.value)
    with pytest.raises(FederateError) as err:
        registry.resolve("models:/nope/1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "catalog.schema.model" in str(err.value)
    with pytest.raises(FederateError) as err:
        registry.resolve("models:/main.ml.m/Production")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Unity Catalog has no stages" in str(err.value)
    with pytest.raises(FederateError) as err:
        federate.get_registry("uc:ftp://x")
    assert "uc:http://<host>:<port>" in str(err.value)


def test_a_server_without_alias_routes_is_not_implemented(federate_home, http_server):
    """The reference server has no alias routes: its plain-text 404 is NOT_IMPLEMENTED."""
    version = http_server.directory / "api/2.1/unity-catalog/models/main.ml.m/versions/1"
    version.parent.mkdir(parents=True)
    version.write_text(
        '{"catalog_name": "main", "schema_name": "ml", "model_name": "m", "version": 1, '
        '"status": "READY", "storage_location": "file:///nowhere"}'
    )
    base = http_server.url().rstrip("/")
    registry = federate.get_registry(f"uc:{base}")
    assert registry.resolve("models:/main.ml.m/1").storage_location == "file:///nowhere"
    with pytest.raises(FederateError) as err:
        registry.resolve("models:/main.ml.m@champion")
    assert err.value.error_code == "NOT_IMPLEMENTED"
    assert "no alias routes" in str(err.value) and base in str(err.value)


@pytest.mark.parametrize("variable", ["FEDERATE_UC_TOKEN", "MLFLOW_UC_OSS_TOKEN"])
def test_token_from_the_environment(
    federate_server, federate_home, monkeypatch, variable, tmp_path
):
    from federate.testing.server import running_server

    secret = "uc-token-3c9d"
    with running_server(federate_server.registry, token=secret) as guarded:
        guarded.call("POST", "catalogs", {"name": "main"})
        guarded.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
        monkeypatch.setenv(variable, "wrong-token-00")
        with pytest.raises(FederateError) as err:
            federate.get_registry(guarded.uc_uri).get_registered_model("main.ml.m")
        assert err.value.error_code == "PERMISSION_DENIED"
        assert variable in str(err.value) and "wrong-token-00" not in str(err.value)
        federate.api.clear_registry_cache()
        monkeypatch.setenv(variable, secret)
        mv = federate.register(_tree(tmp_path / "src"), "main.ml.m", registry_uri=guarded.uc_uri)
        assert mv.version == 1


def test_failed_upload_leaves_no_version(uc, tmp_path, monkeypatch):
    """register through uc: undoes the version when copying fails (files and row)."""
    from federate.repos.local import LocalArtifactRepository

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(LocalArtifactRepository, "upload_dir", broken)
    with pytest.raises(OSError, match="disk full"):
        federate.register(_tree(tmp_path / "src"), "main.ml.m", registry_uri=uc.uc_uri)
    assert uc.call("GET", "models/main.ml.m/versions")[1] == {"model_versions": []}
