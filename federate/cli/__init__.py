"""The ``federate`` command line (click). Entry point: :func:`main`."""

from federate.cli.root import cli, main

__all__ = ["cli", "main"]
