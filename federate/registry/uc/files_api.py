"""Files-API mode: a version's files read and written through the workspace's Files API
(``/api/2.0/fs/files/Models/<c>/<s>/<m>/<v>/...``), no cloud credentials vended.

Databricks is moving clients off vended storage tokens: a workspace says so through
``registered-models:is-databricks-sdk-models-artifact-repository-enabled`` (asked as
MLflow asks it), and ``FEDERATE_UC_FILES_API`` decides instead when set
(:mod:`.modes`). Reads list the version's directory (``/api/2.0/fs/directories``, paged)
and give the presigned repository one URL per file on the workspace host, with the
workspace's bearer token as its header: ranged GETs on the transfer engine, the token
sent to the workspace host only. Writes are ``PUT``s through
:mod:`federate.repos.workspace_files`, also the way into Databricks-managed default
storage (``storage_mode: DEFAULT_STORAGE``), whose files live under the same paths.
"""

from __future__ import annotations

from urllib.parse import quote

from federate.credentials import ScopedCredentials
from federate.errors import RESOURCE_DOES_NOT_EXIST, FederateError
from federate.registry.rest_client import EndpointMissing
from federate.registry.uc.default_storage import FS_API, list_files, version_directory
from federate.registry.uc.modes import files_api
from federate.registry.uc.rest import UcRestClient
from federate.repos.presigned import PresignedUrl, presigned_credentials
from federate.repos.workspace_files import workspace_files_credentials

SWITCH = (
    "/api/2.0/mlflow/unity-catalog/registered-models"
    ":is-databricks-sdk-models-artifact-repository-enabled"
)


def in_use(client: UcRestClient) -> bool:
    """Whether versions are read and written through the Files API: the environment's
    choice, else the workspace's (a workspace without the switch: no)."""
    decided = files_api()
    if decided is not None:
        return decided
    try:
        answer = client.get(SWITCH)
    except EndpointMissing:
        return False
    except FederateError as err:
        if err.error_code == RESOURCE_DOES_NOT_EXIST:
            return False
        raise
    return answer.get("is_databricks_sdk_models_artifact_repository_enabled") is True


def read_credentials(client: UcRestClient, name: str, version: int) -> ScopedCredentials:
    """A URL per file of the version on the workspace's Files API, with its token."""
    root = version_directory(name, version)
    headers = dict(client.auth_headers())
    base = client.server.base_url + FS_API + "/files"
    return presigned_credentials(
        PresignedUrl(rel, base + quote(f"{root}/{rel}", safe="/"), headers, None, size)
        for rel, size in sorted(list_files(client, root).items())
    )


def write_credentials(client: UcRestClient, name: str, version: int) -> ScopedCredentials:
    """What :mod:`federate.repos.workspace_files` writes the version's files with."""
    authorization = dict(client.auth_headers()).get("Authorization", "")
    return workspace_files_credentials(
        client.server.base_url, version_directory(name, version), authorization
    )
