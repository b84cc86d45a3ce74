"""The ASGI application (Starlette) and :func:`serve`, which runs it on uvicorn."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.registry.base import Registry
from federate.server import aliases, catalogs, credentials, models, openapi, schemas, versions
from federate.server.auth import OPENAPI_PATH, BearerAuth, Tokens
from federate.server.endpoints import Served, error_response
from federate.server.errors import STATUS_CODES, ApiError, from_federate, from_unexpected
from federate.server.params import DEFAULT_MAX_BODY
from federate.server.workers import reuse_port_spreads_connections, run_workers

MAX_BODY_ENV = "FEDERATE_SERVER_MAX_BODY"
#: what ``federate serve --workers N`` workers open (uvicorn imports the app by name)
REGISTRY_ENV = "FEDERATE_REGISTRY_URI"
PROFILE_ENV = "FEDERATE_PROFILE"
#: the app each worker process builds (uvicorn imports it by name)
WORKER_APP = "federate.server.app:app_from_env"


def max_body_from_env() -> int:
    """``FEDERATE_SERVER_MAX_BODY`` (a size: ``1048576``, ``4MiB``), else 1 MiB."""
    from federate.envvars import env_size

    return env_size(MAX_BODY_ENV, DEFAULT_MAX_BODY, 1)


async def healthz(request: Request) -> JSONResponse:
    """200 when the registry's database answers, 503 (JSON) when it does not."""
    served: Served = request.app.state.served

    def probe() -> None:
        served.registry.search_registered_models(max_results=1)

    try:
        await run_in_threadpool(probe)
    except FederateError as err:
        return error_response(ApiError(503, "UNAVAILABLE", err.message))
    except Exception as err:
        return error_response(from_unexpected(err))
    return JSONResponse({"status": "ok"})


async def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document of the routes this server answers."""
    return JSONResponse(openapi.document())


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = STATUS_CODES.get(exc.status_code, "INTERNAL")
    if exc.status_code == 404:
        message = f"No such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse({"error_code": code, "message": message}, status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, FederateError):
        return error_response(from_federate(exc))
    return error_response(from_unexpected(exc))


def create_app(
    registry: Registry, tokens: Tokens | None = None, max_body: int | None = None
) -> Any:
    """The ASGI app serving ``registry`` (a SQL registry) behind the Unity Catalog API;
    ``tokens`` default to FEDERATE_SERVER_TOKEN / FEDERATE_SERVER_READ_TOKEN."""
    from federate.registry.sql.store import SqlRegistry
    from federate.registry.sql.unity import UnityCatalog

    if not isinstance(registry, SqlRegistry):
        raise FederateError(
            f"federate serve serves SQL registries (sqlite, postgresql, mysql); "
            f"{registry.uri.split(':', 1)[0]}: is not one",
            INVALID_PARAMETER_VALUE,
        )
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(OPENAPI_PATH, openapi_document, methods=["GET"]),
        *catalogs.ROUTES,
        *schemas.ROUTES,
        *versions.ROUTES,  # before models: /models/versions is not a model's name
        *models.ROUTES,
        *aliases.ROUTES,
        *credentials.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
    )
    app.state.served = Served(
        registry, UnityCatalog(registry), max_body if max_body else max_body_from_env()
    )
    return BearerAuth(app, tokens if tokens is not None else Tokens.from_env())


def app_from_env() -> Any:
    """The app for uvicorn's workers: the registry ``FEDERATE_REGISTRY_URI`` (or the
    configured one) names."""
    import federate

    return create_app(federate.get_registry())


def serve(
    registry_uri: str | None, host: str, port: int, workers: int, profile: str | None = None
) -> None:
    """Run the server until SIGTERM or Ctrl-C (uvicorn finishes requests in flight)."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the environment
        raise FederateError(
            "federate serve needs the server extra: pip install 'federate[server]'",
            INVALID_PARAMETER_VALUE,
        ) from None
    import federate

    # workers open the registry themselves: they read what this process was told
    if registry_uri:
        os.environ[REGISTRY_ENV] = registry_uri
    if profile:
        os.environ[PROFILE_ENV] = profile
    app = create_app(
        federate.get_registry(registry_uri, profile=profile)
    )  # fails here, clearly, before listening
    if workers > 1:
        options: dict[str, Any] = {"factory": True, "host": host, "port": port}
        options.update(workers=workers, log_level="info")
        if reuse_port_spreads_connections():
            with contextlib.suppress(KeyboardInterrupt):
                run_workers(uvicorn.Config(WORKER_APP, **options))
        else:
            uvicorn.run(WORKER_APP, **options)
    else:
        uvicorn.run(app, host=host, port=port, log_level="info")
