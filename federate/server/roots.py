"""Storage roots: where the files of a version created through the API go.

A schema's ``storage_root`` wins, then its catalog's, then the registry's artifact root;
the version gets ``<root>/models/<catalog.schema.model>/<version>`` (a suffixed sibling
if something already lives there). A root is checked when it is given: a URL of a store
federate can open, or an absolute path (kept as a ``file:`` URL).
"""

from __future__ import annotations

from pathlib import Path

from federate.server.endpoints import Call
from federate.server.errors import bad_request


def storage_url(location: str) -> str:
    """A location as a URL: local paths become ``file:`` URLs (what clients expect)."""
    from federate.plugins.manager import location_scheme

    if location_scheme(location) == "file" and not location.startswith("file:"):
        return Path(location).expanduser().resolve().as_uri()
    return location


def given_root(call: Call) -> str | None:
    """The request's ``storage_root``, checked; None when it sends none."""
    from federate.plugins.manager import get_plugin_host, location_scheme

    root = call.args.body_text("storage_root")
    if root is None or not root.strip():
        return None
    root = root.strip().rstrip("/")
    if location_scheme(root) == "file" and not root.startswith("file:"):
        # no ~ expansion: the client means no home directory of the server's
        if not Path(root).is_absolute():
            raise bad_request(
                f"storage_root {root!r} is a relative path: give an absolute path or a URL "
                "(file:, s3:, wasbs:, abfss:, gs: ...)"
            )
        root = storage_url(root)
    get_plugin_host().open_repo(root)  # an unknown scheme or a malformed URL: 400, named
    return root
