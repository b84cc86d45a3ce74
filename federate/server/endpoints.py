"""How every route runs: arguments read, the registry called on a worker thread (its
calls block), the answer written as JSON, every failure as an error object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from federate.errors import FederateError
from federate.registry.sql.store import SqlRegistry
from federate.registry.sql.unity import UnityCatalog
from federate.server.auth import ACCESS, WRITE
from federate.server.errors import ApiError, error_body, from_federate, from_unexpected
from federate.server.params import Args, read_args

API = "/api/2.1/unity-catalog"


@dataclass
class Served:
    """What routes reach: the registry, its catalogs, and the request body limit."""

    registry: SqlRegistry
    unity: UnityCatalog
    max_body: int


@dataclass(frozen=True)
class Call:
    """One request as a route handler sees it."""

    served: Served
    args: Args
    access: str

    @property
    def registry(self) -> SqlRegistry:
        return self.served.registry

    @property
    def unity(self) -> UnityCatalog:
        return self.served.unity

    @property
    def may_write(self) -> bool:
        return self.access == WRITE


Handler = Callable[[Call], dict[str, Any]]


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(error_body(err.error_code, err.message), status_code=err.status)


def endpoint(handler: Handler, hot: bool = False) -> Callable[[Request], Any]:
    """A Starlette endpoint running ``handler`` with the request's arguments on a worker
    thread (registry calls block). With ``hot``, on the event loop itself: for a read of
    one indexed statement on a kept connection, where handing it to a thread and back
    costs more than the query (measured: p99 45-57 ms on a pool of 4 threads vs 16-22 ms
    inline, 32 clients, ``bench/serve.py``). Concurrency then comes from ``--workers``; a
    database that stops answering stalls the worker, ``/healthz`` included, which is what
    a liveness probe should see."""

    async def run(request: Request) -> JSONResponse:
        served: Served = request.app.state.served
        try:
            args = await read_args(request, served.max_body)
            call = Call(served, args, request.scope.get(ACCESS, WRITE))
            answer = handler(call) if hot else await run_in_threadpool(handler, call)
        except ApiError as err:
            return error_response(err)
        except FederateError as err:
            return error_response(from_federate(err))
        except Exception as err:
            return error_response(from_unexpected(err))
        return JSONResponse(answer)

    run.__name__ = handler.__name__
    return run
