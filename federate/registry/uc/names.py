"""Unity Catalog model names: exactly ``catalog.schema.model``.

There is no default catalog or schema outside a Databricks notebook, so a shorter name is
refused rather than completed with a guess (MLflow fills the gaps from the active Spark
session; federate has none).
"""

from __future__ import annotations

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.names import check_name

FORM = "catalog.schema.model"


def full_name(name: str) -> str:
    """``name`` if it is a three-level name, else INVALID_PARAMETER_VALUE naming the form."""
    check_name(name, lookup=True)
    parts = name.split(".")
    if len(parts) != 3 or any(not part.strip() for part in parts):
        raise FederateError(
            f"Not a Unity Catalog model name: {name!r}. Unity Catalog names have three "
            f"levels, {FORM} (e.g. models:/main.fraud.detector@champion); there is no "
            "default catalog or schema",
            INVALID_PARAMETER_VALUE,
        )
    return name
