"""Run gcp-storage-emulator for tests: in memory, on 127.0.0.1, on a port the OS picks.

Started as a script by :mod:`federate.testing.gcs` (it imports nothing from federate, so
it runs the same whether federate is installed or checked out). It prints the port on
its first stdout line and serves until its stdin closes, so it never outlives the test
run that started it.

The emulator returns every listing in one response: it ignores ``maxResults`` and
``pageToken``. Real GCS returns at most 1,000 entries (items and prefixes together) per
page with a ``nextPageToken``, and federate follows those tokens, so this script pages
the emulator's listings the way GCS does; without that no test could reach the
repository's pagination.

It also re-serialises its whole object index as indented JSON after every write, even in
memory where nothing reads that copy back (it is read once, at start-up, to resume from
disk): 3 ms per upload in an empty bucket, 20 ms with 1,000 objects, so the 1,000-key
listing tests would spend most of their time there. In memory, this script skips it.
Nothing else of the emulator is changed.
"""

from __future__ import annotations

import base64
import http.server
import json
import sys
from http import HTTPStatus
from typing import Any

#: GCS's own ceiling for ``maxResults``.
MAX_PAGE = 1000


def _page(listing: dict[str, Any], max_results: int, token: str | None) -> dict[str, Any]:
    """One GCS-style page of a full listing: entries sorted by name, after ``token``."""
    entries = [(obj["name"], "items", obj) for obj in listing.get("items") or []]
    entries += [(prefix, "prefixes", prefix) for prefix in listing.get("prefixes") or []]
    entries.sort(key=lambda entry: entry[0])
    if token:
        after = base64.urlsafe_b64decode(token.encode()).decode()
        entries = [entry for entry in entries if entry[0] > after]
    page, rest = entries[:max_results], entries[max_results:]
    out: dict[str, Any] = {"kind": "storage#objects", "items": [], "prefixes": []}
    for _name, kind, value in page:
        out[kind].append(value)
    if rest:
        out["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
    return out


def _install_paging() -> None:
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    emulator_ls = objects.ls

    def paged_ls(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
        emulator_ls(request, response, storage, *args, **kwargs)
        if response.status != HTTPStatus.OK:
            return
        query = request.query
        max_results = min(int((query.get("maxResults") or [MAX_PAGE])[0]), MAX_PAGE)
        token = (query.get("pageToken") or [None])[0]
        response.json(_page(json.loads(response._content), max(max_results, 1), token))

    for _pattern, handlers in server.HANDLERS:
        if handlers.get("GET") is emulator_ls:
            handlers["GET"] = paged_ls


def _skip_index_dumps() -> None:
    from gcp_storage_emulator.storage import Storage

    Storage._write_config_to_file = lambda self: None  # type: ignore[method-assign]


def main() -> None:
    from gcp_storage_emulator.server import create_server

    # The emulator serves one request at a time; a deeper accept queue keeps a burst of
    # parallel downloads waiting for their turn instead of retrying refused connections.
    http.server.HTTPServer.request_queue_size = 128
    _install_paging()
    _skip_index_dumps()
    emulator = create_server("127.0.0.1", 0, in_memory=True)
    emulator.start()
    try:
        port = emulator._api._httpd.server_address[1]
        print(port, flush=True)
        sys.stdin.read()  # returns when the parent closes our stdin or dies
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
