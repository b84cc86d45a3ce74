"""Job tests run once per database of :mod:`federate.testing.databases`."""

from federate.testing.databases import (  # noqa: F401  (fixtures and hook for this directory)
    database,
    database_uri,
    pytest_sessionfinish,
)
