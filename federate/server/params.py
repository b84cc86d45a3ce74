"""Reading a request's arguments as clients send them: a JSON body on any method (empty
on GET for unitycatalog-client, present on DELETE for MLflow), path parameters repeated
in the query string (MLflow), integers as JSON numbers or strings."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from federate.server.errors import ApiError, bad_request

#: the largest request body accepted (FEDERATE_SERVER_MAX_BODY overrides it)
DEFAULT_MAX_BODY = 1024 * 1024


class Args:
    """A request's arguments: path parameters win over the body, the body over the query."""

    def __init__(self, request: Request, body: dict[str, Any]) -> None:
        self.path = dict(request.path_params)
        self.body = body
        self.query = request.query_params

    def raw(self, name: str) -> Any:
        if name in self.path:
            return self.path[name]
        if name in self.body and self.body[name] is not None:
            return self.body[name]
        return self.query.get(name)

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"Missing required parameter {name!r}")
            return None
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name!r} must be a string, got {json.dumps(value)}")
        return value

    def body_text(self, name: str) -> str | None:
        """A string field of the body only (an update's field, never read from the path:
        ``name`` is both the catalog the path names and a field clients may send)."""
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name!r} must be a string, got {json.dumps(value)}")
        return value

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"Missing required parameter {name!r}")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad_request(f"Parameter {name!r} must be an integer, got {json.dumps(value)}")
        text = str(value).strip()
        digits = text[1:] if text.startswith("-") else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
            raise bad_request(f"Parameter {name!r} must be an integer, got {value!r}")
        return int(text)

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0", ""):
            return False
        raise bad_request(f"Parameter {name!r} must be true or false, got {value!r}")

    def page_size(self, cap: int) -> int:
        """``max_results`` clamped to ``cap`` (0 or absent: ``cap``; negative: refused)."""
        wanted = self.integer("max_results")
        if wanted is None or wanted == 0:
            return cap
        if wanted < 0:
            raise bad_request(f"max_results must not be negative, got {wanted}")
        return min(wanted, cap)


async def read_args(request: Request, max_body: int) -> Args:
    """The request's arguments; 413 past ``max_body`` bytes, 400 for a body that is not a
    JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise ApiError(413, "RESOURCE_EXHAUSTED", f"Request body over {max_body} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise ApiError(413, "RESOURCE_EXHAUSTED", f"Request body over {max_body} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        return Args(request, {})
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Malformed JSON in the request body") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return Args(request, body)
