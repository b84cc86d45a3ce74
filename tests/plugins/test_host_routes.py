"""Repository claims narrowed to hosts (``https://*.blob.core.windows.net``) beside plain ones."""

from __future__ import annotations

import sys
import types

import pytest

from federate.plugins.hookspecs import hookimpl
from federate.plugins.manager import BUILTIN_PLUGINS, get_plugin_host, reset_plugin_host
from federate.plugins.types import RepoPlugin


def _factory(*args):  # never called: these tests only route
    raise AssertionError("not opened")


def install(monkeypatch: pytest.MonkeyPatch, name: str, *records: RepoPlugin) -> None:
    """Load a plugin module returning ``records``, asked before the built-ins."""
    module = types.ModuleType(f"federate_test_{name.replace('-', '_')}")

    @hookimpl
    def federate_artifact_repos():
        return list(records)

    module.federate_artifact_repos = federate_artifact_repos  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(BUILTIN_PLUGINS, name, module.__name__)


def test_a_host_claim_wins_over_a_scheme_wide_claim_whoever_asks_first(federate_home, monkeypatch):
    install(monkeypatch, "all-https", RepoPlugin("all-https", ("https",), _factory))
    reset_plugin_host()
    host = get_plugin_host()
    assert host.repo_plugin("https://acct.blob.core.windows.net/c/p")[0].name == "azure-https"
    assert host.repo_plugin("https://ACCT.BLOB.core.windows.net/c/p")[0].name == "azure-https"
    assert host.repo_plugin("https://example.com/c/p")[0].name == "all-https"
    assert host.repo_plugin("https://blob.core.windows.net.example.com/p")[0].name == "all-https"
    assert "https://*.blob.core.windows.net" in host.infos["azure"].repo_schemes


def test_the_longest_matching_host_wins_and_an_earlier_plugin_can_replace_a_host_claim(
    federate_home, monkeypatch
):
    install(
        monkeypatch,
        "corp",
        RepoPlugin("corp-eu", ("https",), _factory, hosts=("eu.corp.example",)),
        RepoPlugin("corp", ("https",), _factory, hosts=("corp.example",)),
        RepoPlugin("corp-blob", ("https",), _factory, hosts=("blob.core.windows.net",)),
    )
    reset_plugin_host()
    host = get_plugin_host()
    assert host.repo_plugin("https://a.eu.corp.example/x")[0].name == "corp-eu"
    assert host.repo_plugin("https://a.us.corp.example/x")[0].name == "corp"
    assert host.repo_plugin("https://corp.example/x")[0].name == "corp"
    assert host.repo_plugin("https://acct.blob.core.windows.net/c/p")[0].name == "corp-blob"
    # other hosts fall through to the scheme-wide claim (the built-in HTTP repository)
    assert host.repo_plugin("https://example.org/x")[1].name == "http"


@pytest.mark.parametrize("hosts", [".blob.core.windows.net", ("Blob.Core",), ("a b",), ("",)])
def test_malformed_hosts_are_refused_when_the_record_is_made(hosts):
    with pytest.raises(ValueError, match="hosts must be a tuple of lowercase host names"):
        RepoPlugin("x", ("https",), _factory, hosts=hosts)


def _opened(name):  # type: ignore[no-untyped-def]
    def factory(location, credentials, refresh):  # type: ignore[no-untyped-def]
        return (name, location, credentials)

    return factory


def test_credentials_of_a_claimed_kind_route_past_the_location_scheme(federate_home, monkeypatch):
    from federate.credentials import ScopedCredentials

    install(
        monkeypatch,
        "tokens",
        RepoPlugin("token-store", ("tok",), _opened("token-store"), credential_kinds=("ticket",)),
        RepoPlugin("all-s3", ("s3",), _opened("all-s3")),
    )
    reset_plugin_host()
    host = get_plugin_host()
    ticket = ScopedCredentials("ticket", {"t": "x"})
    assert host.open_repo("s3://b/k", ticket)[0] == "token-store"
    assert host.open_repo("s3://b/k", ScopedCredentials("aws_session", {}))[0] == "all-s3"
    assert host.open_repo("s3://b/k")[0] == "all-s3"
    assert "credentials:ticket" in host.infos["tokens"].repo_schemes
    # the built-in presigned repository claims presigned URL sets the same way
    assert "credentials:presigned_urls" in host.infos["presigned"].repo_schemes


@pytest.mark.parametrize("kinds", ["presigned_urls", ("Presigned",), ("a b",), ("",)])
def test_malformed_credential_kinds_are_refused_when_the_record_is_made(kinds):
    with pytest.raises(ValueError, match="credential_kinds must be a tuple of lowercase names"):
        RepoPlugin("x", ("https",), _factory, credential_kinds=kinds)
