"""Reading an HTML directory index (nginx ``autoindex``, Apache, ``python -m http.server``).

Each link below the directory is an entry; a trailing ``/`` makes it a directory. nginx
(and Apache for files under 1 KiB) print the exact size in bytes after the date: that
size is kept, so a small file needs no ``HEAD`` of its own before it is fetched (the
``GET``'s ``Content-Length`` must then agree with it). Rounded sizes (``16K``) and
indexes without sizes give ``None``: the repository asks the server instead.

A recursive listing reads one page per directory: :class:`IndexWalk` bounds it
(:mod:`federate.repos.listing`) and refuses an index that leads back to a page already
read (a directory link redirecting to its parent), which would otherwise be listed forever.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin

from federate.errors import INVALID_PARAMETER_VALUE, FederateError, redact
from federate.repos.listing import ListingBudget

# "23-Nov-2026 11:11    16384" (nginx) or "2026-11-23 11:11  612" (Apache), then nothing
_DATE_SIZE = re.compile(
    r"(?:\d{1,2}-[A-Za-z]{3}-\d{4}|\d{4}-\d{2}-\d{2})\s+\d{1,2}:\d{2}(?::\d{2})?\s+(\d+)\s*$"
)


# a relative link to an entry of this directory, nothing to resolve
_SIMPLE = re.compile(r"[^/:?#.][^/:?#]*/?")


class _Links(HTMLParser):
    """Hrefs of ``<a>`` tags, each with the text that follows it up to the next link."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[list[str]] = []  # [href, text after the link]
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            self._inside = bool(href)
            if href:
                self.links.append([href, ""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self.links and not self._inside:
            self.links[-1][1] += data


def _listed_size(text: str) -> int | None:
    line = next((line for line in text.splitlines() if line.strip()), "")
    match = _DATE_SIZE.search(line.replace("\xa0", " "))
    return int(match.group(1)) if match else None


def parse_index(page: str, base: str) -> list[tuple[str, bool, int | None]]:
    """``(name, is_dir, size or None)`` for the entries of the index at ``base``, sorted."""
    parser = _Links()
    parser.feed(page)
    entries: dict[str, tuple[bool, int | None]] = {}
    for href, after in parser.links:
        if _SIMPLE.fullmatch(href):
            target = base + href  # "name" or "name/", as autoindex writes them: no urljoin
        else:
            target = urljoin(base, href).split("?", 1)[0].split("#", 1)[0]
        if not target.startswith(base) or target == base:
            continue  # parent links, sort links, other sites
        rest = target[len(base) :]
        is_dir = rest.endswith("/")
        name = unquote(rest.rstrip("/"))
        if "\x00" in name:
            raise FederateError(
                f"The directory index at {redact(base)} lists an entry whose name holds a NUL "
                f"character ({name!r}); names of files to download cannot contain one",
                INVALID_PARAMETER_VALUE,
            )
        if name and "/" not in name and name not in (".", ".."):
            entries[name] = (is_dir, None if is_dir else _listed_size(after))
    return [(name, d, size) for name, (d, size) in sorted(entries.items())]


class IndexWalk:
    """The index pages one recursive listing has read, and what it may still read."""

    def __init__(self, root_url: str) -> None:
        self.budget = ListingBudget(redact(root_url))
        self._seen: dict[str, str] = {}  # page URL (after redirects) -> directory listed

    def level(self, depth: int, first_path: str) -> None:
        """About to read the pages of directories ``depth`` levels below the root."""
        self.budget.enter(depth, first_path or "/")

    def page(self, path: str, page_url: str, entries: int) -> None:
        """Directory ``path`` was read from ``page_url`` and listed ``entries`` entries."""
        key = page_url.split("?", 1)[0].split("#", 1)[0]
        first = self._seen.setdefault(key, path)
        if first != path:
            raise FederateError(
                f"The directory index at {redact(page_url)} was reached again, listing "
                f"{path or '/'!r} after {first or '/'!r}: the index loops back on itself "
                "(a link or redirect to a directory above), so its listing would never end",
                INVALID_PARAMETER_VALUE,
            )
        self.budget.take(entries)
