"""Reading every page of a Unity Catalog list (version searches and lists, both dialects):
the items of each page until no ``next_page_token`` comes back, a page that is not a
list, or a server that never stops, said as the server's fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federate.errors import INTERNAL_ERROR, FederateError

#: pages read before a list is called endless (a server repeating its page token)
MAX_PAGES = 100_000


def every_item(fetch: Callable[[str | None], dict[str, Any]], key: str, what: str) -> list[Any]:
    """The ``key`` items of every page; ``fetch(page_token)`` reads one page."""
    found: list[Any] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        answer = fetch(token)
        page = answer.get(key) or []
        if not isinstance(page, list):
            raise FederateError(f"The workspace answered {what} without a list", INTERNAL_ERROR)
        found.extend(page)
        token = answer.get("next_page_token") or None
        if token is None or not page:
            return found
    raise FederateError(f"{what.capitalize()} did not end after {MAX_PAGES} pages", INTERNAL_ERROR)
