"""Which MLflow tracking server a registry URI means, and how federate authenticates to it.

The URI is MLflow's tracking URI, ``http(s)://host[:port][/path]``; credentials come from
the variables MLflow's own client reads, with its rules:

- ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``: HTTP basic auth (they win
  over a token, as in MLflow);
- ``MLFLOW_TRACKING_TOKEN``: a bearer token;
- ``MLFLOW_TRACKING_INSECURE_TLS=true``: no certificate check;
- ``MLFLOW_TRACKING_SERVER_CERT_PATH``: the CA bundle the server's certificate is checked
  against (not with ``MLFLOW_TRACKING_INSECURE_TLS``);
- ``MLFLOW_TRACKING_CLIENT_CERT_PATH``: a PEM file with the client certificate and its key.

Credentials are never read from the URI (``http://user:pass@host`` is refused, naming the
variables), so the URI, which federate shows and uses as a cache key, holds no secret.

``databricks`` and ``databricks://<profile>`` are a Databricks workspace's registry (the
same REST API): host and token as for ``databricks-uc`` (``DATABRICKS_HOST`` and
``DATABRICKS_TOKEN``, else that profile of ``~/.databrickscfg``), read by the workspace
configuration of :mod:`federate.registry.uc.workspace`.
"""

from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.redaction import register_secret, split_userinfo
from federate.registry.rest_client import RestServer

TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
INSECURE_TLS_ENV = "MLFLOW_TRACKING_INSECURE_TLS"
SERVER_CERT_ENV = "MLFLOW_TRACKING_SERVER_CERT_PATH"
CLIENT_CERT_ENV = "MLFLOW_TRACKING_CLIENT_CERT_PATH"
#: what an MLflow server registry is called in messages
KIND = "MLflow server"
AUTH_HINT = f"set {TOKEN_ENV}, or {USERNAME_ENV} and {PASSWORD_ENV}, as for MLflow's own client"
TLS_HINT = (
    f"set {SERVER_CERT_ENV} to the CA bundle that signed it, or {INSECURE_TLS_ENV}=true "
    "to skip the check, as for MLflow's own client"
)
PROBE = "is it an MLflow tracking server (the URI MLflow's client takes as its tracking URI)?"
DATABRICKS_SCHEME = "databricks"
WORKSPACE_KIND = "Databricks workspace"


def base_url(uri: str) -> str:
    """``http(s)://host[:port][/path]`` without a trailing ``/``; anything else (another
    scheme, no host, a query, a fragment, user-info) is INVALID_PARAMETER_VALUE."""
    text = uri.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError as err:
        raise _not_a_tracking_uri(uri, str(err)) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _not_a_tracking_uri(uri, "it needs http:// or https:// and a host")
    if split_userinfo(text.split("://", 1)[1])[0] is not None:
        raise FederateError(
            f"MLflow server URIs carry no credentials (user-info in {_shown(uri)}): put them "
            f"in {USERNAME_ENV} and {PASSWORD_ENV} (or {TOKEN_ENV}), as for MLflow's client, "
            "and use http(s)://host[:port][/path]",
            INVALID_PARAMETER_VALUE,
        )
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise _not_a_tracking_uri(uri, "it has a query string or a fragment")
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


def _shown(uri: str) -> str:
    from federate.errors import redact

    return repr(redact(uri))


def _not_a_tracking_uri(uri: str, why: str) -> FederateError:
    return FederateError(
        f"Not an MLflow server URI: {_shown(uri)} ({why}). Use the server's tracking URI, "
        "http(s)://host[:port][/path], e.g. http://mlflow.internal:5000",
        INVALID_PARAMETER_VALUE,
    )


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip()
    if raw.lower() in ("", "false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise FederateError(
        f"{name}={raw!r} is not a boolean: use true or false (or 1 or 0)",
        INVALID_PARAMETER_VALUE,
    )


def _path(name: str) -> str | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    path = os.path.expanduser(raw)
    if not os.path.isfile(path):
        raise FederateError(f"{name} names no file: {raw!r}", INVALID_PARAMETER_VALUE)
    return path


def tracking_server(uri: str) -> RestServer:
    """The server ``uri`` means, with the credentials and TLS settings of the environment."""
    url = base_url(uri)
    username = os.environ.get(USERNAME_ENV, "")
    password = os.environ.get(PASSWORD_ENV, "")
    token = os.environ.get(TOKEN_ENV, "")
    headers: dict[str, str] = {}
    secrets: tuple[str, ...] = ()
    source = ""
    if username and password:
        pair = base64.standard_b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
        secrets = (password, pair)
        source = f"the user {username!r} and password from {USERNAME_ENV}/{PASSWORD_ENV}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
        secrets = (token,)
        source = f"the token from {TOKEN_ENV}"
    register_secret(*secrets)
    insecure = _flag(INSECURE_TLS_ENV)
    server_cert = _path(SERVER_CERT_ENV)
    if insecure and server_cert:
        raise FederateError(
            f"{INSECURE_TLS_ENV} and {SERVER_CERT_ENV} are both set: set one of them (no "
            "certificate check, or a check against that CA bundle), as MLflow requires",
            INVALID_PARAMETER_VALUE,
        )
    return RestServer(
        base_url=url,
        kind=KIND,
        headers=headers,
        credentials_source=source,
        auth_hint=AUTH_HINT,
        probe=PROBE,
        tls_hint=TLS_HINT,
        ca_certs=server_cert,
        verify=not insecure,
        client_cert=_path(CLIENT_CERT_ENV),
        secrets=secrets,
    )


def is_workspace_uri(uri: str) -> bool:
    text = uri.strip().lower()
    return text == DATABRICKS_SCHEME or text.startswith(DATABRICKS_SCHEME + "://")


def workspace_server(uri: str) -> RestServer:
    """The Databricks workspace ``databricks`` / ``databricks://<profile>`` means, with
    its token, configured as for ``databricks-uc`` (the same variables and profiles)."""
    from federate.registry.uc.workspace import SCHEME as UC_SCHEME
    from federate.registry.uc.workspace import workspace_for

    text = uri.strip()
    profile = text.split("://", 1)[1] if "://" in text else ""
    if not is_workspace_uri(text) or ("://" in text and not profile.strip("/")):
        raise FederateError(
            f"Not a Databricks registry URI: {_shown(uri)}. Use 'databricks' "
            "(DATABRICKS_HOST and DATABRICKS_TOKEN, else the DEFAULT profile of "
            "~/.databrickscfg) or 'databricks://<profile>'",
            INVALID_PARAMETER_VALUE,
        )
    try:
        workspace = workspace_for(f"{UC_SCHEME}://{profile}" if profile else UC_SCHEME)
    except FederateError as err:
        # the workspace module speaks of databricks-uc: name the URI given instead
        raise FederateError(
            str(err).replace(UC_SCHEME, DATABRICKS_SCHEME), err.error_code
        ) from None
    return RestServer(
        base_url=workspace.host,
        kind=WORKSPACE_KIND,
        headers={"Authorization": f"Bearer {workspace.token}"},
        credentials_source=f"the token from {workspace.token_source}",
        auth_hint="check DATABRICKS_TOKEN or the profile's token",
        probe="is it a Databricks workspace URL?",
        secrets=(workspace.token,),
    )


def server_for(uri: str) -> RestServer:
    """The server a registry URI of this plugin means: an MLflow tracking server
    (``http(s)://``) or a Databricks workspace (``databricks[://<profile>]``)."""
    return workspace_server(uri) if is_workspace_uri(uri) else tracking_server(uri)
