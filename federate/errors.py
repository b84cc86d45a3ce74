"""The one exception family users catch, with MLflow's error codes and their HTTP statuses."""

from __future__ import annotations

import errno
from urllib.parse import urlsplit

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
BAD_REQUEST = "BAD_REQUEST"
INTERNAL_ERROR = "INTERNAL_ERROR"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"

HTTP_STATUS: dict[str, int] = {
    INVALID_PARAMETER_VALUE: 400,
    BAD_REQUEST: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    PERMISSION_DENIED: 403,
    TEMPORARILY_UNAVAILABLE: 503,
    INTERNAL_ERROR: 500,
    NOT_IMPLEMENTED: 501,
}


class FederateError(Exception):
    """Raised for every failure federate reports to its callers.

    ``error_code`` is one of the module-level codes (MLflow's names), ``http_status``
    the status a server would answer with. Messages never carry secrets.
    """

    def __init__(self, message: str, error_code: str = INTERNAL_ERROR) -> None:
        if error_code not in HTTP_STATUS:
            raise ValueError(f"unknown error code {error_code!r}")
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.error_code]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"FederateError({self.message!r}, error_code={self.error_code!r})"


class PluginError(FederateError):
    """A plugin failed to load or misbehaved; the message names the plugin and its package."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERNAL_ERROR)


def redact(uri: str) -> str:
    """A storage URI fit for messages and logs: no password, query string or fragment.

    Presigned URLs and SAS URLs carry their secret in the query string; database URLs
    carry a password in the user-info part.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    if netloc == parts.netloc and not parts.query and not parts.fragment:
        return uri  # nothing secret: keep it exactly as written (sqlite:////abs/path)
    # rebuilt by hand: urlunsplit drops the empty authority of "scheme:////path"
    head = f"{parts.scheme}:" if parts.scheme else ""
    authority = f"//{netloc}" if uri[len(head) :].startswith("//") else ""
    query = "?<redacted>" if parts.query else ""
    return f"{head}{authority}{parts.path}{query}"


def redact_urls(text: str) -> str:
    """``text`` on one line, every URL-like word passed through :func:`redact`."""
    return " ".join(redact(w) if "://" in w else w for w in text.split())


def describe(err: BaseException) -> str:
    """A one-line reason fit for a message: FederateErrors as they are, others by type,
    with anything URL-like stripped of its query string."""
    if isinstance(err, FederateError):
        return err.message
    said = redact_urls(str(err))
    return f"{type(err).__name__}: {said}" if said else type(err).__name__


def from_os_error(err: OSError, action: str, path: object) -> FederateError:
    """A FederateError for a failed local file operation, saying what and where."""
    reason = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        return FederateError(f"Cannot {action} {path}: no space left on device", INTERNAL_ERROR)
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return FederateError(f"Cannot {action} {path}: {reason}", PERMISSION_DENIED)
    if err.errno in (errno.ENOENT,):
        return FederateError(f"Cannot {action} {path}: {reason}", RESOURCE_DOES_NOT_EXIST)
    if err.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return FederateError(f"Cannot {action} {path}: {reason}", INVALID_PARAMETER_VALUE)
    return FederateError(f"Cannot {action} {path}: {reason}", INTERNAL_ERROR)
