"""Plain (non-JSON) output shows control characters as escapes: a value never breaks a row
or drives the terminal."""

from __future__ import annotations

import json

import federate
from federate.cli.common import plain


def test_plain_escapes_control_characters_and_keeps_the_rest():
    assert plain("iris v2") == "iris v2"
    assert plain("größe ünïcödé") == "größe ünïcödé"
    assert plain("a\tb\nc\rd\x1b[31m\x00\x7f\u2028") == "a\\tb\\nc\\rd\\x1b[31m\\x00\\x7f\\u2028"


def test_a_tag_with_a_newline_and_an_escape_stays_on_its_row(run, model_tree, federate_home):
    federate.register(model_tree, "iris", tags={"note": "line one\nline two\x1b[2J"})
    res = run("models", "versions", "iris", "--no-header")
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout
    (row,) = res.stdout.splitlines()  # one version, one line
    # --json keeps the value as it is
    (version,) = json.loads(run("models", "versions", "iris", "--json").stdout)
    assert version["tags"]["note"] == "line one\nline two\x1b[2J"


def test_an_error_naming_a_value_with_a_newline_is_one_line(run, tmp_path):
    missing = tmp_path / "no\nsuch\x1b[2Jmodel"
    res = run("download", str(missing), str(tmp_path / "dst"))
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "\x1b" not in res.stderr
    assert "no\\nsuch\\x1b[2Jmodel" in res.stderr
