"""A fresh SQL registry per test, on every database that answers
(see :mod:`federate.testing.databases`)."""

from federate.testing.databases import (  # noqa: F401  (fixtures and hook for this directory)
    database,
    database_uri,
    pytest_sessionfinish,
    registry,
)
