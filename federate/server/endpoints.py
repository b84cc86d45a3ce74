"""How every route runs: arguments read, the registry called on a worker thread (its
calls block), the answer written as JSON, every failure as an error object."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


#: threads for the hot reads (``endpoint(..., hot=True)``): each keeps one database
#: connection (:class:`~federate.registry.sql.sessions.KeptReader`), so they are few and
#: fixed, well inside the engine's pool; the event loop itself never waits on the database
#: (a hung or distant database server stalls those reads, not /healthz or other routes)
HOT_READ_THREADS = 4
_hot_reads: ThreadPoolExecutor | None = None


def _hot_read_pool() -> ThreadPoolExecutor:
    global _hot_reads
    if _hot_reads is None:
        _hot_reads = ThreadPoolExecutor(HOT_READ_THREADS, thread_name_prefix="federate-read")
    return _hot_reads


def endpoint(handler: Handler, hot: bool = False) -> Callable[[Request], Any]:
    """A Starlette endpoint running ``handler`` with the request's arguments on a worker
    thread (registry calls block). With ``hot``, on one of a few threads of its own that
    keep their database connections: for a read of one indexed statement, where a pool
    checkout, its ping and a transaction would cost more than the query."""

    async def run(request: Request) -> JSONResponse:
        served: Served = request.app.state.served
        try:
            args = await read_args(request, served.max_body)
            call = Call(served, args, request.scope.get(ACCESS, WRITE))
            if hot:
                loop = asyncio.get_running_loop()
                answer = await loop.run_in_executor(_hot_read_pool(), handler, call)
            else:
                answer = await run_in_threadpool(handler, call)
        except ApiError as err:
            return error_response(err)
        except FederateError as err:
            return error_response(from_federate(err))
        except Exception as err:
            return error_response(from_unexpected(err))
        return JSONResponse(answer)

    run.__name__ = handler.__name__
    return run
