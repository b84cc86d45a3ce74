"""docs/plugins.md, run for real: its files written, its commands run, their output checked.

The guide is a sequence of fenced blocks. ```` ```<lang> file=<path> ```` blocks are
written to ``<path>`` (relative to the directory the commands have ``cd``-ed into);
```` ```console ```` blocks hold ``$ command`` lines, each followed by the output it
must print (in order; ``...`` stands for any text, a line of just ``...`` for any lines;
an expected ``federate: error:`` line means the command must fail).

``pip install`` commands install the current folder into a directory of its own (not the
test environment); ``federate`` and ``python`` are this interpreter, with that directory
and this federate on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from federate.testing.cli import pip_install, python_path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SHELL_PRELUDE = (
    'federate() { "$GUIDE_PYTHON" -m federate "$@"; }\npython() { "$GUIDE_PYTHON" "$@"; }\n'
)


@dataclass
class Step:
    kind: str  # "file" or "command"
    text: str
    path: str = ""
    expected: list[str] = field(default_factory=list)


def steps(markdown: str) -> list[Step]:
    out = []
    for lang, info, body in FENCE.findall(markdown):
        target = re.search(r"\bfile=(\S+)", info)
        if target:
            out.append(Step("file", body, path=target.group(1)))
        elif lang == "console":
            for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
                command, *expected = chunk.rstrip("\n").split("\n")
                out.append(Step("command", command, expected=expected))
    return out


def normal(line: str) -> str:
    return " ".join(line.split())


def assert_output(expected: list[str], actual: str, command: str) -> None:
    """Each expected line matches a later actual line than the one before it."""
    lines = [normal(line) for line in actual.splitlines()]
    at = 0
    for want in (normal(w) for w in expected if w.strip() != "..."):
        pattern = ".*".join(map(re.escape, want.split("...")))
        while at < len(lines) and not re.fullmatch(pattern, lines[at]):
            at += 1
        assert at < len(lines), f"$ {command}\nexpected {want!r} in order in:\n{actual}"
        at += 1


def test_the_guide_has_what_an_author_needs():
    text = GUIDE.read_text()
    for topic in [
        "federate_registries()",
        "federate_artifact_repos()",
        "RegistryPlugin",
        "RepoPlugin",
        "FileInfo",
        "INVALID_PARAMETER_VALUE",
        "CredentialKeeper",
        "ScopedCredentials",
        "federate_home",
        "sqlite_registry",
        "store_local",
        "[project.entry-points.federate]",
        "FEDERATE_DISABLE_PLUGINS",
        "FEDERATE_PLUGINS",
        "FEDERATE_PLUGIN_API",
        "Precedence",
        "firstresult",
    ]:
        assert topic in text, topic
    kinds = [s.kind for s in steps(text)]
    assert kinds.count("file") >= 4 and kinds.count("command") >= 6


def test_the_walkthrough_builds_a_working_plugin(tmp_path: Path):
    work, site, home = tmp_path / "work", tmp_path / "site", tmp_path / "home"
    for d in (work, site, home):
        d.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEDERATE_")},
        "FEDERATE_HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "GUIDE_PYTHON": sys.executable,
        "PYTHONPATH": python_path([site], os.environ.get("PYTHONPATH")),
    }
    cwd = work
    ran = []
    for step in steps(GUIDE.read_text()):
        if step.kind == "file":
            (cwd / step.path).parent.mkdir(parents=True, exist_ok=True)
            (cwd / step.path).write_text(step.text)
            continue
        ran.append(step.text)
        if step.text.startswith("pip install"):
            pip_install(site, cwd)
            continue
        if step.text.startswith("mkdir ") and "&& cd " in step.text:
            cwd = cwd / step.text.rsplit("&& cd ", 1)[1].strip()
            cwd.mkdir(parents=True)
            continue
        out = subprocess.run(
            ["bash", "-c", SHELL_PRELUDE + step.text],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        should_fail = any(line.startswith("federate: error:") for line in step.expected)
        assert (out.returncode != 0) == should_fail, f"$ {step.text}\n{out.stdout}{out.stderr}"
        assert_output(step.expected, out.stdout + out.stderr, step.text)
    assert any(c.startswith("federate plugins") for c in ran)
    assert any(c.startswith("python -m pytest") for c in ran)


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (["a", "...", "c"], "a\nb\nc\n", True),
        (["...x-copy"], "/tmp/x-copy\n", True),
        (["c", "a"], "a\nb\nc\n", False),
        (["12  MLmodel"], "          12  MLmodel\n", True),
    ],
)
def test_output_matching_rules(expected, actual, ok):
    if ok:
        assert_output(expected, actual, "cmd")
    else:
        with pytest.raises(AssertionError):
            assert_output(expected, actual, "cmd")
