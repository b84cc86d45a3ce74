"""federate serve against the OpenAPI document it serves, with schemathesis (its CLI: the
pytest plugin of 4.x does not load under pytest 9): every implemented operation, with
the document's examples, boundary values and random inputs, answers without a 5xx, with a
status, content type and JSON body the document allows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from federate.server import openapi
from federate.server.auth import OPENAPI_PATH
from federate.testing.server import ServedRegistry

pytest.importorskip("uvicorn")
pytest.importorskip("schemathesis")

ROOT = Path(__file__).resolve().parents[2]

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    )
)


def _seed(s: ServedRegistry) -> None:
    """What the document's examples name: catalog ``main``, schema ``main.ml``, model
    ``main.ml.m`` with version 1 (READY, alias ``champion``) and 2 (pending)."""
    s.seed(pending_versions=2)
    assert s.call("PATCH", "models/main.ml.m/versions/1/finalize", {})[0] == 200
    assert s.call("PUT", "models/main.ml.m/aliases/champion", {"version_num": 1})[0] == 200


def test_every_operation_answers_as_its_document_says(federate_server, tmp_path):
    _seed(federate_server)
    run = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run"),
            federate_server.url + OPENAPI_PATH,
            *("--checks", CHECKS),
            *("--phases", "examples,coverage,fuzzing"),
            *("--max-examples", "5", "--seed", "20261206"),
            *("--report-dir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # its .schemathesis/ cache goes there, not into the checkout
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "25 selected / 25 total" in run.stdout
    assert " passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]


def test_the_document_lists_the_api_and_the_alias_routes(federate_server):
    status, document = federate_server.call("GET", OPENAPI_PATH)
    assert status == 200 and document["openapi"].startswith("3.0")
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert ("GET", "/models/{full_name}/versions/{version}") in operations
    assert ("POST", "/temporary-model-version-credentials") in operations
    alias = "/models/{full_name}/aliases/{alias}"
    assert {("GET", alias), ("PUT", alias), ("DELETE", alias)} <= operations
    assert len(operations) == 25
    assert document["servers"] == [{"url": "/api/2.1/unity-catalog"}]


def _reference_spec() -> Path:
    """The OSS Unity Catalog spec: FEDERATE_TEST_UC_OPENAPI, else ``../shared/reference``
    beside the checkout."""
    named = os.environ.get("FEDERATE_TEST_UC_OPENAPI")
    path = Path(named) if named else ROOT.parent / "shared/reference/unitycatalog-openapi.yaml"
    if not path.is_file():
        pytest.skip(f"no reference OpenAPI spec at {path} (set FEDERATE_TEST_UC_OPENAPI)")
    return path


def test_the_document_agrees_with_the_reference_spec():
    """Each operation has the reference's path and operation id, and each field of a
    schema both define has the reference's type (federate's additions: the alias routes,
    the error object, ``aliases``)."""
    yaml = pytest.importorskip("yaml")
    reference = yaml.safe_load(_reference_spec().read_text())
    ours = openapi.document()
    for path, item in ours["paths"].items():
        for method, op in item.items():
            if method == "parameters" or "/aliases/" in path:
                continue
            assert reference["paths"][path][method]["operationId"] == op["operationId"]
    theirs = reference["components"]["schemas"]
    for name, schema in ours["components"]["schemas"].items():
        if name not in theirs:
            continue
        for field, spec in schema.get("properties", {}).items():
            if field == "aliases":
                continue
            assert field in theirs[name]["properties"], (name, field)
            want = theirs[name]["properties"][field]
            assert spec.get("type") == want.get("type"), (name, field)
            assert spec.get("$ref") == want.get("$ref"), (name, field)
