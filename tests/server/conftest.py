from __future__ import annotations

import pytest

from federate.testing.server import ServedRegistry


@pytest.fixture
def model(federate_server: ServedRegistry) -> str:
    """``main.ml.m``, created (with its catalog and schema) through the API."""
    s = federate_server
    s.call("POST", "catalogs", {"name": "main"})
    s.call("POST", "schemas", {"name": "ml", "catalog_name": "main"})
    status, _ = s.call("POST", "models", {"name": "m", "catalog_name": "main", "schema_name": "ml"})
    assert status == 200
    return "main.ml.m"
