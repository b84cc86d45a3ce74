"""Walk a paged search to its end, the way a caller holding page tokens does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_PAGES = 1000


def all_pages(search: Callable[..., Any], **kwargs: Any) -> list[list[Any]]:
    """Every page of ``search(**kwargs)``, following ``.token`` until it is None.

    Fails if the tokens never run out (a search that pages forever).
    """
    pages: list[list[Any]] = []
    token = None
    while True:
        page = search(page_token=token, **kwargs)
        pages.append(list(page))
        token = page.token
        if token is None:
            return pages
        if len(pages) >= MAX_PAGES:
            raise AssertionError(f"page tokens never run out after {MAX_PAGES} pages")
