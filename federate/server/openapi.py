"""The OpenAPI 3.0 document of what ``federate serve`` answers, served at
``GET /api/2.1/unity-catalog/openapi.json``.

It lists the open-source Unity Catalog operations this server implements (same paths,
operation ids and field names as the reference spec, so generated clients and contract
testers such as schemathesis agree with it), the native alias routes the OSS API lacks,
and the error object every failure answers with. Fields the server leaves unset are
omitted from answers, so no field of an answer is listed as required.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from federate.server.endpoints import API

_STRING = {"type": "string"}
# what the server accepts as one level of a name (catalog, schema, model, alias): no dot,
# no slash, no surrounding space
_PART = r"[^./\s](?:[^./]{0,253}[^./\s])?"
_NAME = {"type": "string", "pattern": f"^{_PART}$", "maxLength": 255}
_SCHEMA_NAME = {"type": "string", "pattern": f"^{_PART}\\.{_PART}$"}
_MODEL_NAME = {"type": "string", "pattern": f"^{_PART}\\.{_PART}\\.{_PART}$"}
_INT64 = {"type": "integer", "format": "int64"}
_BOOL = {"type": "boolean"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_PAGE_TOKEN = {"name": "page_token", "in": "query", "required": False, "schema": _STRING}
_FORCE = {"name": "force", "in": "query", "required": False, "schema": _BOOL}


def _max_results(cap: int) -> dict[str, Any]:
    # the server clamps larger values (MLflow sends them); the document states the cap
    schema = {"type": "integer", "format": "int32", "minimum": 0, "maximum": cap}
    return {"name": "max_results", "in": "query", "required": False, "schema": schema}


def _path(name: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": example}


def _query(name: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": _STRING}


def _op(
    operation_id: str,
    answer: str | None,
    *,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    summary: str = "",
) -> dict[str, Any]:
    """One operation: 200 with ``answer`` (None: an empty object), any other status with
    the error object."""
    ok_schema = _ref(answer) if answer else {"type": "object"}
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary or operation_id,
        "responses": {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": ok_schema}},
            },
            "default": {
                "description": "The request failed; the error says why",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
        },
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if parameters:
        op["parameters"] = parameters
    return op


def _schemas() -> dict[str, Any]:
    securable_times = {"created_at": _INT64, "updated_at": _INT64}
    alias = _obj(
        {
            "alias_name": _STRING,
            "version_num": _INT64,
            "catalog_name": _STRING,
            "schema_name": _STRING,
            "model_name": _STRING,
        }
    )
    status = {"type": "string", "enum": ["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"]}
    return {
        "Error": _obj({"error_code": _STRING, "message": _STRING}, ("error_code", "message")),
        "CatalogInfo": _obj(
            {
                "name": _STRING,
                "comment": _STRING,
                "id": _STRING,
                "storage_root": _STRING,
                **securable_times,
            }
        ),
        "CreateCatalog": _obj({"name": _NAME, "comment": _STRING}, ("name",)),
        "UpdateCatalog": _obj({"comment": _STRING, "new_name": _NAME}),
        "ListCatalogsResponse": _obj(
            {
                "catalogs": {"type": "array", "items": _ref("CatalogInfo")},
                "next_page_token": _STRING,
            }
        ),
        "SchemaInfo": _obj(
            {
                "name": _STRING,
                "catalog_name": _STRING,
                "full_name": _STRING,
                "comment": _STRING,
                "schema_id": _STRING,
                "storage_root": _STRING,
                **securable_times,
            }
        ),
        "CreateSchema": _obj(
            {"name": _NAME, "catalog_name": _NAME, "comment": _STRING, "storage_root": _STRING},
            ("name", "catalog_name"),
        ),
        "UpdateSchema": _obj({"comment": _STRING, "new_name": _NAME}),
        "ListSchemasResponse": _obj(
            {"schemas": {"type": "array", "items": _ref("SchemaInfo")}, "next_page_token": _STRING}
        ),
        "RegisteredModelAlias": alias,
        "RegisteredModelInfo": _obj(
            {
                "name": _STRING,
                "catalog_name": _STRING,
                "schema_name": _STRING,
                "full_name": _STRING,
                "comment": _STRING,
                **securable_times,
                "aliases": {"type": "array", "items": _ref("RegisteredModelAlias")},
            }
        ),
        "CreateRegisteredModel": _obj(
            {"name": _NAME, "catalog_name": _NAME, "schema_name": _NAME, "comment": _STRING},
            ("name", "catalog_name", "schema_name"),
        ),
        "UpdateRegisteredModel": _obj({"comment": _STRING, "new_name": _STRING}),
        "ListRegisteredModelsResponse": _obj(
            {
                "registered_models": {"type": "array", "items": _ref("RegisteredModelInfo")},
                "next_page_token": _STRING,
            }
        ),
        "ModelVersionStatus": status,
        "ModelVersionInfo": _obj(
            {
                "model_name": _STRING,
                "catalog_name": _STRING,
                "schema_name": _STRING,
                "version": _INT64,
                "source": _STRING,
                "run_id": _STRING,
                "status": _ref("ModelVersionStatus"),
                "storage_location": _STRING,
                "comment": _STRING,
                "created_by": _STRING,
                **securable_times,
                "aliases": {"type": "array", "items": _ref("RegisteredModelAlias")},
            }
        ),
        "CreateModelVersion": _obj(
            {
                "model_name": _STRING,
                "catalog_name": _STRING,
                "schema_name": _STRING,
                "source": _STRING,
                "run_id": _STRING,
                "comment": _STRING,
            },
            ("model_name", "catalog_name", "schema_name", "source"),
        ),
        "UpdateModelVersion": _obj({"comment": _STRING}),
        "FinalizeModelVersion": _obj({"full_name": _STRING, "version": _INT64}),
        "ListModelVersionsResponse": _obj(
            {
                "model_versions": {"type": "array", "items": _ref("ModelVersionInfo")},
                "next_page_token": _STRING,
            }
        ),
        "SetRegisteredModelAlias": _obj({"version_num": _INT64}, ("version_num",)),
        "ModelVersionOperation": {
            "type": "string",
            "enum": ["READ_MODEL_VERSION", "READ_WRITE_MODEL_VERSION"],
        },
        "GenerateTemporaryModelVersionCredential": _obj(
            {
                "catalog_name": _STRING,
                "schema_name": _STRING,
                "model_name": _STRING,
                "version": _INT64,
                "operation": _ref("ModelVersionOperation"),
            },
            ("catalog_name", "schema_name", "model_name", "version", "operation"),
        ),
        "AwsCredentials": _obj(
            {"access_key_id": _STRING, "secret_access_key": _STRING, "session_token": _STRING}
        ),
        "AzureUserDelegationSAS": _obj({"sas_token": _STRING}),
        "GcpOauthToken": _obj({"oauth_token": _STRING}),
        "TemporaryCredentials": _obj(
            {
                "aws_temp_credentials": _ref("AwsCredentials"),
                "azure_user_delegation_sas": _ref("AzureUserDelegationSAS"),
                "gcp_oauth_token": _ref("GcpOauthToken"),
                "expiration_time": _INT64,
                "url": _STRING,
            }
        ),
    }


def _paths() -> dict[str, Any]:
    catalog = _path("name", _NAME, "main")
    schema = _path("full_name", _SCHEMA_NAME, "main.ml")
    model = _path("full_name", _MODEL_NAME, "main.ml.m")
    version = _path("version", {**_INT64, "minimum": 1}, 1)
    alias = _path("alias", _NAME, "champion")
    return {
        "/catalogs": {
            "post": _op("createCatalog", "CatalogInfo", body="CreateCatalog"),
            "get": _op(
                "listCatalogs", "ListCatalogsResponse", parameters=[_PAGE_TOKEN, _max_results(1000)]
            ),
        },
        "/catalogs/{name}": {
            "parameters": [catalog],
            "get": _op("getCatalog", "CatalogInfo"),
            "patch": _op("updateCatalog", "CatalogInfo", body="UpdateCatalog"),
            "delete": _op("deleteCatalog", None, parameters=[_FORCE]),
        },
        "/schemas": {
            "post": _op("createSchema", "SchemaInfo", body="CreateSchema"),
            "get": _op(
                "listSchemas",
                "ListSchemasResponse",
                parameters=[_query("catalog_name", True), _PAGE_TOKEN, _max_results(1000)],
            ),
        },
        "/schemas/{full_name}": {
            "parameters": [schema],
            "get": _op("getSchema", "SchemaInfo"),
            "patch": _op("updateSchema", "SchemaInfo", body="UpdateSchema"),
            "delete": _op("deleteSchema", None, parameters=[_FORCE]),
        },
        "/models": {
            "post": _op(
                "createRegisteredModel", "RegisteredModelInfo", body="CreateRegisteredModel"
            ),
            "get": _op(
                "listRegisteredModels",
                "ListRegisteredModelsResponse",
                parameters=[
                    _query("catalog_name"),
                    _query("schema_name"),
                    _PAGE_TOKEN,
                    _max_results(1000),
                ],
            ),
        },
        "/models/{full_name}": {
            "parameters": [model],
            "get": _op("getRegisteredModel", "RegisteredModelInfo"),
            "patch": _op(
                "updateRegisteredModel", "RegisteredModelInfo", body="UpdateRegisteredModel"
            ),
            "delete": _op("deleteRegisteredModel", None, parameters=[_FORCE]),
        },
        "/models/versions": {
            "post": _op("createModelVersion", "ModelVersionInfo", body="CreateModelVersion"),
        },
        "/models/{full_name}/versions": {
            "parameters": [model],
            "get": _op(
                "listModelVersions",
                "ListModelVersionsResponse",
                parameters=[_PAGE_TOKEN, _max_results(100)],
            ),
        },
        "/models/{full_name}/versions/{version}": {
            "parameters": [model, version],
            "get": _op("getModelVersion", "ModelVersionInfo"),
            "patch": _op("updateModelVersion", "ModelVersionInfo", body="UpdateModelVersion"),
            "delete": _op("deleteModelVersion", None),
        },
        "/models/{full_name}/versions/{version}/finalize": {
            "parameters": [model, version],
            "patch": _op("finalizeModelVersion", "ModelVersionInfo", body="FinalizeModelVersion"),
        },
        "/models/{full_name}/aliases/{alias}": {
            "parameters": [model, alias],
            "get": _op(
                "getModelVersionByAlias",
                "ModelVersionInfo",
                summary="The version an alias names (federate's addition: the native route)",
            ),
            "put": _op(
                "setRegisteredModelAlias",
                "RegisteredModelAlias",
                body="SetRegisteredModelAlias",
                summary="Point an alias at a version (federate's addition: the native route)",
            ),
            "delete": _op(
                "deleteRegisteredModelAlias",
                None,
                summary="Remove an alias (federate's addition: the native route)",
            ),
        },
        "/temporary-model-version-credentials": {
            "post": _op(
                "generateTemporaryModelVersionCredentials",
                "TemporaryCredentials",
                body="GenerateTemporaryModelVersionCredential",
            ),
        },
    }


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The OpenAPI document (built once per process)."""
    from federate import __version__

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "federate serve: the open-source Unity Catalog API (models)",
            "version": __version__,
        },
        "servers": [{"url": API}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }
