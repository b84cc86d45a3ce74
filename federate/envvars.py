"""Numbers and sizes read from environment variables, all checked the same way.

A variable that is set to something unusable is an error naming the variable, what it
accepts and what it got: a typo in a deployment should fail loudly, not fall back to a
default nobody chose. Unset or blank means the default.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import TypeVar

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

D = TypeVar("D", int, float, None)

MiB = 1024 * 1024
_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")  # longer is out of any range; int() refuses >4300
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB, "t": 1024 * 1024 * MiB}


def parse_size(raw: str) -> int:
    """``"8388608"``, ``"8M"``, ``"8MiB"``, ``"64k"`` -> bytes (binary units)."""
    match = _SIZE.fullmatch(raw) if len(raw) <= 40 else None
    if not match:
        raise ValueError(raw)
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _raw(name: str, env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get(name, "").strip()


def _refuse(
    name: str, kind: str, minimum: float, meaning: str, raw: str, bound: str = ">="
) -> FederateError:
    why = f" ({meaning})" if meaning else ""
    shown = raw if len(raw) <= 40 else f"{raw[:20]}...{raw[-10:]} ({len(raw)} characters)"
    limit = f" {bound} {minimum:g}" if math.isfinite(minimum) else ""
    return FederateError(
        f"{name} must be {kind}{limit}{why}, got {shown!r}",
        INVALID_PARAMETER_VALUE,
    )


def env_int(
    name: str, default: D, minimum: int, meaning: str = "", env: Mapping[str, str] | None = None
) -> int | D:
    """An integer of at least ``minimum`` from ``name``, else ``default``."""
    raw = _raw(name, env)
    if not raw:
        return default
    value = int(raw) if _INTEGER.fullmatch(raw) else minimum - 1
    if value < minimum:
        raise _refuse(name, "an integer", minimum, meaning, raw)
    return value


def env_float(
    name: str,
    default: D,
    minimum: float,
    meaning: str = "",
    env: Mapping[str, str] | None = None,
    *,
    above: bool = False,
) -> float | D:
    """A finite number of at least ``minimum`` (more than it, if ``above``: a timeout of
    0 would never wait) from ``name``, else ``default``."""
    raw = _raw(name, env)
    if not raw:
        return default
    try:
        value = float(raw) if len(raw) <= 100 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum or (above and value == minimum):
        raise _refuse(name, "a number", minimum, meaning, raw, ">" if above else ">=")
    return value


def env_size(name: str, default: int, minimum: int, env: Mapping[str, str] | None = None) -> int:
    """A size in bytes (``8388608``, ``8MiB``, ``512k``) of at least ``minimum``."""
    raw = _raw(name, env)
    if not raw:
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _refuse(name, "a size in bytes (e.g. 8388608, 8MiB, 512k)", minimum, "", raw)
    return value
