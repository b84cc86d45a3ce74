"""How the fake workspace answers HTTP: authentication, scripted faults, dispatch.

Every request but OAuth's (:mod:`.uc_oauth`) must carry the workspace's token or an OAuth
token it issued (401 otherwise); then a fault scripted with
:meth:`RequestHandling.fail_next` answers it if one matches; then the dialect it is
addressed to: the Files API (:mod:`.uc_files_api`, :mod:`.uc_default_storage`), native
Unity Catalog (:mod:`.uc_native_routes`) or MLflow's (:mod:`.uc_registry_routes`).
Errors go out as ``{"error_code": ..., "message": ...}``; every request lands in
``requests``.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from federate.testing.uc_default_storage import FS_API
from federate.testing.uc_files_api import FILES_PREFIX, FilesRefusal, serve_file
from federate.testing.uc_native_routes import NATIVE_API, native_answer
from federate.testing.uc_oauth import HOST_METADATA_PATH, OAuthIssuer
from federate.testing.uc_records import API, Refusal, Request

if TYPE_CHECKING:
    from federate.testing.presigned import UrlSigner
    from federate.testing.uc_workspace import UcWorkspace


@dataclass
class ScriptedFault:
    status: int
    retry_after: str | None
    endpoint: str | None
    message: str


class RequestHandling:
    """The HTTP half of :class:`~federate.testing.uc_workspace.UcWorkspace`."""

    url: str
    token: str
    oauth: OAuthIssuer
    default_storage: UrlSigner | None
    requests: list[Request]
    _script: list[ScriptedFault]
    _lock: threading.RLock

    if TYPE_CHECKING:

        def _files_api(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]: ...

        def _registry_answer(
            self, method: str, path: str, params: dict[str, Any]
        ) -> dict[str, Any]: ...

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: float | None = None,
        endpoint: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``endpoint``, a path after the API prefix
        such as ``/model-versions/get`` or a whole path, or any) with ``status``."""
        after = None if retry_after is None else f"{retry_after:g}"
        text = message or f"Scripted failure {status}"
        with self._lock:
            self._script.extend(ScriptedFault(status, after, endpoint, text) for _ in range(times))

    def _answer(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if path.startswith(FS_API + "/"):
            return self._files_api(method, path, params)
        if path.startswith(NATIVE_API + "/"):
            with self._lock:
                return native_answer(cast("UcWorkspace", self), method, path, params)
        return self._registry_answer(method, path, params)

    def _scripted(self, path: str) -> ScriptedFault | None:
        with self._lock:
            for i, item in enumerate(self._script):
                if item.endpoint in (None, path) or API + item.endpoint == path:
                    return self._script.pop(i)
        return None

    def _authorized(self, header: str | None) -> bool:
        """The workspace's personal access token, or an OAuth token it issued and that
        has not expired."""
        scheme, _, token = (header or "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        return secrets.compare_digest(token, self.token) or self.oauth.accepts(token)

    def _oidc(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        from federate.testing.uc_oauth import DISCOVERY_PATH, TOKEN_PATH

        if (method, path) == ("GET", HOST_METADATA_PATH):
            return 200, self.oauth.host_metadata(self.url)
        if (method, path) == ("GET", DISCOVERY_PATH):
            return 200, self.oauth.discovery(self.url)
        if (method, path) == ("POST", TOKEN_PATH):
            return self.oauth.token(authorization, body)
        return 404, {"error": "not_found", "error_description": f"No OIDC endpoint {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                params: dict[str, Any] = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                if parts.path.startswith("/oidc/") or parts.path == HOST_METADATA_PATH:
                    status, answer = workspace._oidc(
                        method, parts.path, self.headers.get("Authorization"), raw
                    )
                    self._reply(status, answer, headers)
                    return
                files = parts.path.startswith(FILES_PREFIX + "/")
                try:
                    if raw and not files:
                        body = json.loads(raw)
                        if isinstance(body, dict):
                            params.update(body)
                    if not parts.path.startswith("/api/"):
                        # what a workspace's web app answers (the Databricks SDK probes
                        # /.well-known/databricks-config before it authenticates)
                        raise Refusal(404, f"No page at {parts.path}", "ENDPOINT_NOT_FOUND")
                    if not workspace._authorized(self.headers.get("Authorization")):
                        raise Refusal(
                            401,
                            "Credential was not sent or was of an unsupported type for this API.",
                        )
                    scripted = workspace._scripted(parts.path)
                    if scripted is not None:
                        if scripted.retry_after is not None:
                            headers["Retry-After"] = scripted.retry_after
                        raise Refusal(scripted.status, scripted.message)
                    if files:
                        self._file(method, parts.path, raw)
                        return
                    status, answer = 200, workspace._answer(method, parts.path, params)
                except Refusal as refusal:
                    status = refusal.status
                    answer = {"error_code": refusal.code, "message": refusal.message}
                with workspace._lock:
                    workspace.requests.append(Request(method, parts.path, params, status))
                self._reply(status, answer, headers)

            def _file(self, method: str, path: str, raw: bytes) -> None:
                signer = workspace.default_storage
                try:
                    if signer is None:
                        raise FilesRefusal(404, "No Files API storage here", "NOT_FOUND")
                    status = serve_file(self, signer.server.directory, method, raw)
                except FilesRefusal as refusal:
                    status = refusal.status
                    answer = {"error_code": refusal.code, "message": refusal.message}
                    self._reply(status, answer, {})
                with workspace._lock:
                    workspace.requests.append(Request(method, path, {}, status))

            def _reply(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_HEAD(self) -> None:
                self._serve("HEAD")

        return Handler
