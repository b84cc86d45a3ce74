"""Which files of a source a partial download takes: ``path=``, ``include=``, ``exclude=``.

Every rule matches a file's POSIX path inside the source (the path it gets under the
destination). ``path`` is one file, or a directory whose files are all taken; ``include``
and ``exclude`` are glob patterns as huggingface_hub's ``allow_patterns`` and
``ignore_patterns`` read them (:func:`fnmatch.fnmatchcase`: ``*`` also crosses ``/``, a
pattern ending in ``/`` means everything below that directory). A file is taken when it
is under ``path`` (if given), matches an ``include`` pattern (if any) and matches no
``exclude`` pattern.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from federate.entities import FileInfo
from federate.errors import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, FederateError
from federate.transfer.paths import segment_problem

Patterns = str | Iterable[str] | None

#: how many of a source's paths a "nothing matches" error shows
_SHOWN = 10


def _patterns(value: Patterns, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise FederateError(
                f"{name}= takes glob patterns (non-empty strings such as 'weights/*' or "
                f"'*.json'), got {item!r}",
                INVALID_PARAMETER_VALUE,
            )
    # 'dir/' means everything below dir, as in huggingface_hub
    return tuple(p + "*" if p.endswith("/") else p for p in items)


@dataclass(frozen=True)
class Selection:
    """A partial download's rules; build it with :meth:`of`."""

    path: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, path: str | None = None, include: Patterns = None, exclude: Patterns = None
    ) -> Selection | None:
        """The selection, or None when nothing narrows the download (take everything).

        A ``path`` that is not a relative POSIX path of plain segments, and a pattern
        that is not a non-empty string, raise FederateError(INVALID_PARAMETER_VALUE)."""
        if path is not None:
            if not isinstance(path, str):
                raise FederateError(
                    f"path= is a file's path inside the source, e.g. 'config.json', got "
                    f"{type(path).__name__}",
                    INVALID_PARAMETER_VALUE,
                )
            trimmed = path[:-1] if path.endswith("/") and len(path) > 1 else path
            for segment in trimmed.split("/"):
                why = segment_problem(segment)
                if why is not None:
                    raise FederateError(
                        f"path={path!r} {why}; give a file's (or directory's) path inside "
                        "the source, relative and '/'-separated, e.g. 'config.json' or "
                        "'weights/model.bin'",
                        INVALID_PARAMETER_VALUE,
                    )
            path = trimmed
        selection = cls(path, _patterns(include, "include"), _patterns(exclude, "exclude"))
        return None if selection == cls() else selection

    def __call__(self, rel: str) -> bool:
        if self.path is not None and rel != self.path and not rel.startswith(self.path + "/"):
            return False
        if self.include and not any(fnmatch.fnmatchcase(rel, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(rel, p) for p in self.exclude)

    def describe(self) -> str:
        parts = [f"path={self.path!r}"] if self.path is not None else []
        parts += [f"include={list(self.include)!r}"] if self.include else []
        parts += [f"exclude={list(self.exclude)!r}"] if self.exclude else []
        return ", ".join(parts)

    def pick(self, listing: Iterable[FileInfo], source: str) -> list[FileInfo]:
        """The files of ``listing`` this selection takes (directories are left out);
        none raises FederateError(RESOURCE_DOES_NOT_EXIST) naming ``source``, the rules
        and some of the paths there are."""
        files = [info for info in listing if not info.is_dir]
        chosen = [info for info in files if self(info.path)]
        if not chosen:
            shown = ", ".join(sorted(info.path for info in files)[:_SHOWN]) or "none"
            more = f" ... ({len(files)} in all)" if len(files) > _SHOWN else ""
            raise FederateError(
                f"No file of {source} matches {self.describe()} (its files: {shown}{more})",
                RESOURCE_DOES_NOT_EXIST,
            )
        return chosen

    def one_file(self, chosen: list[str]) -> str | None:
        """The path ``path=`` named, when it named exactly one file of ``chosen``."""
        if self.path is not None and chosen == [self.path]:
            return self.path
        return None
