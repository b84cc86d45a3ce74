"""Capturing every log record of the process, to check that no secret reaches a log.

:func:`debug_logs` lowers the root logger to DEBUG (so every library's debug records are
made, as for a user who turned logging all the way up) and records what a handler an
application adds to the root logger would see: the records, and their formatted text
(tracebacks included). ``assert_hidden`` then fails naming the logger that showed a
secret; ``count`` shows a check is not vacuous (the library did log).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

#: Loggers of the emulators the tests run in-process (moto's server): not federate's output.
EMULATORS = ("werkzeug", "moto")


class _Keep(logging.Handler):
    def __init__(self, captured: CapturedLogs) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] in EMULATORS:
            return
        self.captured.records.append(record)
        self.captured.text.write(self.format(record) + "\n")


@dataclass
class CapturedLogs:
    records: list[logging.LogRecord] = field(default_factory=list)
    text: io.StringIO = field(default_factory=io.StringIO)

    def count(self, logger_prefix: str) -> int:
        """How many records came from ``logger_prefix`` or its children."""
        return sum(
            1
            for r in self.records
            if r.name == logger_prefix or r.name.startswith(logger_prefix + ".")
        )

    def assert_hidden(self, secrets: Iterable[str]) -> None:
        """No secret (nor its percent-encoded form) in any record's message or in the
        formatted output."""
        formatted = self.text.getvalue()
        for secret in secrets:
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                assert form not in formatted, f"a secret is in the log output: {form[:4]}..."
                for record in self.records:
                    assert form not in record.getMessage(), f"logger {record.name} shows a secret"


@contextmanager
def debug_logs() -> Iterator[CapturedLogs]:
    """Root at DEBUG and a root handler recording everything, both undone afterwards."""
    root = logging.getLogger()
    captured = CapturedLogs()
    handler = _Keep(captured)
    before = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
