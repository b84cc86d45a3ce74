"""Fields of the JSON MLflow's registry messages carry, as Python values: shared by the
REST registries (Unity Catalog, an MLflow server), which speak the same protobuf-as-JSON.

Versions come as strings ("3"), timestamps as epoch milliseconds (strings or numbers),
tags as ``[{"key", "value"}]``; unknown fields are ignored, and a malformed field is the
server's fault, said as such.
"""

from __future__ import annotations

from typing import Any

from federate.errors import INTERNAL_ERROR, FederateError


def int_field(value: Any, default: int = 0) -> int:
    """An integer field (a timestamp), ``default`` when absent or malformed."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def tag_field(items: Any) -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` as ``{k: v}`` (items without a key dropped)."""
    if not isinstance(items, list):
        return {}
    return {
        str(t.get("key")): str(t.get("value") or "")
        for t in items
        if isinstance(t, dict) and t.get("key")
    }


def version_number(raw: Any, name: str) -> int:
    """The integer of a version as the wire carries it ("3")."""
    text = str(raw).strip() if raw is not None else ""
    if not text.isascii() or not text.isdigit():
        raise FederateError(
            f"The server answered a version of {name!r} that is not a number: {raw!r}",
            INTERNAL_ERROR,
        )
    return int(text)


def message(data: Any, field_name: str, name: str) -> dict[str, Any]:
    """``data`` if it is a JSON object, else the server's fault naming the field."""
    if not isinstance(data, dict):
        raise FederateError(
            f"The server answered without a {field_name} for {name!r}", INTERNAL_ERROR
        )
    return data
