"""Databricks Unity Catalog as a federate registry (``databricks-uc``, ``databricks-uc://<profile>``).

One module per concept: :mod:`.workspace` (which workspace and token), :mod:`.rest` (the
HTTP client: retries, errors), :mod:`.names` (three-level names), :mod:`.wire` (the JSON
MLflow's UC dialect speaks, as federate's records), :mod:`.store` (the registry),
:mod:`.plugin` (registered through the same hook third-party registries use).
"""
