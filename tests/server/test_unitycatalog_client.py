"""Interop: the official ``unitycatalog-client`` (async; pinned in the ``test`` extra)
creates a catalog, schema, model and version against federate serve, writes the files at
the location the server gave and finalizes; federate then downloads the same bytes.

The client runs in a subprocess: ``FEDERATE_TEST_UC_CLIENT_PYTHON`` names an interpreter
that has it (its exact pins, urllib3 and pydantic among them, need not fit this one);
else this interpreter, if it has it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import federate

pytest.importorskip("uvicorn")

_PYTHON = os.environ.get("FEDERATE_TEST_UC_CLIENT_PYTHON") or (
    sys.executable if importlib.util.find_spec("unitycatalog") else None
)
pytestmark = pytest.mark.skipif(_PYTHON is None, reason="unitycatalog-client is not installed")

_CLIENT = r"""
import asyncio, json, sys
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname
from unitycatalog.client import (
    ApiClient, CatalogsApi, Configuration, CreateCatalog, CreateModelVersion,
    CreateRegisteredModel, CreateSchema, FinalizeModelVersion, ModelVersionsApi,
    RegisteredModelsApi, SchemasApi, TemporaryCredentialsApi,
)
from unitycatalog.client.models import GenerateTemporaryModelVersionCredential

async def main(host, files):
    config = Configuration(host=host + "/api/2.1/unity-catalog")
    async with ApiClient(config) as client:
        await CatalogsApi(client).create_catalog(CreateCatalog(name="interop"))
        await SchemasApi(client).create_schema(CreateSchema(name="ml", catalog_name="interop"))
        await RegisteredModelsApi(client).create_registered_model(
            CreateRegisteredModel(name="m", catalog_name="interop", schema_name="ml")
        )
        got = await RegisteredModelsApi(client).get_registered_model("interop.ml.m")
        assert got.full_name == "interop.ml.m", got
        versions = ModelVersionsApi(client)
        mv = await versions.create_model_version(CreateModelVersion(
            model_name="m", catalog_name="interop", schema_name="ml", source="file:/src"
        ))
        assert mv.status.value == "PENDING_REGISTRATION", mv
        creds = await TemporaryCredentialsApi(client).generate_temporary_model_version_credentials(
            GenerateTemporaryModelVersionCredential(
                catalog_name="interop", schema_name="ml", model_name="m", version=mv.version,
                operation="READ_WRITE_MODEL_VERSION",
            )
        )
        assert creds.aws_temp_credentials is None, creds
        root = Path(url2pathname(urlsplit(mv.storage_location).path))
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(bytes.fromhex(text))
        finalize = FinalizeModelVersion(full_name="interop.ml.m", version=mv.version)
        done = await versions.finalize_model_version("interop.ml.m", mv.version, finalize)
        listed = await versions.list_model_versions("interop.ml.m", max_results=10)
        print(json.dumps({"version": done.version, "status": done.status.value,
                          "listed": [v.version for v in listed.model_versions]}))

asyncio.run(main(sys.argv[1], json.loads(sys.stdin.read())))
"""


def test_unitycatalog_client_registers_and_federate_downloads(federate_server, tmp_path):
    files = {"MLmodel": b"flavors: {}\n", "data/weights.bin": os.urandom(300_000)}
    done = subprocess.run(
        [
            _PYTHON,
            "-c",
            _CLIENT,
            federate_server.url,
        ],
        input=json.dumps({k: v.hex() for k, v in files.items()}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"version": 1, "status": "READY", "listed": [1]}
    for registry_uri in (federate_server.registry.uri, federate_server.uc_uri):
        out = Path(
            federate.download(
                "models:/interop.ml.m/latest",
                tmp_path / registry_uri[:2],
                registry_uri=registry_uri,
            )
        )
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert got == files, registry_uri
