"""How Google Cloud Storage's SDK fails, read as statuses: refusals, broken reads, outages.

The JSON API raises api_core exceptions, media downloads raise ``InvalidResponse``
carrying the response, ranged reads federate makes itself answer with a status; these
helpers put all of them in api_core's terms so one translation (in :mod:`federate.repos.gcs`)
serves every call.
"""

from __future__ import annotations

import http.client
from typing import Any


def is_broken_read(err: BaseException) -> bool:
    """A response body that stopped: a reset, a timeout, fewer bytes than announced."""
    from urllib3.exceptions import HTTPError

    return isinstance(err, (HTTPError, OSError, http.client.HTTPException))


def is_connection_error(err: BaseException) -> bool:
    from google.auth import exceptions as auth

    return isinstance(err, (OSError, http.client.HTTPException, auth.TransportError))


def api_error(err: BaseException) -> BaseException:
    """The SDK's error as an api_core exception where it has an HTTP status.

    JSON calls raise api_core exceptions; media downloads raise ``InvalidResponse``
    carrying the response; retries that ran out wrap either in ``RetryError``.
    """
    from google.api_core import exceptions as api

    if isinstance(err, api.RetryError) and err.cause is not None:
        err = err.cause
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(err, api.GoogleAPICallError) or not isinstance(status, int):
        return err
    message = server_message(response) or getattr(response, "reason", "") or f"HTTP {status}"
    return api.from_http_status(status, message)


def server_message(response: Any) -> str | None:
    """The ``error.message`` of a Google JSON error body, if that is what ``response`` holds."""
    try:
        message = response.json()["error"]["message"]
    except Exception:  # no body, not JSON, or not Google's error shape
        return None
    return message if isinstance(message, str) else None


def is_refusal(err: BaseException) -> bool:
    """The store refused the credentials (so scoped ones are worth renewing once)."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    return isinstance(api_error(err), (api.Unauthorized, api.Forbidden, auth.RefreshError))
