"""What the Unity Catalog tests share: a model tree with a ranged file, small ranges, and
the check that every URI form downloads a version whole."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import federate
from federate.testing.trees import files_of
from federate.testing.uc_native_routes import dialects_used
from federate.testing.uc_workspace import PENDING, UcWorkspace

MiB = 1024 * 1024


@pytest.fixture
def tree() -> dict[str, bytes]:
    """A version's files: empty, non-ASCII, small ones and one past the ranged threshold."""
    return {
        "MLmodel": b"flavors:\n  python_function: {}\n",
        "empty.txt": b"",
        "data/weights.bin": os.urandom(40 * MiB + 13),
        "data/größe ünïcödé.json": b'{"k": "v"}',
        **{f"extra/f{i:02d}.txt": os.urandom(100 + i) for i in range(20)},
    }


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    # many ranges, few workers: the download lasts long enough to expire credentials in it
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "1M")
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "4M")
    monkeypatch.setenv("FEDERATE_MAX_WORKERS", "2")


@pytest.fixture(params=["mlflow", "native"])
def dialect(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each Unity Catalog dialect in turn: MLflow's ``/api/2.0/mlflow/unity-catalog`` and
    the native ``/api/2.1/unity-catalog`` (``FEDERATE_UC_NATIVE=true``)."""
    monkeypatch.setenv("FEDERATE_UC_NATIVE", "true" if request.param == "native" else "false")
    return str(request.param)


@pytest.fixture
def every_uri_form(
    tmp_path: Path, dialect: str
) -> Callable[[UcWorkspace, str, int, dict[str, bytes]], None]:
    """``check(workspace, name, version, tree)``: the version by number, by alias and as
    ``latest`` (a PENDING version above it) each download as ``tree``, over each dialect."""

    def check(workspace: UcWorkspace, name: str, version: int, tree: dict[str, bytes]) -> None:
        workspace.add_version(name, "s3://nowhere", PENDING)  # never 'latest'
        workspace.set_alias(name, "champion", version)
        for i, uri in enumerate(
            [f"models:/{name}/{version}", f"models:/{name}@champion", f"models:/{name}/latest"]
        ):
            out = federate.download(
                uri, tmp_path / f"every-form-{i}", registry_uri="databricks-uc", progress=False
            )
            assert files_of(out) == tree, uri
        assert dialects_used(workspace) == {dialect}

    return check
