"""``federate serve``: a SQL registry behind the open-source Unity Catalog REST API.

Needs the ``server`` extra (Starlette and uvicorn), imported only when serving.
"""
