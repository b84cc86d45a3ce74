"""The one exception family users catch, with MLflow's error codes and their HTTP statuses."""

from __future__ import annotations

import errno
import re
from urllib.parse import urlsplit

from federate.redaction import redact_text, split_userinfo

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


def missing_package(what: str, package: str, extra: str) -> FederateError:
    """The error for an optional dependency that is not installed: one code for every
    store, and the extra that brings it in (``pip install 'federate[<extra>]'``)."""
    return FederateError(
        f"{what} need the {package} package, which is not installed: "
        f"pip install 'federate[{extra}]'",
        INVALID_PARAMETER_VALUE,
    )


class PluginError(FederateError):
    """A plugin failed to load or misbehaved; the message names the plugin and its package."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERNAL_ERROR)


# "scheme://": what makes a word a URL. Database URLs ("postgresql+psycopg://") included.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_OPENERS = {"'": "'", '"': '"', "(": ")", "<": ">", "[": "]"}


def redact(uri: str) -> str:
    """A storage or database URI fit for messages, files and logs: the password, query
    string and fragment replaced (``user:***@host``, ``?<redacted>``), the rest as written.

    Presigned and SAS URLs carry their secret in the query string; database URLs carry a
    password in the user-info part, where generated passwords may hold ``/ ? # @`` that
    were not percent-encoded: the password is still hidden whole (see
    :func:`federate.redaction.split_userinfo`).
    """
    match = _SCHEME.match(uri)
    if match is None:
        head, userinfo, rest = "", None, uri  # a path, or "scheme:path"
    else:
        head = match.group()
        userinfo, rest = split_userinfo(uri[match.end() :])
    try:
        parts = urlsplit(f"x://{rest}" if head else rest)
    except ValueError:
        return "<unparseable URI>"
    if userinfo is None and not parts.query and not parts.fragment:
        return uri  # nothing secret: keep it exactly as written (sqlite:////abs/path)
    shown = ""
    if userinfo is not None:
        user, has_password, _ = userinfo.partition(":")
        shown = f"{user}:***@" if has_password else f"{user}@"
    where = f"{parts.netloc}{parts.path}" if head else parts.path
    if not head and parts.scheme:
        where = f"{parts.scheme}:{where}"
    query = "?<redacted>" if parts.query else ""
    return f"{head}{shown}{where}{query}"


def redact_urls(text: str) -> str:
    """``text`` on one line, every URL in it passed through :func:`redact` (quotes or
    brackets around a URL are kept)."""
    return _URL_IN_TEXT.sub(_redact_match, " ".join(text.split()))


def _redact_match(match: re.Match[str]) -> str:
    url = match.group()
    before = match.string[match.start() - 1] if match.start() else ""
    closer = _OPENERS.get(before)
    if closer and closer in url:
        cut = url.rindex(closer)
        return redact(url[:cut]) + url[cut:]
    return redact(url)


def describe(err: BaseException) -> str:
    """A one-line reason fit for a message: FederateErrors as they are, others by type,
    with URLs redacted and other secrets :func:`federate.redaction.redact_text` finds
    (SQLAlchemy's ``[parameters: ...]`` with a stored webhook secret, ``token=...``)."""
    if isinstance(err, FederateError):
        return err.message
    said = redact_text(redact_urls(str(err)))
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
