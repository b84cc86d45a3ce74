"""Keeping secrets out of text: messages, and the log records of federate and the libraries
it drives.

At DEBUG, urllib3 logs request lines with their query strings (SAS and presigned URL
signatures, webhook tokens); botocore logs each signed request's headers (the session
token, ``Authorization``) and its canonical request; Azure's and Google's SDKs log URLs and
headers; SQLAlchemy's echo (``FEDERATE_SQLALCHEMY_ECHO``) logs statement parameters and
rows, a webhook's stored secret among them. :func:`redact_text` finds these in text:

- the password of any ``scheme://user:password@host`` URL, also one holding unencoded
  ``/ ? # @`` (see :func:`split_userinfo`);
- the value of a ``name=value`` pair (query strings, ``Authorization`` parameters,
  connection strings) whose name says secret: ``sig``, ``code``, ``key``, ``*signature*``,
  ``*token*``, ``*secret*``, ``*passw*``, ``*credential*``, ``*auth*``, ``*apikey*``,
  ``AccountKey``...;
- the value of a header or field of such a name, as ``Name: value`` (header dumps,
  botocore's canonical request) or ``'Name': b'value'`` (dict reprs);
- the text of an XML element of such a name, ``<SecretAccessKey>value</SecretAccessKey>``
  (botocore's dump of an STS answer, which ``federate serve`` asks for when it vends);
- webhook secrets as the registry stores them, ``'plain:...'`` and ``'fernet:...'``
  literals (SQLAlchemy's parameter and row reprs);
- strings registered with :func:`register_secret` (the path and query of webhook URLs,
  which often are the credential: ``https://hooks.slack.com/services/T/B/XXXX``);
- in SQLAlchemy's echo of a statement on the ``webhooks`` table, the path and query of
  every http(s) URL in its parameters and rows (the echo's parameter and row records
  follow their statement's in the same thread; rows fetched after another statement ran
  in between are not recognised).

:func:`install` wraps the process's log record factory (``logging.setLogRecordFactory``,
chaining the one already there), so every record of the loggers in :data:`LOGGERS` is
redacted as it is created, before any filter or handler sees it: handlers added later, at
any logger, by the application or pytest's ``caplog``, included (a filter on a logger
would miss records of its child loggers, and handlers on other loggers). A record is only
created when its level is enabled, so logging that is off costs nothing; an enabled record
of those loggers costs formatting its message once (which the first handler would do
anyway) and a few regular expression scans. Records that hold nothing secret keep their
``msg`` and ``args``. federate installs it when its plugin host, a registry database
engine is created or a webhook delivery is made; calling it again is cheap and does nothing.

SQLAlchemy's echo keeps its statements and parameters, except the stored webhook secrets
and webhook URLs: federate does not pass ``hide_parameters=True``, which would blank every
parameter and with them the echo's use for debugging.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

#: Loggers (and their children) whose records are redacted: federate's (and its plugins',
#: ``federate_*``) and those of the libraries federate drives.
LOGGERS = (
    "federate",
    "urllib3",
    "requests",
    "botocore",
    "boto3",
    "s3transfer",
    "azure",
    "google",
    "sqlalchemy",
    "alembic",
    "uvicorn",
    "starlette",
    "httpx",
    "httpcore",
    "msal",
)
REDACTED = "<redacted>"

_LOGGER_NAME = rf"(?:{'|'.join(map(re.escape, LOGGERS))})(?:$|[._])"
# The "@" that ends a URL's user-info is followed by a host, a port, then the path/query.
_AFTER_USERINFO = r"(?:\[[^\]/?#@\s]*\]|[^/?#@:\[\]\s]*)(?::\d*)?(?=[/?#'\"]|\s|$)"
_URL = r"[A-Za-z][A-Za-z0-9+.\-]*://\S+"
_SECRET_WORD = (
    r"signature|token|secret|passw|credential|auth|api[-_]?key|(?:access|account|private)[-_]?key"
)
# a header or field name that says secret (X-Amz-Security-Token); a query parameter's
# also may be short (sig, key)
_SECRET_FIELD = rf"(?i).*(?:{_SECRET_WORD}|cookie)"
_SECRET_NAME = rf"(?i)(?:sig|code|key|sas|pwd)$|.*(?:{_SECRET_WORD}|cookie)"
# words one of the secrets below comes with: text holding none is left as it is
# (substring tests: a regular expression alternation costs ten times more)
_HINTS = (
    "sig",
    "code",
    "key",
    "sas",
    "pwd",
    "token",
    "secret",
    "passw",
    "credential",
    "auth",
    "cookie",
    "plain:",
    "fernet:",
    "bearer",
    "basic",
)
# name=value: the value ends at whitespace, a separator or a quote
_PAIR = r"(?<![\w.-])([\w.-]+)=([^\s&,;'\"<>]+)"
# 'Name': 'value' / "Name": b"value" in reprs of dicts (botocore's request, SDK headers)
_FIELD = r"(['\"])([\w.-]+)\1(\s*:\s*b?)(['\"])((?:\\.|(?!\4).)*)\4"
# Name: value, to the end of the line (header dumps; botocore's canonical request, whose
# "Signature:" puts the value on the next line)
_HEADER = r"(?<![\w'\"-])([\w-]+)([ \t]*:[ \t]*\n?[ \t]*)(?![\s'\"]|<redacted>)([^\n]+)"
# <Name>value</Name> (XML answers botocore logs at DEBUG: STS's session credentials)
_ELEMENT = r"<([\w.:-]+)>([^<]*)</\1>"
# an Authorization header's value wherever it shows (uvicorn's TRACE dump of the ASGI
# scope: (b'authorization', b'Bearer ...')): the scheme stays, the credentials go
_AUTH_SCHEME = r"(?i)\b(Bearer|Basic)(\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{6,}"
# how the registry stores a webhook secret (federate.webhooks.secrets), in reprs
_STORED = r"(['\"])(?:plain|fernet):(?:\\.|(?!\1).)*\1"

_WEB_URL = r"(?i)(https?://[^/?#\s'\"]+)[/?#][^\s'\"]*"
_ECHO = "sqlalchemy.engine"
_ECHO_FOLLOWERS = ("[", "Col ", "Row ")  # parameters, column names and rows of a statement
_echo = threading.local()

_MIN_REGISTERED = 6


@functools.cache
def _re(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled on first use: ``import federate`` compiles none of them."""
    return re.compile(pattern)


_MAX_REGISTERED = 1024
_registered: dict[str, None] = {}  # insertion-ordered: the oldest go first when full
_registered_lock = threading.Lock()
_install_lock = threading.Lock()


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """``rest`` (a URL after ``scheme://``) as (user-info or None, host and the rest).

    :func:`urllib.parse.urlsplit` ends the authority at the first ``/``, ``?`` or ``#``
    and SQLAlchemy's ``make_url`` ends the password at the first ``@``, so both show part
    of a generated password that holds those characters unencoded. Here the user-info is
    everything before the last ``@`` that is followed by a host and whose user name has no
    ``/?#``: when unsure it takes more as user-info, so a password is never partly shown.
    """
    at = len(rest)
    while True:
        at = rest.rfind("@", 0, at)
        if at < 0:
            return None, rest
        user = rest[:at].split(":", 1)[0]
        if not any(c in user for c in "/?#") and _re(_AFTER_USERINFO).match(rest, at + 1):
            return rest[:at], rest[at + 1 :]


def _hide_password(match: re.Match[str]) -> str:
    url = match.group()
    head, _, rest = url.partition("://")
    userinfo, where = split_userinfo(rest)
    if userinfo is None or ":" not in userinfo:
        return url
    return f"{head}://{userinfo.split(':', 1)[0]}:***@{where}"


def _pair(match: re.Match[str]) -> str:
    if _re(_SECRET_NAME).match(match[1]):
        return f"{match[1]}={REDACTED}"
    return match[0]


def _field(match: re.Match[str]) -> str:
    quote, name, colon, value_quote = match[1], match[2], match[3], match[4]
    if _re(_SECRET_FIELD).match(name):
        return f"{quote}{name}{quote}{colon}{value_quote}{REDACTED}{value_quote}"
    return match[0]


def _element(match: re.Match[str]) -> str:
    if _re(_SECRET_FIELD).match(match[1]):
        return f"<{match[1]}>{REDACTED}</{match[1]}>"
    return match[0]


def _header(match: re.Match[str]) -> str:
    if _re(_SECRET_FIELD).match(match[1]):
        return f"{match[1]}{match[2]}{REDACTED}"
    return match[0]


def redact_text(text: str) -> str:
    """``text`` with every secret this module knows how to find replaced (see above)."""
    if _registered:
        for secret in tuple(_registered):
            if secret in text:
                text = text.replace(secret, REDACTED)
    if "@" in text and "://" in text:
        text = _re(_URL).sub(_hide_password, text)
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    if "</" in text:
        text = _re(_ELEMENT).sub(_element, text)
    if "bearer" in lowered or "basic" in lowered:
        text = _re(_AUTH_SCHEME).sub(rf"\1\2{REDACTED}", text)
    if "=" in text:
        text = _re(_PAIR).sub(_pair, text)
    if ":" in text:
        text = _re(_FIELD).sub(_field, text)
        text = _re(_HEADER).sub(_header, text)
        text = _re(_STORED).sub(rf"\1{REDACTED}\1", text)
    return text


def register_secret(*secrets: str | None) -> None:
    """Redact these strings wherever they appear from now on (in this process). Strings
    shorter than 6 characters are ignored (they would blank common words); the oldest of
    more than 1024 are forgotten."""
    fresh = [s for s in secrets if s and len(s) >= _MIN_REGISTERED and s not in _registered]
    if not fresh:
        return
    with _registered_lock:
        for secret in fresh:
            _registered[secret] = None
        while len(_registered) > _MAX_REGISTERED:
            del _registered[next(iter(_registered))]
    install()


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record``'s message, traceback and stack in place."""
    try:
        text, failed = record.getMessage(), False
    except Exception:  # bad arguments: logging would print them raw in its error report
        text, failed = f"{record.msg} {record.args!r}", True
    shown = redact_text(text)
    if record.name.startswith(_ECHO):
        shown = _hide_webhook_urls(shown)
    if failed or shown != text:
        record.msg, record.args = shown, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


def _hide_webhook_urls(text: str) -> str:
    """In SQLAlchemy's echo of a statement on the webhooks table, URLs show only their origin."""
    if not text.startswith(_ECHO_FOLLOWERS):
        _echo.webhooks = "webhooks" in text  # a statement: remember which table it touches
        return text
    if getattr(_echo, "webhooks", False) and "://" in text:
        return _re(_WEB_URL).sub(rf"\1/{REDACTED}", text)
    return text


def _redacting(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not getattr(record, "_federate_redacted", False) and _re(_LOGGER_NAME).match(
            record.name
        ):
            redact_record(record)
            record._federate_redacted = True
        return record

    factory._federate_redacts = True  # type: ignore[attr-defined]
    return factory


def install() -> None:
    """Redact the records of :data:`LOGGERS` from now on. Idempotent; if another library
    replaced the record factory since, federate's wraps the new one (records are never
    redacted twice)."""
    if getattr(logging.getLogRecordFactory(), "_federate_redacts", False):
        return
    with _install_lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "_federate_redacts", False):
            logging.setLogRecordFactory(_redacting(current))
