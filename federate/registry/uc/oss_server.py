"""Which open-source Unity Catalog server a ``uc:`` registry URI means, and its token.

``uc:http://host:port`` or ``uc:https://host[:port][/prefix]`` (MLflow's form). The token
is ``FEDERATE_UC_TOKEN``, else MLflow's ``MLFLOW_UC_OSS_TOKEN``; neither means no
authentication (an OSS server's default).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.redaction import register_secret
from federate.registry.uc.workspace import Workspace

SCHEME = "uc"
TOKEN_ENVS = ("FEDERATE_UC_TOKEN", "MLFLOW_UC_OSS_TOKEN")
KIND = "Unity Catalog server"


def server_for(uri: str) -> Workspace:
    """The server and token ``uri`` means; anything but ``uc:http(s)://host...`` is
    INVALID_PARAMETER_VALUE showing the form."""
    text = uri.strip()
    head, _, rest = text.partition(":")
    parts = urlsplit(rest)
    if (
        head.lower() != SCHEME
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise FederateError(
            f"Not a Unity Catalog server URI: {uri!r}. Use uc:http://<host>:<port> or "
            "uc:https://<host> (the token comes from FEDERATE_UC_TOKEN or MLFLOW_UC_OSS_TOKEN)",
            INVALID_PARAMETER_VALUE,
        )
    host = rest.rstrip("/")
    for name in TOKEN_ENVS:
        token = os.environ.get(name, "").strip()
        if token:
            register_secret(token)
            return Workspace(host, token, name, KIND)
    return Workspace(host, "", f"no token ({' or '.join(TOKEN_ENVS)} unset)", KIND)
