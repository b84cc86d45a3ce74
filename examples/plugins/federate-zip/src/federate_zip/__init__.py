"""federate-zip: a federate artifact repository for files inside zip archives.

``zip:///srv/models/fraud-2.zip!/model`` is the directory ``model/`` inside the archive
``/srv/models/fraud-2.zip``; without ``!/...`` it is the whole archive.

This module is what federate imports when it reads the ``federate`` entry points, so it
stays tiny: the repository itself (:mod:`federate_zip.repo`) is imported by the factory,
the first time a ``zip:`` location is opened.
"""

from __future__ import annotations

from federate.credentials import CredentialRefresher, ScopedCredentials
from federate.plugins import RepoPlugin, hookimpl
from federate.repos.base import ArtifactRepository

#: The federate plugin API this package is written for.
FEDERATE_PLUGIN_API = 1

__version__ = "0.1.0"


def open_zip_repository(
    location: str,
    credentials: ScopedCredentials | None = None,
    refresh: CredentialRefresher | None = None,
) -> ArtifactRepository:
    from federate_zip.repo import ZipArtifactRepository

    return ZipArtifactRepository(location, credentials, refresh)


@hookimpl
def federate_artifact_repos() -> list[RepoPlugin]:
    return [
        RepoPlugin(
            name="zip",
            schemes=("zip",),
            factory=open_zip_repository,
            description="Files inside a local zip archive: zip:///path/archive.zip!/prefix",
        )
    ]
