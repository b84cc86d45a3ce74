"""Which registry a call uses (federate.config): the registry-URI precedence chain,
artifact roots, federate.toml profiles and their errors.

Precedence, first to last: explicit argument > set_registry_uri() > FEDERATE_REGISTRY_URI
> ./federate.toml > <user config dir>/federate.toml > sqlite:///$FEDERATE_HOME/registry.db.
A profile (``models://<profile>/...``) beats all of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pytest

import federate
from federate import config
from federate.config import RegistryConfig, registry_config


@dataclass
class Env:
    tmp: Path
    home: Path  # $HOME
    fed_home: Path  # $FEDERATE_HOME
    xdg: Path  # $XDG_CONFIG_HOME
    cwd: Path  # the current directory

    @property
    def cwd_toml(self) -> Path:
        return self.cwd / "federate.toml"

    @property
    def user_toml(self) -> Path:
        return self.xdg / "federate" / "federate.toml"

    def write_cwd(self, text: str) -> Path:
        self.cwd_toml.write_text(text, encoding="utf-8")
        return self.cwd_toml

    def write_user(self, text: str) -> Path:
        self.user_toml.parent.mkdir(parents=True, exist_ok=True)
        self.user_toml.write_text(text, encoding="utf-8")
        return self.user_toml

    def default_uri(self) -> str:
        return f"sqlite:///{(self.fed_home / 'registry.db').resolve()}"

    def default_artifacts(self) -> str:
        return str((self.fed_home / "artifacts").resolve())


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Every test: fresh HOME, FEDERATE_HOME, XDG_CONFIG_HOME and cwd; no env overrides."""
    home, fed_home, xdg, cwd = (tmp_path / d for d in ("home", "fed-home", "xdg", "cwd"))
    for d in (home, xdg, cwd):
        d.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FEDERATE_HOME", str(fed_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("FEDERATE_REGISTRY_URI", raising=False)
    monkeypatch.delenv("FEDERATE_ARTIFACT_ROOT", raising=False)
    monkeypatch.chdir(cwd)
    config.set_registry_uri(None)
    config._toml_cache.clear()
    # Path.cwd() is what federate sees; use it so paths in messages compare equal
    yield Env(tmp_path, home, fed_home, xdg, Path.cwd())
    config.set_registry_uri(None)
    config._toml_cache.clear()


def same_file(a: str | Path, b: str | Path) -> bool:
    return os.path.samefile(a, b)


# --------------------------------------------------------------------------- isolation


@pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="platformdirs uses XDG only on Linux/BSD"
)
def test_platformdirs_honours_xdg_config_home(env: Env) -> None:
    assert Path(platformdirs.user_config_dir("federate")) == env.xdg / "federate"
    assert config.config_paths() == [env.cwd_toml, env.user_toml]


# --------------------------------------------------------------------------- embedded default


def test_default_is_sqlite_under_federate_home(env: Env) -> None:
    cfg = registry_config()
    assert cfg.uri == f"sqlite:///{env.fed_home.resolve()}/registry.db"
    assert cfg.uri.startswith("sqlite:////")  # SQLAlchemy's absolute-path form
    assert cfg.artifact_root == str(env.fed_home.resolve() / "artifacts")
    assert (cfg.source, cfg.profile) == ("default", None)
    assert federate.get_registry_uri() == cfg.uri


@pytest.mark.parametrize("unset", ["delete", "empty"])
def test_federate_home_defaults_to_dot_federate_in_home(
    env: Env, monkeypatch: pytest.MonkeyPatch, unset: str
) -> None:
    if unset == "delete":
        monkeypatch.delenv("FEDERATE_HOME")
    else:
        monkeypatch.setenv("FEDERATE_HOME", "")
    cfg = registry_config()
    assert cfg.uri == f"sqlite:///{(env.home / '.federate' / 'registry.db').resolve()}"
    assert cfg.artifact_root == str((env.home / ".federate" / "artifacts").resolve())


def test_federate_home_expands_tilde(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_HOME", "~/fh")
    assert federate.get_registry_uri() == f"sqlite:///{(env.home / 'fh').resolve()}/registry.db"


def test_relative_federate_home_is_made_absolute(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_HOME", "rel-home")
    cfg = registry_config()
    assert cfg.uri == f"sqlite:///{env.cwd / 'rel-home' / 'registry.db'}"
    assert cfg.artifact_root == str(env.cwd / "rel-home" / "artifacts")


def test_relative_federate_home_follows_the_current_directory(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDERATE_HOME", "rel-home")
    assert federate.get_registry_uri() == f"sqlite:///{env.cwd / 'rel-home' / 'registry.db'}"
    other = env.tmp / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    cfg = registry_config()
    assert cfg.uri == f"sqlite:///{Path.cwd() / 'rel-home' / 'registry.db'}"
    assert cfg.artifact_root == str(Path.cwd() / "rel-home" / "artifacts")


# --------------------------------------------------------------------------- precedence chain

LAYERS = ["argument", "set_registry_uri", "env", "cwd", "user", "default"]


def _enable_layers_from(top: str, env: Env, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Configure ``top`` and every layer below it; return the argument to pass (if any)."""
    below = LAYERS[LAYERS.index(top) :]
    if "user" in below:
        env.write_user('[registries.default]\nuri = "sqlite:///user.db"\n')
    if "cwd" in below:
        env.write_cwd('[registries.default]\nuri = "sqlite:///cwd.db"\n')
    if "env" in below:
        monkeypatch.setenv("FEDERATE_REGISTRY_URI", "sqlite:///env.db")
    if "set_registry_uri" in below:
        federate.set_registry_uri("sqlite:///session.db")
    return "sqlite:///arg.db" if "argument" in below else None


def _expected(top: str, env: Env) -> tuple[str, str, str | None]:
    """(uri, source, profile) the chain must pick when ``top`` is the highest layer set."""
    return {
        "argument": ("sqlite:///arg.db", "argument", None),
        "set_registry_uri": ("sqlite:///session.db", "set_registry_uri", None),
        "env": ("sqlite:///env.db", "FEDERATE_REGISTRY_URI", None),
        "cwd": ("sqlite:///cwd.db", str(env.cwd_toml), "default"),
        "user": ("sqlite:///user.db", str(env.user_toml), "default"),
        "default": (env.default_uri(), "default", None),
    }[top]


@pytest.mark.parametrize("top", LAYERS)
def test_highest_configured_layer_wins(env: Env, monkeypatch: pytest.MonkeyPatch, top: str) -> None:
    arg = _enable_layers_from(top, env, monkeypatch)
    cfg = registry_config(arg)
    uri, source, profile = _expected(top, env)
    assert (cfg.uri, cfg.profile) == (uri, profile)
    if source in (str(env.cwd_toml), str(env.user_toml)):
        assert same_file(cfg.source, source)
    else:
        assert cfg.source == source


@pytest.mark.parametrize("top", LAYERS)
def test_each_layer_alone_is_used(env: Env, monkeypatch: pytest.MonkeyPatch, top: str) -> None:
    # only this layer configured: proves no layer is ignored
    arg = None
    if top == "argument":
        arg = "sqlite:///arg.db"
    elif top == "set_registry_uri":
        federate.set_registry_uri("sqlite:///session.db")
    elif top == "env":
        monkeypatch.setenv("FEDERATE_REGISTRY_URI", "sqlite:///env.db")
    elif top == "cwd":
        env.write_cwd('[registries.default]\nuri = "sqlite:///cwd.db"\n')
    elif top == "user":
        env.write_user('[registries.default]\nuri = "sqlite:///user.db"\n')
    assert registry_config(arg).uri == _expected(top, env)[0]


@pytest.mark.parametrize("top", LAYERS[1:])
def test_get_registry_uri_follows_the_chain(
    env: Env, monkeypatch: pytest.MonkeyPatch, top: str
) -> None:
    _enable_layers_from(top, env, monkeypatch)
    assert federate.get_registry_uri() == _expected(top, env)[0]


def test_profile_beats_every_other_source(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.write_cwd(
        'default_registry = "other"\n'
        '[registries.prod]\nuri = "sqlite:///prod.db"\n'
        '[registries.other]\nuri = "sqlite:///other.db"\n'
    )
    monkeypatch.setenv("FEDERATE_REGISTRY_URI", "sqlite:///env.db")
    federate.set_registry_uri("sqlite:///session.db")
    cfg = registry_config("sqlite:///arg.db", profile="prod")
    assert (cfg.uri, cfg.profile) == ("sqlite:///prod.db", "prod")
    assert same_file(cfg.source, env.cwd_toml)


def test_set_registry_uri_none_or_empty_clears_it(env: Env) -> None:
    federate.set_registry_uri("sqlite:///session.db")
    assert federate.get_registry_uri() == "sqlite:///session.db"
    federate.set_registry_uri(None)
    assert federate.get_registry_uri() == env.default_uri()
    federate.set_registry_uri("sqlite:///session.db")
    federate.set_registry_uri("")
    assert registry_config().source == "default"


@pytest.mark.parametrize("value", [3, b"sqlite:///x.db", Path("/x.db")])
def test_set_registry_uri_rejects_non_strings(env: Env, value: object) -> None:
    with pytest.raises(federate.FederateError) as info:
        federate.set_registry_uri(value)  # type: ignore[arg-type]
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert type(value).__name__ in str(info.value)
    assert federate.get_registry_uri() == env.default_uri()  # nothing was set


def test_empty_env_var_and_empty_argument_are_ignored(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDERATE_REGISTRY_URI", "")
    env.write_cwd('[registries.default]\nuri = "sqlite:///cwd.db"\n')
    cfg = registry_config("")
    assert cfg.uri == "sqlite:///cwd.db"


def test_explicit_argument_does_not_pick_up_toml_artifact_root(env: Env) -> None:
    # the [registries.default] table describes a different registry than the argument
    env.write_cwd('[registries.default]\nuri = "sqlite:///cwd.db"\nartifact_root = "s3://b/r"\n')
    cfg = registry_config("sqlite:///arg.db")
    assert cfg.artifact_root == env.default_artifacts()
    assert cfg.options == {}


# --------------------------------------------------------------------------- artifact root


@pytest.mark.parametrize("with_env", [True, False], ids=["env", "no-env"])
@pytest.mark.parametrize("with_table", [True, False], ids=["table", "no-table"])
def test_artifact_root_precedence(
    env: Env, monkeypatch: pytest.MonkeyPatch, with_env: bool, with_table: bool
) -> None:
    root_line = 'artifact_root = "s3://bucket/table-root"\n' if with_table else ""
    env.write_cwd(f'[registries.prod]\nuri = "sqlite:///prod.db"\n{root_line}')
    if with_env:
        monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", "gs://env/root")
    expected = (
        "gs://env/root"
        if with_env
        else "s3://bucket/table-root"
        if with_table
        else env.default_artifacts()
    )
    assert registry_config(profile="prod").artifact_root == expected


@pytest.mark.parametrize("source", ["argument", "set_registry_uri", "env", "default"])
def test_artifact_root_env_applies_to_non_profile_sources(
    env: Env, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", "/env/artifacts")
    arg = None
    if source == "argument":
        arg = "sqlite:///arg.db"
    elif source == "set_registry_uri":
        federate.set_registry_uri("sqlite:///s.db")
    elif source == "env":
        monkeypatch.setenv("FEDERATE_REGISTRY_URI", "sqlite:///env.db")
    cfg = registry_config(arg)
    assert cfg.artifact_root == "/env/artifacts"
    monkeypatch.delenv("FEDERATE_ARTIFACT_ROOT")
    assert registry_config(arg).artifact_root == env.default_artifacts()


def test_empty_artifact_root_env_is_ignored(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATE_ARTIFACT_ROOT", "")
    env.write_cwd('[registries.default]\nuri = "sqlite:///d.db"\nartifact_root = "/t"\n')
    assert registry_config().artifact_root == "/t"


# --------------------------------------------------------------------------- default profile


def test_registries_default_table_is_the_default(env: Env) -> None:
    path = env.write_cwd(
        '[registries.default]\nuri = "postgresql://db/fed"\nartifact_root = "s3://b/fed"\n'
    )
    cfg = registry_config()
    assert (cfg.uri, cfg.artifact_root, cfg.profile) == (
        "postgresql://db/fed",
        "s3://b/fed",
        "default",
    )
    assert same_file(cfg.source, path)


def test_default_registry_key_selects_a_profile(env: Env) -> None:
    path = env.write_cwd(
        'default_registry = "prod"\n'
        '[registries.prod]\nuri = "postgresql://prod/fed"\nartifact_root = "s3://prod"\n'
        "plugin_option = 7\n"
        '[registries.staging]\nuri = "postgresql://staging/fed"\n'
    )
    cfg = registry_config()
    assert (cfg.uri, cfg.artifact_root, cfg.profile) == (
        "postgresql://prod/fed",
        "s3://prod",
        "prod",
    )
    assert same_file(cfg.source, path)
    assert cfg.options["plugin_option"] == 7
    assert federate.get_registry_uri() == "postgresql://prod/fed"


def test_default_registry_key_beats_a_default_table(env: Env) -> None:
    env.write_cwd(
        'default_registry = "prod"\n'
        '[registries.default]\nuri = "sqlite:///default.db"\n'
        '[registries.prod]\nuri = "sqlite:///prod.db"\n'
    )
    assert registry_config().uri == "sqlite:///prod.db"


def test_named_profiles_alone_do_not_replace_the_embedded_default(env: Env) -> None:
    env.write_cwd('[registries.prod]\nuri = "sqlite:///prod.db"\n')
    env.write_user('[registries.staging]\nuri = "sqlite:///staging.db"\n')
    cfg = registry_config()
    assert (cfg.uri, cfg.source, cfg.profile) == (env.default_uri(), "default", None)


def test_default_registry_may_name_a_profile_from_the_other_file(env: Env) -> None:
    env.write_user('[registries.prod]\nuri = "sqlite:///prod.db"\n')
    env.write_cwd('default_registry = "prod"\n')
    cfg = registry_config()
    assert (cfg.uri, cfg.profile) == ("sqlite:///prod.db", "prod")
    assert same_file(cfg.source, env.user_toml)


def test_cwd_default_registry_overrides_user_default_registry(env: Env) -> None:
    env.write_user(
        'default_registry = "a"\n'
        '[registries.a]\nuri = "sqlite:///a.db"\n'
        '[registries.b]\nuri = "sqlite:///b.db"\n'
    )
    env.write_cwd('default_registry = "b"\n')
    assert registry_config().uri == "sqlite:///b.db"


def test_user_default_registry_applies_when_cwd_file_has_none(env: Env) -> None:
    env.write_user('default_registry = "a"\n[registries.a]\nuri = "sqlite:///a.db"\n')
    env.write_cwd('[registries.b]\nuri = "sqlite:///b.db"\n')
    assert registry_config().uri == "sqlite:///a.db"


def test_default_registry_naming_a_missing_profile_is_an_error(env: Env) -> None:
    env.write_cwd('default_registry = "prod"\n[registries.staging]\nuri = "sqlite:///s.db"\n')
    with pytest.raises(federate.FederateError) as info:
        registry_config()
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "'prod'" in str(info.value)
    assert "staging" in str(info.value)


@pytest.mark.parametrize("value", ["3", "true", '""', '["prod"]'])
def test_default_registry_that_is_not_a_profile_name_is_an_error(env: Env, value: str) -> None:
    path = env.write_cwd(f'default_registry = {value}\n[registries.prod]\nuri = "sqlite:///p.db"\n')
    with pytest.raises(federate.FederateError) as info:
        registry_config()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(path) in str(info.value) and "default_registry must name a profile" in str(
        info.value
    )


# --------------------------------------------------------------------------- named profiles


def test_profile_returns_its_table(env: Env) -> None:
    path = env.write_user(
        '[registries.prod]\nuri = "postgresql+psycopg://registry.internal/federate"\n'
        'artifact_root = "s3://models-bucket/federate"\nregion = "eu-west-1"\n'
    )
    cfg = registry_config(profile="prod")
    assert isinstance(cfg, RegistryConfig)
    assert cfg.uri == "postgresql+psycopg://registry.internal/federate"
    assert cfg.artifact_root == "s3://models-bucket/federate"
    assert cfg.profile == "prod"
    assert same_file(cfg.source, path)
    assert cfg.options == {
        "uri": "postgresql+psycopg://registry.internal/federate",
        "artifact_root": "s3://models-bucket/federate",
        "region": "eu-west-1",
    }


def test_cwd_profile_wins_over_user_profile_of_same_name(env: Env) -> None:
    env.write_user(
        '[registries.prod]\nuri = "sqlite:///user-prod.db"\nartifact_root = "s3://user"\n'
        '[registries.staging]\nuri = "sqlite:///user-staging.db"\n'
    )
    env.write_cwd('[registries.prod]\nuri = "sqlite:///cwd-prod.db"\n')

    prod = registry_config(profile="prod")
    assert prod.uri == "sqlite:///cwd-prod.db"
    assert same_file(prod.source, env.cwd_toml)
    # the nearer table replaces the farther one whole; keys are not merged
    assert prod.artifact_root == env.default_artifacts()
    assert "artifact_root" not in prod.options

    # profiles only in the user file are still available
    staging = registry_config(profile="staging")
    assert staging.uri == "sqlite:///user-staging.db"
    assert same_file(staging.source, env.user_toml)


def test_profile_names_may_be_quoted_keys(env: Env) -> None:
    env.write_cwd('[registries."my prof"]\nuri = "sqlite:///mine.db"\n')
    profile = federate.parse_uri("models://my%20prof/m/1").profile
    assert registry_config(profile=profile).uri == "sqlite:///mine.db"


def test_options_are_a_copy(env: Env) -> None:
    env.write_cwd('[registries.prod]\nuri = "sqlite:///prod.db"\n')
    registry_config(profile="prod").options["uri"] = "tampered"
    assert registry_config(profile="prod").options["uri"] == "sqlite:///prod.db"
    assert registry_config(profile="prod").uri == "sqlite:///prod.db"


@pytest.mark.parametrize("configured", [True, False], ids=["with-profiles", "no-config"])
def test_unknown_profile(env: Env, configured: bool) -> None:
    if configured:
        env.write_cwd('[registries.beta]\nuri = "sqlite:///b.db"\n')
        env.write_user('[registries.alpha]\nuri = "sqlite:///a.db"\n')
    with pytest.raises(federate.FederateError) as info:
        registry_config(profile="nope")
    err = info.value
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert err.http_status == 404
    msg = str(err)
    assert "'nope'" in msg
    assert "[registries.nope]" in msg
    if configured:
        assert "alpha, beta" in msg
    else:
        assert "configured profiles: none" in msg
    assert str(env.cwd_toml) in msg and str(env.user_toml) in msg  # where it looked


# --------------------------------------------------------------------------- broken files


@pytest.mark.parametrize("where", ["cwd", "user"])
@pytest.mark.parametrize("call", ["default", "profile", "get_registry_uri"])
def test_malformed_toml_is_invalid_parameter_naming_the_file(
    env: Env, where: str, call: str
) -> None:
    path = (env.write_cwd if where == "cwd" else env.write_user)("[registries.prod\nuri = 1\n")
    with pytest.raises(federate.FederateError) as info:
        if call == "default":
            registry_config()
        elif call == "profile":
            registry_config(profile="prod")
        else:
            federate.get_registry_uri()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.http_status == 400
    assert str(path) in str(info.value)


def test_non_utf8_toml_is_invalid_parameter(env: Env) -> None:
    env.cwd_toml.write_bytes(b'[registries.default]\nuri = "sqlite:///\xff.db"\n')
    with pytest.raises(federate.FederateError) as info:
        registry_config()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(env.cwd_toml) in str(info.value)


def test_higher_layers_do_not_read_a_broken_toml(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.write_cwd("this is = = not toml")
    assert registry_config("sqlite:///arg.db").uri == "sqlite:///arg.db"
    federate.set_registry_uri("sqlite:///s.db")
    assert federate.get_registry_uri() == "sqlite:///s.db"
    federate.set_registry_uri(None)
    monkeypatch.setenv("FEDERATE_REGISTRY_URI", "sqlite:///env.db")
    assert federate.get_registry_uri() == "sqlite:///env.db"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('[registries.prod]\nartifact_root = "s3://b"\n', "[registries.prod]"),
        ("[registries.prod]\nuri = 3\n", "[registries.prod]"),
        ("[registries.prod]\n", "[registries.prod]"),
        ('[registries]\nprod = "sqlite:///p.db"\n', "[registries.prod]"),
        ('registries = "sqlite:///p.db"\n', "'registries' must be a table"),
    ],
    ids=["no-uri", "uri-not-string", "empty-table", "profile-not-a-table", "registries-not-table"],
)
@pytest.mark.parametrize("where", ["cwd", "user"])
def test_profile_table_without_string_uri_is_an_error(
    env: Env, text: str, fragment: str, where: str
) -> None:
    path = (env.write_cwd if where == "cwd" else env.write_user)(text)
    for call in (lambda: registry_config(profile="prod"), registry_config):
        with pytest.raises(federate.FederateError) as info:
            call()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        msg = str(info.value)
        assert str(path) in msg
        assert fragment in msg
        if "table" not in fragment:
            assert "'uri'" in msg


def test_federate_toml_directory_is_invalid_parameter(env: Env) -> None:
    env.cwd_toml.mkdir()
    with pytest.raises(federate.FederateError) as info:
        registry_config()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(env.cwd_toml) in str(info.value)


# --------------------------------------------------------------------------- edits and the cache


def test_edits_to_federate_toml_are_picked_up(env: Env) -> None:
    env.write_cwd('[registries.default]\nuri = "sqlite:///a.db"\n')
    assert federate.get_registry_uri() == "sqlite:///a.db"
    # different size, so the (mtime_ns, size) cache key changes even within one clock tick
    env.write_cwd('[registries.default]\nuri = "sqlite:///bbbb.db"\n')
    assert federate.get_registry_uri() == "sqlite:///bbbb.db"
    env.cwd_toml.unlink()
    assert federate.get_registry_uri() == env.default_uri()


def test_fixing_a_broken_file_is_picked_up(env: Env) -> None:
    env.write_cwd("[registries.default\n")
    with pytest.raises(federate.FederateError):
        registry_config()
    env.write_cwd('[registries.default]\nuri = "sqlite:///fixed.db"\n')
    assert registry_config().uri == "sqlite:///fixed.db"


def test_changing_directory_changes_the_cwd_file(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.write_cwd('[registries.default]\nuri = "sqlite:///one.db"\n')
    other = env.tmp / "other"
    other.mkdir()
    (other / "federate.toml").write_text('[registries.default]\nuri = "sqlite:///two.db"\n')
    assert federate.get_registry_uri() == "sqlite:///one.db"
    monkeypatch.chdir(other)
    assert federate.get_registry_uri() == "sqlite:///two.db"


def test_same_size_rewrite_is_seen_after_clearing_the_cache(env: Env) -> None:
    path = env.write_cwd('[registries.default]\nuri = "sqlite:///a.db"\n')
    assert federate.get_registry_uri() == "sqlite:///a.db"
    st = path.stat()
    env.write_cwd('[registries.default]\nuri = "sqlite:///b.db"\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and same mtime
    config._toml_cache.clear()
    assert federate.get_registry_uri() == "sqlite:///b.db"


@pytest.mark.parametrize("odd", ["with?query=1", "with%41percent", "both?%25#x"])
def test_registry_database_stays_inside_a_federate_home_with_url_characters(
    env: Env, monkeypatch: pytest.MonkeyPatch, odd: str
) -> None:
    home = env.tmp / odd
    monkeypatch.setenv("FEDERATE_HOME", str(home))
    registry = federate.get_registry()
    registry.create_registered_model("kept")
    assert (home / "registry.db").is_file()
    # nothing escaped next to it (a truncated or unescaped path would land beside home)
    assert sorted(p.name for p in env.tmp.iterdir()) == sorted(["home", "xdg", "cwd", odd])
    assert federate.get_registry().get_registered_model("kept").name == "kept"
