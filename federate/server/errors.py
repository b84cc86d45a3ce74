"""Every failure the server answers is ``{"error_code", "message"}`` JSON with the status
the open-source Unity Catalog server uses for it; nothing answers with a traceback."""

from __future__ import annotations

import logging
from typing import Any

from federate.errors import (
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    FederateError,
)

logger = logging.getLogger(__name__)

#: federate's error codes as (HTTP status, Unity Catalog error code)
UC_ERRORS: dict[str, tuple[int, str]] = {
    INVALID_PARAMETER_VALUE: (400, "INVALID_ARGUMENT"),
    RESOURCE_DOES_NOT_EXIST: (404, "NOT_FOUND"),
    RESOURCE_ALREADY_EXISTS: (409, "ALREADY_EXISTS"),
    PERMISSION_DENIED: (403, "PERMISSION_DENIED"),
    NOT_IMPLEMENTED: (501, "UNIMPLEMENTED"),
    TEMPORARILY_UNAVAILABLE: (503, "UNAVAILABLE"),
}
#: HTTP statuses Starlette raises by itself (no route, wrong method) as UC error codes
STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "RESOURCE_EXHAUSTED",
    422: "INVALID_ARGUMENT",
}


class ApiError(Exception):
    """An answer other than 200, raised by a route."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def error_body(error_code: str, message: str) -> dict[str, Any]:
    return {"error_code": error_code, "message": message}


def from_federate(err: FederateError) -> ApiError:
    status, code = UC_ERRORS.get(err.error_code, (500, "INTERNAL"))
    return ApiError(status, code, err.message)


def from_unexpected(err: BaseException) -> ApiError:
    # the traceback goes to the server's log, the client learns only that it failed
    logger.error("unexpected error answering a request", exc_info=err)
    return ApiError(500, "INTERNAL", f"Internal server error ({type(err).__name__})")
