"""Which Unity Catalog modes the environment turns on for ``databricks-uc``.

- ``FEDERATE_UC_NATIVE=true`` (or MLflow's ``MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY``):
  versions, aliases, version lists and read credentials through the native
  ``/api/2.1/unity-catalog`` dialect instead of MLflow's ``/api/2.0/mlflow/unity-catalog``.
- ``FEDERATE_UC_FILES_API``: ``true`` reads and writes every version's files through the
  workspace's Files API (no vended cloud credentials), ``false`` never does; unset, the
  workspace is asked (``registered-models:is-databricks-sdk-models-artifact-repository-enabled``),
  as MLflow asks it. MLflow's ``MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC`` is
  honoured the same way when federate's variable is unset.

A value other than true/false (1/0, yes/no, on/off) is INVALID_PARAMETER_VALUE naming it.
"""

from __future__ import annotations

import os

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

NATIVE_ENVS = ("FEDERATE_UC_NATIVE", "MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY")
FILES_API_ENVS = ("FEDERATE_UC_FILES_API", "MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(names: tuple[str, ...]) -> bool | None:
    """The first of ``names`` that is set, as a bool; None if none is."""
    for name in names:
        raw = os.environ.get(name, "").strip().lower()
        if not raw:
            continue
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise FederateError(
            f"{name}={os.environ[name]!r} is neither true nor false (accepted: "
            f"{'/'.join(_TRUE)} and {'/'.join(_FALSE)})",
            INVALID_PARAMETER_VALUE,
        )
    return None


def native_dialect() -> bool:
    return bool(_flag(NATIVE_ENVS))


def files_api() -> bool | None:
    """True or False if the environment decides; None: ask the workspace."""
    return _flag(FILES_API_ENVS)
