"""The whole contract between federate and its plugins.

Every hook is prefixed ``federate_``. Built-in registries and repositories implement
these same hooks (marked ``trylast``), so a third-party plugin loaded from the
``federate`` entry-point group is asked first and can replace any built-in scheme.

The host calls each hook once per process, the first time a URI needs routing, and
collects every plugin's records; routing then picks, per scheme, the record of the
first plugin in call order (third-party plugins before built-ins).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from federate.plugins.types import RegistryPlugin, RepoPlugin

#: Version of this hook contract. Bumped on any incompatible change to a hook's
#: arguments or to the records hooks return.
HOOK_API_VERSION = 1

hookspec = pluggy.HookspecMarker("federate")
hookimpl = pluggy.HookimplMarker("federate")


@hookspec
def federate_registries() -> Iterable[RegistryPlugin] | None:
    """Describe the registries this plugin provides.

    Called by the plugin host once per process, when a registry URI (``sqlite:///...``,
    ``databricks-uc``, ...) first needs routing, and by ``federate plugins``.

    :return: an iterable of :class:`federate.plugins.RegistryPlugin` records, or None.
        All plugins' records are collected; for each scheme the first plugin in call
        order wins. A registry URI ``a+b://...`` is matched on ``a+b`` first, then ``a``.
    """


@hookspec
def federate_artifact_repos() -> Iterable[RepoPlugin] | None:
    """Describe the artifact repositories this plugin provides.

    Called by the plugin host once per process, when a storage location (``s3://...``,
    ``file://...`` or a plain path, which counts as ``file``) first needs routing, and
    by ``federate plugins``.

    :return: an iterable of :class:`federate.plugins.RepoPlugin` records, or None.
        All plugins' records are collected; for each scheme the first plugin in call
        order wins.
    """
