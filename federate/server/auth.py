"""Bearer-token authentication: ``FEDERATE_SERVER_TOKEN`` may do everything,
``FEDERATE_SERVER_READ_TOKEN`` may read (GET, and READ credentials: the credentials route
checks the operation). Tokens are compared in constant time and never logged.
``GET /healthz`` stays open, for load balancers' probes, and so does the OpenAPI document:
neither tells anything about models."""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from federate.redaction import register_secret
from federate.server.errors import error_body

TOKEN_ENV = "FEDERATE_SERVER_TOKEN"
READ_TOKEN_ENV = "FEDERATE_SERVER_READ_TOKEN"
#: the ASGI scope key telling routes what the caller may do: "write" or "read"
ACCESS = "federate.access"
READ, WRITE = "read", "write"
OPENAPI_PATH = "/api/2.1/unity-catalog/openapi.json"
OPEN_PATHS = frozenset({"/healthz", OPENAPI_PATH})
#: POST routes a read-only token may call (the route itself checks what is asked)
READ_POSTS = frozenset({"/api/2.1/unity-catalog/temporary-model-version-credentials"})


@dataclass(frozen=True)
class Tokens:
    """The tokens a server accepts; both None means no authentication."""

    write: str | None = field(default=None, repr=False)
    read: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> Tokens:
        tokens = cls(
            os.environ.get(TOKEN_ENV, "").strip() or None,
            os.environ.get(READ_TOKEN_ENV, "").strip() or None,
        )
        register_secret(tokens.write, tokens.read)  # whatever logs them, at any level
        return tokens

    @property
    def enabled(self) -> bool:
        return self.write is not None or self.read is not None

    def access(self, presented: str) -> str | None:
        """WRITE, READ, or None for a token that is neither (both compared, always)."""
        given = presented.encode()
        write = self.write is not None and hmac.compare_digest(given, self.write.encode())
        read = self.read is not None and hmac.compare_digest(given, self.read.encode())
        return WRITE if write else READ if read else None


def _bearer(scope: dict[str, Any]) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _refuse(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="federate"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """ASGI middleware: 401 without a known token, 403 for a read-only token's writes."""

    def __init__(self, app: Any, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tokens.enabled or scope["path"] in OPEN_PATHS:
            scope[ACCESS] = WRITE
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        access = self.tokens.access(presented) if presented is not None else None
        if access is None:
            said = "No bearer token" if presented is None else "Invalid bearer token"
            await _refuse(send, 401, "UNAUTHENTICATED", f"{said}: send Authorization: Bearer")
            return
        method = scope["method"]
        if (
            access == READ
            and method not in ("GET", "HEAD")
            and (method != "POST" or scope["path"].rstrip("/") not in READ_POSTS)
        ):
            await _refuse(
                send,
                403,
                "PERMISSION_DENIED",
                "This token is read-only: it may not change anything",
            )
            return
        scope[ACCESS] = access
        await self.app(scope, receive, send)
