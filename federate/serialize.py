"""Records as JSON-ready values: the one place that decides what ``--json`` prints.

Every record federate hands out becomes a dict of plain values (str, int, float, bool,
None, lists, dicts with str keys) whose fields are its dataclass fields, documented in
README's "Command line" section and stable across releases: fields may be added, never
renamed or removed. Enums become their value, tuples lists, paths strings. A few records
add a derived field a script would otherwise compute (``download_uri`` of a version,
``variables`` of a prompt version) and :class:`~federate.entities.FileInfo` says ``size``
(its ``file_size``), as in a listing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from enum import Enum
from typing import Any

from federate.entities import FileInfo, ModelVersion, PromptVersion, Webhook
from federate.errors import redact

#: properties added to a record's fields, by type
_DERIVED: dict[type, tuple[str, ...]] = {
    ModelVersion: ("download_uri",),
    PromptVersion: ("variables",),
}


def to_json(obj: Any) -> Any:
    """``obj`` (a record, a list of them, a dict, a plain value) as JSON-ready values."""
    if isinstance(obj, Enum):
        return to_json(obj.value)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, FileInfo):
        return {
            "path": obj.path,
            "is_dir": obj.is_dir,
            "size": obj.file_size,
            "checksum": obj.checksum,
            "etag": obj.etag,
        }
    if isinstance(obj, Webhook):
        # never the signing secret (the record holds none), nor a token in the URL's
        # user-info or query: the URL as `webhooks list` shows it
        return to_json({**obj.to_dict(), "url": redact(obj.url)})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in _DERIVED.get(type(obj), ()):
            out[name] = to_json(getattr(obj, name))
        return out
    if isinstance(obj, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_json(item) for item in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} has no JSON form")
