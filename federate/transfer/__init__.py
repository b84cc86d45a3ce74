"""The download engine every repository feeds: parallel, ranged, verified, atomic, resumable.

``download(repo, dst)`` is the whole interface; :mod:`.settings` holds the knobs,
:mod:`.engine` the plan and the installation, :mod:`.fetch` one file's transfer,
:mod:`.checksums` verification, :mod:`.staging` and :mod:`.resume` what survives an
interrupted run.
"""

from federate.transfer.engine import download, safe_relpath
from federate.transfer.settings import TransferSettings, max_workers

__all__ = ["TransferSettings", "download", "max_workers", "safe_relpath"]
