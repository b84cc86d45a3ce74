"""Artifact repositories: where a version's bytes live (local disk, S3, Azure, GCS, HTTPS)."""

from federate.repos.base import ArtifactRepository

__all__ = ["ArtifactRepository"]
