"""Test tools for federate and for authors of federate plugins.

Installed as a pytest plugin (entry point ``pytest11``), so its fixtures are available
in any test suite of an environment where federate is installed.
"""
