"""Which Databricks workspace a ``databricks-uc`` registry URI means, and its token.

``databricks-uc`` reads ``DATABRICKS_HOST`` with ``DATABRICKS_TOKEN`` (a personal access
token) or with ``DATABRICKS_CLIENT_ID`` and ``DATABRICKS_CLIENT_SECRET`` (OAuth M2M: a
service principal's client credentials, exchanged for short-lived tokens by
:mod:`.oauth`); with none of them set, the ``[DEFAULT]`` profile of ``~/.databrickscfg``.
``databricks-uc://<profile>`` reads that profile (keys ``host`` with ``token``, or with
``client_id`` and ``client_secret``). ``DATABRICKS_CONFIG_FILE`` names another
configuration file. Profiles are read as the Databricks SDK reads them: a named profile
does not inherit ``[DEFAULT]``'s keys. A host without a scheme is ``https://``;
``http://`` is allowed (tests, proxies). A token wins over client credentials set beside it.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.redaction import register_secret

SCHEME = "databricks-uc"
HOST_ENV = "DATABRICKS_HOST"
TOKEN_ENV = "DATABRICKS_TOKEN"
CONFIG_FILE_ENV = "DATABRICKS_CONFIG_FILE"
DEFAULT_PROFILE = "DEFAULT"
CLIENT_ID_ENV = "DATABRICKS_CLIENT_ID"
CLIENT_SECRET_ENV = "DATABRICKS_CLIENT_SECRET"


@dataclass(frozen=True)
class Workspace:
    """A workspace's base URL and the bearer token to send it, or the OAuth client
    credentials to get tokens with (``token`` empty then); ``token_source`` says where
    they came from, in words fit for an error message (never a secret)."""

    host: str
    token: str = field(repr=False)
    token_source: str
    #: what the host is, in error messages ("Databricks workspace", "Unity Catalog server")
    kind: str = "Databricks workspace"
    #: OAuth M2M: a service principal's client id and secret (both empty with a token)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def __repr__(self) -> str:
        return f"Workspace(host={self.host!r}, token_source={self.token_source!r})"


def config_file() -> Path:
    """``DATABRICKS_CONFIG_FILE``, else ``~/.databrickscfg``."""
    raw = os.environ.get(CONFIG_FILE_ENV, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".databrickscfg"


def profile_of(uri: str) -> str | None:
    """``databricks-uc`` -> None, ``databricks-uc://prod`` -> ``"prod"``; anything else is
    INVALID_PARAMETER_VALUE naming the two forms."""
    text = uri.strip()
    if text.lower() == SCHEME:
        return None
    parts = urlsplit(text)
    profile = parts.netloc
    if (
        parts.scheme.lower() != SCHEME
        or not text.lower().startswith(SCHEME + "://")
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or not profile
        or any(c in profile for c in ":@ /")
    ):
        raise FederateError(
            f"Not a Unity Catalog registry URI: {uri!r}. Use 'databricks-uc' (DATABRICKS_HOST "
            "and DATABRICKS_TOKEN, else the DEFAULT profile of ~/.databrickscfg) or "
            "'databricks-uc://<profile>' (that profile of ~/.databrickscfg)",
            INVALID_PARAMETER_VALUE,
        )
    return profile


def _normal_host(raw: str, where: str) -> str:
    host = raw.strip().rstrip("/")
    if "://" not in host:
        host = "https://" + host
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise FederateError(
            f"{where} is not a workspace URL: {raw!r} (expected https://<workspace host>)",
            INVALID_PARAMETER_VALUE,
        )
    return host


def _read_profiles(path: Path) -> dict[str, dict[str, str]]:
    # the Databricks SDK reads sections without DEFAULT's inheritance: so do we
    parser = configparser.ConfigParser(default_section="\x00none", interpolation=None)
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        raise FederateError(
            f"Cannot read the Databricks configuration file {path}: {type(err).__name__}",
            INVALID_PARAMETER_VALUE,
        ) from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


def _from_profile(profile: str, explicit: bool) -> Workspace:
    path = config_file()
    profiles = _read_profiles(path)
    section = profiles.get(profile)
    how = f"set {HOST_ENV} and {TOKEN_ENV}, or " if not explicit else ""
    if section is None:
        known = ", ".join(sorted(profiles)) or "none"
        raise FederateError(
            f"No Databricks workspace configured for {SCHEME}{'://' + profile if explicit else ''}"
            f": {how}add a [{profile}] profile with host and token to {path} (profiles "
            f"there: {known}; {CONFIG_FILE_ENV} names another file)",
            INVALID_PARAMETER_VALUE,
        )
    where = f"profile [{profile}] of {path}"
    host = section.get("host", "").strip()
    token = section.get("token", "").strip()
    client_id = section.get("client_id", "").strip()
    secret = section.get("client_secret", "").strip()
    if host and token:
        register_secret(token)
        return Workspace(_normal_host(host, f"host of {where}"), token, where)
    if host and client_id and secret:
        register_secret(secret)
        return Workspace(
            _normal_host(host, f"host of {where}"),
            "",
            f"OAuth client {client_id!r} of {where}",
            client_id=client_id,
            client_secret=secret,
        )
    if client_id or secret:
        keys = (("host", host), ("client_id", client_id), ("client_secret", secret))
        lack = [key for key, value in keys if not value]
        needs = "host, client_id and client_secret (OAuth M2M)"
    else:
        lack = [k for k, v in (("host", host), ("token", token)) if not v]
        needs = "host and token (or host, client_id and client_secret for OAuth M2M)"
    raise FederateError(
        f"Profile [{profile}] of {path} lacks {' and '.join(lack)}: {SCHEME} needs {needs}",
        INVALID_PARAMETER_VALUE,
    )


def workspace_for(uri: str) -> Workspace:
    """The workspace and token ``uri`` means; a missing or half configuration is one
    INVALID_PARAMETER_VALUE saying which variables or profile keys to set."""
    profile = profile_of(uri)
    if profile is not None:
        return _from_profile(profile, explicit=True)
    env = {
        name: os.environ.get(name, "").strip()
        for name in (HOST_ENV, TOKEN_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV)
    }
    host, token = env[HOST_ENV], env[TOKEN_ENV]
    client_id, secret = env[CLIENT_ID_ENV], env[CLIENT_SECRET_ENV]
    if host and token:
        register_secret(token)
        return Workspace(_normal_host(host, HOST_ENV), token, TOKEN_ENV)
    if host and client_id and secret:
        register_secret(secret)
        return Workspace(
            _normal_host(host, HOST_ENV),
            "",
            f"OAuth client {client_id!r} of {CLIENT_ID_ENV}/{CLIENT_SECRET_ENV}",
            client_id=client_id,
            client_secret=secret,
        )
    have = [name for name, value in env.items() if value]
    if not have:
        return _from_profile(DEFAULT_PROFILE, explicit=False)
    if client_id or secret:
        lack = [n for n in (HOST_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV) if not env[n]]
        needs = f"{HOST_ENV}, {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} for OAuth M2M"
    else:
        lack = [HOST_ENV if token else TOKEN_ENV]
        needs = f"{HOST_ENV} and {TOKEN_ENV}"
        if host:
            needs += f" (or {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} for OAuth M2M)"
    raise FederateError(
        f"{' and '.join(have)} {'is' if len(have) == 1 else 'are'} set but "
        f"{' and '.join(lack)} {'is' if len(lack) == 1 else 'are'} not: {SCHEME} needs "
        f"{needs} (or none of them, to use the [{DEFAULT_PROFILE}] profile of {config_file()})",
        INVALID_PARAMETER_VALUE,
    )
