"""The whole contract between federate and its plugins, version :data:`HOOK_API_VERSION`.

A plugin is a module (or any object) with functions marked ``@hookimpl`` whose names
are the hooks below; it comes in through the entry-point group ``federate``. Built-in
registries and repositories implement the same hooks, marked ``trylast``, so a
third-party plugin is asked first and can replace any built-in scheme.

Why "describe" hooks rather than ``firstresult`` routing hooks such as
``federate_registry(uri)``: the host calls each hook once per process, the first time
a URI needs routing, and keeps every plugin's records. Routing is then a dictionary
lookup, ``federate plugins`` can list every scheme without opening anything, and two
plugins claiming one scheme are noticed at load time instead of shadowing each other
silently. Neither hook is ``firstresult``: all plugins' records are collected.

Compatibility: a plugin may declare the plugin API it was written for with a module
attribute ``FEDERATE_PLUGIN_API = 1`` (or a tuple of the versions it supports). A
plugin whose declaration does not include a version this federate provides is skipped
with a message saying which versions fit; the other plugins keep working. Adding a
hook, or an optional record field with a default, does not change the version;
changing a hook's arguments or a record's meaning does.
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

#: Every plugin API version this federate can load (a future federate may keep loading
#: plugins written for an older version).
SUPPORTED_API_VERSIONS: tuple[int, ...] = (HOOK_API_VERSION,)

#: The attribute of a plugin module declaring the plugin API version(s) it needs.
PLUGIN_API_ATTRIBUTE = "FEDERATE_PLUGIN_API"

hookspec = pluggy.HookspecMarker("federate")
hookimpl = pluggy.HookimplMarker("federate")


@hookspec
def federate_registries() -> Iterable[RegistryPlugin] | None:
    """Describe the registries this plugin provides.

    Called by the plugin host once per process, when a registry URI (``sqlite:///...``,
    ``index+s3://...``) first needs routing, and by ``federate plugins``. Not
    ``firstresult``: every plugin is asked. Must be cheap: import the registry's
    implementation (and any SDK) inside the record's factory, not here.

    :return: an iterable of :class:`federate.plugins.RegistryPlugin` records, or None.
        For each scheme the first plugin in call order wins (third-party plugins before
        built-ins; two third-party plugins: the name first in alphabetical order, with a
        warning naming both). A registry URI ``a+b://...`` is matched on ``a+b`` first,
        then ``a``. If the hook raises or returns something other than records, the
        plugin is reported as broken and its records are ignored.
    """


@hookspec
def federate_artifact_repos() -> Iterable[RepoPlugin] | None:
    """Describe the artifact repositories this plugin provides.

    Called by the plugin host once per process, when a storage location (``s3://...``,
    ``file://...`` or a plain path, which counts as ``file``) first needs routing, and
    by ``federate plugins``. Not ``firstresult``: every plugin is asked. Must be cheap:
    import the repository's implementation (and any SDK) inside the record's factory.

    :return: an iterable of :class:`federate.plugins.RepoPlugin` records, or None.
        Precedence and failures are handled as for :func:`federate_registries`; a
        location ``a+b://...`` is matched on ``a+b`` first, then ``a``.
    """
