"""Which Databricks workspace a ``databricks-uc`` registry URI means, and its token.

``databricks-uc`` reads ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` (both, or neither),
else the ``[DEFAULT]`` profile of ``~/.databrickscfg``; ``databricks-uc://<profile>`` reads
that profile. ``DATABRICKS_CONFIG_FILE`` names another configuration file. Profiles are
read as the Databricks SDK reads them: a named profile does not inherit ``[DEFAULT]``'s
keys. A host without a scheme is ``https://``; ``http://`` is allowed (tests, proxies).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED, FederateError
from federate.redaction import register_secret

SCHEME = "databricks-uc"
HOST_ENV = "DATABRICKS_HOST"
TOKEN_ENV = "DATABRICKS_TOKEN"
CONFIG_FILE_ENV = "DATABRICKS_CONFIG_FILE"
DEFAULT_PROFILE = "DEFAULT"
_OAUTH_ENV = ("DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET")


@dataclass(frozen=True)
class Workspace:
    """A workspace's base URL and the bearer token to send it; ``token_source`` says where
    the token came from, in words fit for an error message (never the token)."""

    host: str
    token: str = field(repr=False)
    token_source: str
    #: what the host is, in error messages ("Databricks workspace", "Unity Catalog server")
    kind: str = "Databricks workspace"

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
    missing = [key for key in ("host", "token") if not section.get(key, "").strip()]
    if missing:
        oauth = section.get("client_id") or section.get("client_secret")
        raise FederateError(
            f"Profile [{profile}] of {path} lacks {' and '.join(missing)}: {SCHEME} needs "
            "host and token"
            + (" (OAuth client_id/client_secret is not supported yet)" if oauth else ""),
            NOT_IMPLEMENTED if oauth and missing == ["token"] else INVALID_PARAMETER_VALUE,
        )
    token = section["token"].strip()
    register_secret(token)
    return Workspace(
        _normal_host(section["host"], f"host of profile [{profile}] in {path}"),
        token,
        f"profile [{profile}] of {path}",
    )


def workspace_for(uri: str) -> Workspace:
    """The workspace and token ``uri`` means; a missing or half configuration is one
    INVALID_PARAMETER_VALUE saying which variables or profile keys to set."""
    profile = profile_of(uri)
    if profile is not None:
        return _from_profile(profile, explicit=True)
    host = os.environ.get(HOST_ENV, "").strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if host and token:
        register_secret(token)
        return Workspace(_normal_host(host, HOST_ENV), token, TOKEN_ENV)
    if host or token:
        have, lack = (HOST_ENV, TOKEN_ENV) if host else (TOKEN_ENV, HOST_ENV)
        oauth = host and all(os.environ.get(name, "").strip() for name in _OAUTH_ENV)
        if oauth:
            raise FederateError(
                f"{HOST_ENV} is set with {_OAUTH_ENV[0]}/{_OAUTH_ENV[1]}: OAuth M2M is not "
                f"supported by {SCHEME} yet; set {TOKEN_ENV} (a personal access token)",
                NOT_IMPLEMENTED,
            )
        raise FederateError(
            f"{have} is set but {lack} is not: {SCHEME} needs both (or neither, to use the "
            f"[{DEFAULT_PROFILE}] profile of {config_file()})",
            INVALID_PARAMETER_VALUE,
        )
    return _from_profile(DEFAULT_PROFILE, explicit=False)
