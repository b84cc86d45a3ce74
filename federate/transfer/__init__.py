"""The download engine every repository feeds: parallel, ranged, verified, atomic, resumable.

``download(repo, dst)`` is the whole interface; :mod:`.settings` holds the knobs,
:mod:`.engine` the plan and the installation, :mod:`.fetch` one file's transfer,
:mod:`.checksums` verification, :mod:`.paths` local paths that stay inside their root,
:mod:`.staging` and :mod:`.resume` what survives an interrupted run.
"""

from federate.transfer.engine import download
from federate.transfer.paths import safe_relpath
from federate.transfer.settings import TransferSettings, max_workers

__all__ = ["TransferSettings", "download", "max_workers", "safe_relpath"]
