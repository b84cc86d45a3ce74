"""federate's plugin host: hook specifications, plugin records and the pluggy manager."""

from federate.plugins.hookspecs import hookimpl
from federate.plugins.types import RegistryPlugin, RepoPlugin

__all__ = ["hookimpl", "RegistryPlugin", "RepoPlugin"]
