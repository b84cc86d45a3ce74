"""A running MLflow tracking server as a federate registry (``http(s)://host[:port][/path]``).

One module per concept: :mod:`.server` (the tracking URI and MLflow's client variables:
where to send calls and how to authenticate), :mod:`.wire` (MLflow's REST JSON as
federate's records), :mod:`.store` (the registry), :mod:`.plugin` (registered through the
same hook third-party registries use). The server's artifact proxy (``mlflow-artifacts:``
locations) is read by :mod:`federate.repos.mlflow_artifacts`.
"""
