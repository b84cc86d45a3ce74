"""Naming the third-party plugin whose repository or registry failed while in use.

The host remembers which plugin made each object a third-party factory returned (by
id, weakly: nothing is set on the object and nothing keeps it alive). When a public
call ends in an exception that is not a FederateError, :func:`plugin_failure` reads its
traceback for a method of such an object and, if one is there, makes it one PluginError
naming the package, the method and the error.

Nothing runs per method call: the engine calls a repository thousands of times per
download, and sees the repository's own exceptions, so its retries still recognise
transient ones. The traceback is read once, at the public boundary, on failure only.
Built-in plugins are not remembered: their messages stay as they are.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from federate.errors import FederateError, PluginError, describe
from federate.registry.base import Registry
from federate.repos.base import ArtifactRepository

if TYPE_CHECKING:
    from federate.plugins.manager import PluginInfo

F = TypeVar("F", bound=Callable[..., Any])

#: id of a live object a third-party factory returned -> the plugin that made it
_made_by: dict[int, PluginInfo] = {}

#: the contracts whose methods a failure is reported in (``ArtifactRepository.list``)
_CONTRACTS: tuple[type, ...] = (ArtifactRepository, Registry)


def remember(obj: object, info: PluginInfo) -> None:
    """Note that ``obj`` came from ``info``'s factory, for as long as ``obj`` lives."""
    key = id(obj)
    try:
        weakref.finalize(obj, _made_by.pop, key, None)
    except TypeError:
        return  # no weak references: its id could outlive it and name the wrong plugin
    _made_by[key] = info


def plugin_failure(err: BaseException) -> PluginError | None:
    """The PluginError for ``err`` if a third-party plugin's object raised it, else None."""
    if not _made_by or not isinstance(err, Exception) or isinstance(err, FederateError):
        return None
    frames = _frames(err.__traceback__)
    culprit = None
    for obj, _ in frames:
        if id(obj) in _made_by:
            culprit = obj  # the innermost one: a registry may fail inside a plugin's repo
    if culprit is None:
        return None
    info = _made_by[id(culprit)]
    contract = next((c for c in _CONTRACTS if isinstance(culprit, c)), type(culprit))
    names = [name for obj, name in frames if obj is culprit]
    # the innermost contract method: read_range, not the read_range_into that called it
    public = [n for n in names if not n.startswith("_") and hasattr(contract, n)]
    method = public[-1] if public else names[0]
    who = f"Plugin {info.package or info.name!r}" + (f" {info.version}" if info.version else "")
    return PluginError(
        f"{who} failed in {contract.__name__}.{method}: {describe(err)} — report this to "
        "the plugin's authors"
    )


def _frames(tb: TracebackType | None) -> list[tuple[object, str]]:
    """``(self, function name)`` of each method frame in ``tb``, outermost first."""
    frames = []
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None:
            frames.append((owner, tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    return frames


def names_failing_plugins(func: F) -> F:
    """Make a public call's plugin failures one PluginError, the original chained."""

    @functools.wraps(func)
    def public(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as err:
            failure = plugin_failure(err)
            if failure is None:
                raise
            raise failure from err

    return cast(F, public)
