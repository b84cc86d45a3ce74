"""Bounds on a recursive listing, so a hostile or broken source cannot make it endless.

A directory index that links back into itself, or a tree deeper or larger than any model,
ends in one clear error instead of listing until memory or patience runs out:

- ``FEDERATE_MAX_LISTING_DEPTH`` (64): directory levels below the root;
- ``FEDERATE_MAX_LISTING_ENTRIES`` (1,000,000): files and directories in one listing.
"""

from __future__ import annotations

from federate.envvars import env_int
from federate.errors import INVALID_PARAMETER_VALUE, FederateError

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ENTRIES = 1_000_000


class ListingBudget:
    """What one recursive listing of ``source`` may still take; raises when it is spent."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.max_depth = env_int(
            "FEDERATE_MAX_LISTING_DEPTH", DEFAULT_MAX_DEPTH, 1, "directory levels listed"
        )
        self.max_entries = env_int(
            "FEDERATE_MAX_LISTING_ENTRIES", DEFAULT_MAX_ENTRIES, 1, "entries in one listing"
        )
        self.entries = 0

    def enter(self, depth: int, where: str) -> None:
        """About to list directory ``where``, ``depth`` levels below the root."""
        if depth > self.max_depth:
            raise FederateError(
                f"Listing {self.source} went more than {self.max_depth} directory levels deep "
                f"(at {where}); a directory that contains itself (a link loop) looks like "
                "this. Set FEDERATE_MAX_LISTING_DEPTH to allow deeper trees.",
                INVALID_PARAMETER_VALUE,
            )

    def take(self, count: int) -> None:
        """Account for ``count`` more entries."""
        self.entries += count
        if self.entries > self.max_entries:
            raise FederateError(
                f"Listing {self.source} found more than {self.max_entries:,} files and "
                "directories; federate stops there rather than list without end. Set "
                "FEDERATE_MAX_LISTING_ENTRIES to allow larger listings.",
                INVALID_PARAMETER_VALUE,
            )
