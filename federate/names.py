"""Which names of registered models, prompts and aliases federate accepts.

One rule, used by the URI parser, the registries (create, rename), ``register`` and the
cache, so a name that gets in anywhere is valid everywhere. A name is also a directory
name (``<artifact root>/models/<name>/``, ``cache/snapshots/<registry>/<name>/``), so it
must be one path segment that cannot mean another one.

Registered model and prompt names: MLflow's rule (no ``/`` or ``:``, not ``.``, nothing
starting with ``..``) with Unity Catalog's three-level names (``catalog.schema.model``)
and spaces allowed, plus what federate adds: no ``@`` (URIs split aliases there), no
``\\`` (a separator on Windows), no control characters, no lone surrogates (they cannot
be stored or encoded), no surrounding whitespace, at most 256 characters.

Looking a name up (``lookup=True``, what the URI parser does) accepts what other
registries may hold (``@``, ``:``, surrounding spaces), but never a name that is not a
single, storable path segment.
"""

from __future__ import annotations

import re

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255

#: what a registered model or prompt name may be, for error messages
ACCEPTED_NAMES = (
    f"1-{MAX_NAME_LENGTH} characters: letters, digits, spaces, dots (catalog.schema.model), "
    "'_', '-' and other printable characters except '/', ':', '@' and '\\'; not '.' or "
    "starting with '..'; no surrounding whitespace"
)
ACCEPTED_ALIASES = f"1-{MAX_ALIAS_LENGTH} letters, digits, '_' or '-'"

# C0 controls, DEL, C1 controls, and UTF-16 surrogates (a lone one cannot be encoded)
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ALIAS = re.compile(r"[\w\-]+")
_VERSION_LIKE_ALIAS = re.compile(r"v\d+", re.IGNORECASE)


def _refuse(what: str, value: object, why: str, accepted: str) -> FederateError:
    shown = repr(value) if isinstance(value, str) else f"of type {type(value).__name__}"
    return FederateError(
        f"Invalid {what} {shown}: {why}. Accepted: {accepted}.", INVALID_PARAMETER_VALUE
    )


def check_text(text: object, what: str, accepted: str = "printable text") -> str:
    """``text`` if it is a non-empty string that can be stored and encoded (no control
    characters, no lone surrogates), else FederateError(INVALID_PARAMETER_VALUE)."""
    if not isinstance(text, str) or not text.strip():
        raise _refuse(what, text, "it must be a non-empty string", accepted)
    bad = _UNSTORABLE.search(text)
    if bad:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise _refuse(what, text, f"it contains {kind} ({bad.group()!r})", accepted)
    return text


def check_name(name: object, what: str = "registered model", *, lookup: bool = False) -> str:
    """``name`` if it is a valid registered model (or ``what``) name, else
    FederateError(INVALID_PARAMETER_VALUE) saying why and what is accepted.

    ``lookup=True`` checks only what any name federate reads from a registry must satisfy:
    a non-empty single path segment of storable text."""
    what = f"{what} name"
    text = check_text(name, what, ACCEPTED_NAMES)
    if text in (".", ".."):
        raise _refuse(what, text, "'.' and '..' name directories, not models", ACCEPTED_NAMES)
    if "/" in text:
        raise _refuse(what, text, "it may not contain '/'", ACCEPTED_NAMES)
    if lookup:
        return text
    if text != text.strip():
        # MySQL/MariaDB compare with PAD SPACE, where 'iris ' and 'iris' are the same name
        raise _refuse(what, text, "it may not begin or end with whitespace", ACCEPTED_NAMES)
    bad_chars = [c for c in (":", "@", "\\") if c in text]
    if bad_chars:
        raise _refuse(
            what, text, f"it may not contain {' or '.join(map(repr, bad_chars))}", ACCEPTED_NAMES
        )
    if text.startswith(".."):
        raise _refuse(what, text, "it may not start with '..'", ACCEPTED_NAMES)
    if len(text) > MAX_NAME_LENGTH:
        raise _refuse(
            what, text[:40] + "...", f"longer than {MAX_NAME_LENGTH} characters", ACCEPTED_NAMES
        )
    return text


def check_alias(alias: object, *, lookup: bool = False) -> str:
    """``alias`` if it is a valid alias, else FederateError(INVALID_PARAMETER_VALUE).

    ``lookup=True`` (the URI parser) accepts any storable text: other registries may
    hold aliases federate would not create, and ``latest`` is a prompt's newest version."""
    text = check_text(alias, "alias", ACCEPTED_ALIASES)
    if lookup:
        return text
    if not _ALIAS.fullmatch(text):
        raise _refuse("alias", text, "it contains other characters", ACCEPTED_ALIASES)
    if len(text) > MAX_ALIAS_LENGTH:
        raise _refuse(
            "alias", text[:40] + "...", f"longer than {MAX_ALIAS_LENGTH}", ACCEPTED_ALIASES
        )
    if text.lower() == "latest" or _VERSION_LIKE_ALIAS.fullmatch(text):
        raise _refuse(
            "alias",
            text,
            "'latest' and version-like names (v1, V2...) are reserved because URIs would "
            "be ambiguous",
            ACCEPTED_ALIASES,
        )
    return text
