"""What a plugin must pass before federate calls it: API version, hook names, signatures.

Each check returns a sentence for the user (or None), so the host can report the
plugin as broken, naming its package, and carry on with the others.
"""

from __future__ import annotations

import inspect
import traceback
from typing import Any

import pluggy

from federate.plugins import hookspecs
from federate.plugins.hookspecs import (
    HOOK_API_VERSION,
    PLUGIN_API_ATTRIBUTE,
    SUPPORTED_API_VERSIONS,
)

#: The hooks a plugin may implement.
KNOWN_HOOKS: tuple[str, ...] = tuple(
    sorted(name for name in vars(hookspecs) if name.startswith("federate_"))
)


def _versions_text(versions: tuple[int, ...]) -> str:
    return " or ".join(str(v) for v in versions)


def declared_api(plugin: Any) -> tuple[int, ...] | None:
    """The plugin API versions a plugin declares it works with (None: it does not say).

    Raises ValueError when the declaration is not an int or a tuple/list of ints.
    """
    declared = getattr(plugin, PLUGIN_API_ATTRIBUTE, None)
    if declared is None:
        return None
    values = declared if isinstance(declared, (tuple, list, set, frozenset)) else (declared,)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(
            f"{PLUGIN_API_ATTRIBUTE} = {declared!r} is not a plugin API version; use an int "
            f"such as {HOOK_API_VERSION}, or a tuple of ints"
        )
    return tuple(sorted(values))


def api_problem(declared: tuple[int, ...] | None) -> str | None:
    """Why declared plugin API versions do not fit this federate, if they do not."""
    if declared is None or set(declared) & set(SUPPORTED_API_VERSIONS):
        return None
    return (
        f"needs federate plugin API {_versions_text(declared)}, but this federate provides "
        f"plugin API {_versions_text(SUPPORTED_API_VERSIONS)}; install a release of the "
        f"plugin made for API {HOOK_API_VERSION}, or a federate that provides API "
        f"{_versions_text(declared)}"
    )


def signature_problem(err: pluggy.PluginValidationError) -> str:
    """pluggy's multi-line validation message as one line a terminal shows whole."""
    return "invalid hook implementation: " + "; ".join(
        line.strip() for line in str(err).splitlines() if line.strip()
    )


def hook_problems(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    """Misspelt hooks, hook functions missing ``@hookimpl``, and plugins with no hooks."""
    problems = []
    callers = pm.get_hookcallers(plugin) or []
    unknown = sorted(caller.name for caller in callers if caller.spec is None)
    if unknown:
        import difflib  # only when a plugin names a hook that does not exist

        hints = [
            f"{name} -> {match[0]}"
            for name in unknown
            if (match := difflib.get_close_matches(name, KNOWN_HOOKS, n=1))
        ]
        did_you_mean = f"; did you mean {', '.join(hints)}?" if hints else ""
        problems.append(
            f"implements unknown hooks {unknown} (known hooks: {', '.join(KNOWN_HOOKS)})"
            f"{did_you_mean}"
        )
    unmarked = [
        name
        for name in KNOWN_HOOKS
        if inspect.isfunction(getattr(plugin, name, None))
        and pm.parse_hookimpl_opts(plugin, name) is None
    ]
    if unmarked:
        problems.append(
            f"defines {unmarked} without @hookimpl (from federate.plugins import hookimpl), "
            "so federate would never call them"
        )
    if not problems and not callers:
        problems.append(f"implements no federate hook (known hooks: {', '.join(KNOWN_HOOKS)})")
    return problems


def raised_where(err: BaseException) -> str:
    """``file.py:12`` of the innermost frame that raised, to point at the plugin's code."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno})"
