from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from federate.plugins.manager import reset_plugin_host
from federate.testing.cli import pip_install


@pytest.fixture
def model_tree(tmp_path: Path) -> Path:
    """A nested model directory: empty file, empty dir, non-ASCII and spaced names, 5 MB file."""
    root = tmp_path / "src-model"
    (root / "data" / "nested deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "data" / "größe ünïcödé.json").write_text('{"k": "v"}', encoding="utf-8")
    (root / "data" / "nested deeper" / "weights.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    return root


PLUGINS_TESTS = Path(__file__).parent / "plugins"


@pytest.fixture(scope="session")
def memo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test plugin package ``federate-memo``, pip-installed into its own directory."""
    return pip_install(tmp_path_factory.mktemp("memo-site"), PLUGINS_TESTS / "federate-memo")


@dataclass
class FakeSite:
    """A directory of installed distributions (dist-info + module), as pip leaves them."""

    path: Path
    monkeypatch: pytest.MonkeyPatch
    modules: list[str] = field(default_factory=list)
    dists: list[str] = field(default_factory=list)

    def add(self, dist: str, source: str, entry_name: str | None = None) -> str:
        """Install distribution ``dist`` whose module holds ``source``; returns the module."""
        module = f"{dist.replace('-', '_')}_{len(self.modules)}_{id(self) % 10_000}"
        info = self.path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[federate]\n{entry_name or dist} = {module}\n")
        (self.path / f"{module}.py").write_text(source)
        self.modules.append(module)
        # only these plugins, even where other plugins are installed (CI installs the examples)
        self.dists.append(dist)
        self.monkeypatch.setenv("FEDERATE_PLUGINS", ",".join(self.dists))
        return module

    def add_repo(
        self,
        dist: str,
        scheme: str,
        *,
        api: str = "",
        marker: str = "@hookimpl",
        entry_name: str | None = None,
    ) -> str:
        """A plugin serving ``scheme`` with the local repository (``api``: extra lines)."""
        source = (
            "from federate.plugins import RepoPlugin, hookimpl\n"
            "from federate.repos.local import LocalArtifactRepository\n"
            f"{api}\n{marker}\ndef federate_artifact_repos():\n"
            f"    return [RepoPlugin({scheme!r}, ({scheme!r},), LocalArtifactRepository)]\n"
        )
        return self.add(dist, source, entry_name)


@pytest.fixture
def fake_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, federate_home: Path
) -> Iterator[FakeSite]:
    """Distributions installed on this process's ``sys.path``; the plugin host is rebuilt
    on next use, so it discovers them through their entry points. FEDERATE_PLUGINS names
    exactly the distributions added."""
    site = FakeSite(tmp_path / "site", monkeypatch)
    site.path.mkdir()
    monkeypatch.syspath_prepend(str(site.path))
    reset_plugin_host()
    yield site
    for module in site.modules:
        sys.modules.pop(module, None)
    reset_plugin_host()
