"""The models:/ and prompts:/ URI grammar.

The forms are MLflow's (``_parse_model_uri``) so URIs move between the two tools
unchanged, with two deliberate differences: an empty name is an error, and a name
followed by both an alias and a suffix (``models:/m@a/1``) is an error rather than a
model literally named ``m@a``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.names import check_alias, check_name, check_text

REGISTRY_SCHEMES = ("models", "prompts")
LATEST = "latest"
STAGES = ("None", "Staging", "Production", "Archived")
_CANONICAL_STAGE = {s.lower(): s for s in STAGES}
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def canonical_stage(stage: str) -> str | None:
    """Return the canonical spelling of a stage name, or None if it is not a stage."""
    return _CANONICAL_STAGE.get(stage.strip().lower())


@dataclass(frozen=True)
class ModelRef:
    """A parsed registry URI: which registry (``profile``), which model, which version.

    Exactly one of ``version``, ``stage``, ``alias`` or ``model_id`` is set, except for
    "latest", where ``name`` is set and all four are None.
    """

    scheme: str
    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    model_id: str | None = None
    profile: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.name is not None and self.version is self.stage is self.alias is None

    @property
    def is_prompt(self) -> bool:
        return self.scheme == "prompts"

    def __str__(self) -> str:
        """The URI for this ref; parsing it gives this ref back."""
        head = f"{self.scheme}://{_enc(self.profile)}/" if self.profile else f"{self.scheme}:/"
        if self.model_id is not None:
            return head + _enc(self.model_id)
        name = _enc(self.name or "")
        if self.alias is not None:
            return f"{head}{name}@{_enc(self.alias)}"
        if self.version is not None:
            return f"{head}{name}/{self.version}"
        if self.stage is not None:
            return f"{head}{name}/{_enc(self.stage)}"
        return f"{head}{name}/{LATEST}"


# Characters that would change how a URI splits; everything else stays readable.
_SPECIAL = re.compile(r"[%/?#@\[\]\x00-\x20\x7f]")


def _enc(part: str) -> str:
    return _SPECIAL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), part)


def accepted_forms(scheme: str = "models") -> str:
    if scheme == "prompts":
        return "prompts:/<name>/<version>, prompts:/<name>@<alias>"
    return (
        "models:/<name>/<version>, models:/<name>/<stage> (None, Staging, Production, "
        "Archived; any case), models:/<name>/latest, models:/<name>@<alias>, "
        "models:/<model_id>"
    )


def _invalid(uri: str, scheme: str, reason: str) -> FederateError:
    shown = scheme if scheme in REGISTRY_SCHEMES else "models"
    return FederateError(
        f"Not a valid {shown}:/ URI: {uri!r} ({reason}). Accepted forms: "
        f"{accepted_forms(shown)}; prefix the path with //<profile>/ to name a registry "
        f"configured in federate.toml (e.g. {shown}://prod/<name>@<alias>).",
        INVALID_PARAMETER_VALUE,
    )


def is_registry_uri(uri: str) -> bool:
    """True for models:/ and prompts:/ URIs (which go to a registry, not straight to a store)."""
    head, sep, _ = uri.strip().partition(":")
    return bool(sep) and head.lower() in REGISTRY_SCHEMES


def parse_uri(uri: str) -> ModelRef:
    """Parse a models:/ or prompts:/ URI into a :class:`ModelRef`.

    Raises FederateError(INVALID_PARAMETER_VALUE) naming what is wrong and listing the
    accepted forms.
    """
    if not isinstance(uri, str):
        raise FederateError(
            f"A registry URI must be a string, got {type(uri).__name__}. "
            f"Accepted forms: {accepted_forms()}, {accepted_forms('prompts')}",
            INVALID_PARAMETER_VALUE,
        )
    if _CONTROL.search(uri) or uri != uri.strip():
        shown = "prompts" if uri.strip().lower().startswith("prompts:") else "models"
        raise _invalid(uri, shown, "control characters and surrounding whitespace are not allowed")
    try:
        parts = urlsplit(uri, allow_fragments=False)
    except ValueError as err:  # e.g. an unbalanced '[' read as an IPv6 host
        shown = "prompts" if uri.lower().startswith("prompts:") else "models"
        raise _invalid(uri, shown, str(err)) from None
    scheme = parts.scheme.lower()
    if scheme not in REGISTRY_SCHEMES:
        raise _invalid(uri, "models", "the scheme must be models: or prompts:")
    for char, name in (("?", "query strings"), ("#", "fragments")):
        if char in uri:
            raise _invalid(
                uri,
                scheme,
                f"{name} are not part of the grammar; write a literal {char!r} in a name "
                f"as {_enc(char)}",
            )
    profile = _unquote(uri, scheme, parts.netloc) or None
    if profile is not None:
        _check(uri, scheme, check_text, profile, "registry profile")
    path = parts.path
    if not path.startswith("/") or len(path) <= 1:
        raise _invalid(uri, scheme, "the path is empty")
    segments = path[1:].split("/")
    if len(segments) > 2:
        raise _invalid(uri, scheme, "too many path segments")

    if len(segments) == 2:
        if "@" in segments[0]:
            raise _invalid(uri, scheme, "use either a /suffix or an @alias, not both")
        name, suffix = (_unquote(uri, scheme, s) for s in segments)
        _check_name(uri, scheme, name)
        suffix = suffix.strip()
        if not suffix:
            raise _invalid(uri, scheme, "the version, stage or 'latest' after the name is empty")
        if _DIGITS.fullmatch(suffix):
            return ModelRef(scheme, name=name, version=int(suffix), profile=profile)
        if scheme == "prompts":
            raise _invalid(
                uri, scheme, f"prompts take a version number or an alias, not {suffix!r}"
            )
        if suffix.lower() == LATEST:
            return ModelRef(scheme, name=name, profile=profile)
        return ModelRef(scheme, name=name, stage=canonical_stage(suffix) or suffix, profile=profile)

    only = segments[0]
    if "@" in only:
        if "@@" in only:  # a typo far more often than a name ending in '@'
            raise _invalid(
                uri, scheme, "'@@' is not an alias; write an '@' that is part of the name as %40"
            )
        name, alias = (_unquote(uri, scheme, s) for s in only.rsplit("@", 1))
        _check_name(uri, scheme, name)
        if not alias.strip():
            raise _invalid(uri, scheme, "the alias after '@' is empty")
        _check(uri, scheme, check_alias, alias, lookup=True)
        return ModelRef(scheme, name=name, alias=alias, profile=profile)
    if scheme == "prompts":
        raise _invalid(uri, scheme, "a prompt URI needs a /version or an @alias")
    model_id = _unquote(uri, scheme, only)
    if not model_id.strip():
        raise _invalid(uri, scheme, "the model id is empty")
    _check(uri, scheme, check_text, model_id, "model id")
    return ModelRef(scheme, model_id=model_id, profile=profile)


def _unquote(uri: str, scheme: str, part: str) -> str:
    """Decode %XX escapes; a stray '%' or escapes that are not UTF-8 are errors, not guesses."""
    if _BAD_ESCAPE.search(part):
        raise _invalid(uri, scheme, "a '%' must start a %XX escape (write a literal '%' as %25)")
    try:
        return unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise _invalid(uri, scheme, "its %XX escapes do not decode as UTF-8") from None


def _check_name(uri: str, scheme: str, name: str) -> None:
    if not name.strip():
        raise _invalid(uri, scheme, "the name is empty")
    what = "prompt" if scheme == "prompts" else "registered model"
    _check(uri, scheme, check_name, name, what, lookup=True)


def _check(uri: str, scheme: str, check: Callable[..., str], *args: Any, **kw: Any) -> None:
    """Run one of :mod:`federate.names`' checks; its refusal becomes this URI's."""
    try:
        check(*args, **kw)
    except FederateError as err:
        raise _invalid(uri, scheme, err.message.rstrip(".")) from None
