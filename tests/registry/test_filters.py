"""The filter and order_by grammar alone: what parses into what, and where bad input fails."""

from __future__ import annotations

import pytest

from federate.errors import INVALID_PARAMETER_VALUE, FederateError
from federate.registry.filters import (
    MODEL_VERSIONS,
    PROMPTS,
    REGISTERED_MODELS,
    Attribute,
    Comparison,
    Grammar,
    OrderKey,
    Tag,
    parse_filter,
    parse_order_by,
)
from federate.testing.cli import run_federate
from federate.testing.errors import raises_federate_error


def case_id(value: object) -> str:
    if isinstance(value, Grammar):
        return value.what.replace(" ", "_")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return str(value)[:40]
    return str(value)[:40] if isinstance(value, str | type(None)) else "-"


NAME, RUN, SOURCE, VERSION = (
    Attribute("name"),
    Attribute("run_id"),
    Attribute("source_path"),
    Attribute("version_number"),
)

PARSES = [
    # (filter, grammar, comparisons)
    ("name = 'iris'", REGISTERED_MODELS, [(NAME, "=", "iris")]),
    ('name = "iris"', REGISTERED_MODELS, [(NAME, "=", "iris")]),
    ("name='iris'", REGISTERED_MODELS, [(NAME, "=", "iris")]),
    ("  name   !=   'iris'  ", REGISTERED_MODELS, [(NAME, "!=", "iris")]),
    ("name like 'ir%'", REGISTERED_MODELS, [(NAME, "LIKE", "ir%")]),
    ("name ILike 'IR%'", REGISTERED_MODELS, [(NAME, "ILIKE", "IR%")]),
    ("name IN ('a', \"b\",'c')", REGISTERED_MODELS, [(NAME, "IN", ("a", "b", "c"))]),
    ("name not  in ('a')", REGISTERED_MODELS, [(NAME, "NOT IN", ("a",))]),
    ("name = 'it''s'", REGISTERED_MODELS, [(NAME, "=", "it's")]),
    ('name = "say ""hi"""', REGISTERED_MODELS, [(NAME, "=", 'say "hi"')]),
    ("name = 'a\"b'", REGISTERED_MODELS, [(NAME, "=", 'a"b')]),
    ("name LIKE 'a\\_b'", REGISTERED_MODELS, [(NAME, "LIKE", "a\\_b")]),  # \ kept for LIKE
    ("name = ''", REGISTERED_MODELS, [(NAME, "=", "")]),
    ("tags.team = 'ml'", REGISTERED_MODELS, [(Tag("team"), "=", "ml")]),
    ("tag.team = 'ml'", PROMPTS, [(Tag("team"), "=", "ml")]),
    ("tags.mlflow.source.name = 'x'", REGISTERED_MODELS, [(Tag("mlflow.source.name"), "=", "x")]),
    ("tags.a-b/c = 'x'", REGISTERED_MODELS, [(Tag("a-b/c"), "=", "x")]),
    ("tags.`odd key` != 'v'", REGISTERED_MODELS, [(Tag("odd key"), "!=", "v")]),
    ("tags.`back``tick` = 'v'", REGISTERED_MODELS, [(Tag("back`tick"), "=", "v")]),
    ("tags.\"double quoted\" = 'v'", REGISTERED_MODELS, [(Tag("double quoted"), "=", "v")]),
    ("tags.`=' AND 1=1 --` = 'v'", REGISTERED_MODELS, [(Tag("=' AND 1=1 --"), "=", "v")]),
    ("tags.k ILIKE '%Gold%'", MODEL_VERSIONS, [(Tag("k"), "ILIKE", "%Gold%")]),
    ("version_number > 3", MODEL_VERSIONS, [(VERSION, ">", 3)]),
    ("version_number<=-1", MODEL_VERSIONS, [(VERSION, "<=", -1)]),
    (
        "creation_timestamp >= 1700000000000",
        PROMPTS,
        [(Attribute("creation_timestamp"), ">=", 1700000000000)],
    ),
    ("run_id IN ('r1','r2')", MODEL_VERSIONS, [(RUN, "IN", ("r1", "r2"))]),
    ("source_path = 's3://b/k'", MODEL_VERSIONS, [(SOURCE, "=", "s3://b/k")]),
    (
        "name = 'm' AND version_number != 2 and tags.`k k` LIKE 'v%' AnD run_id NOT IN ('x')",
        MODEL_VERSIONS,
        [(NAME, "=", "m"), (VERSION, "!=", 2), (Tag("k k"), "LIKE", "v%"), (RUN, "NOT IN", ("x",))],
    ),
    ("name = 'Émile 模型'", REGISTERED_MODELS, [(NAME, "=", "Émile 模型")]),
]


@pytest.mark.parametrize("text,grammar,expected", PARSES, ids=case_id)
def test_filters_parse_into_comparisons(text, grammar, expected):
    assert parse_filter(text, grammar) == tuple(Comparison(*c) for c in expected)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_filters_mean_no_filter(text):
    assert parse_filter(text, MODEL_VERSIONS) == ()


BAD = [
    # (filter, grammar, 1-based character where it went wrong, words the message must carry)
    ("name = 'x' OR 1=1", REGISTERED_MODELS, 12, ["OR is not supported", "AND only"]),
    ("name = 'x' or name = 'y'", REGISTERED_MODELS, 12, ["OR is not supported"]),
    ("name = x", REGISTERED_MODELS, 8, ["expected a quoted string", "found 'x'"]),
    ("name = 3", REGISTERED_MODELS, 8, ["expected a quoted string", "found '3'"]),
    ("tags.= 'a'", REGISTERED_MODELS, 6, ["expected a tag key right after 'tags.'", "tags.`key`"]),
    ("tags. `k` = 'a'", REGISTERED_MODELS, 6, ["expected a tag key"]),
    ("tags.`` = 'a'", REGISTERED_MODELS, 6, ["expected a tag key"]),
    ("name = 'abc", REGISTERED_MODELS, 8, ["unterminated '...' quote"]),
    ('name = "abc', REGISTERED_MODELS, 8, ['unterminated "..." quote']),
    ("tags.`abc = 'x'", REGISTERED_MODELS, 6, ["unterminated `...` quote"]),
    ("nmae = 'x'", REGISTERED_MODELS, 1, ["unknown attribute 'nmae'", "did you mean 'name'?"]),
    ("run_id = 'r'", REGISTERED_MODELS, 1, ["unknown attribute 'run_id'", "tags.<key>"]),
    ("source = 'x'", MODEL_VERSIONS, 1, ["unknown attribute 'source'", "source_path"]),
    ("NAME = 'x'", REGISTERED_MODELS, 1, ["unknown attribute 'NAME'"]),
    ("name > 'a'", REGISTERED_MODELS, 6, ["operator '>' cannot compare 'name'", "LIKE"]),
    ("name == 'a'", REGISTERED_MODELS, 6, ["operator '=='"]),
    ("name <> 'a'", REGISTERED_MODELS, 6, ["operator '<>'"]),
    ("version_number LIKE '1%'", MODEL_VERSIONS, 16, ["operator 'LIKE' cannot compare"]),
    ("tags.k IN ('a')", MODEL_VERSIONS, 8, ["operator 'IN' cannot compare a tag"]),
    ("source_path IN ('a')", MODEL_VERSIONS, 13, ["operator 'IN' cannot compare 'source_path'"]),
    ("name IS NULL", REGISTERED_MODELS, 6, ["expected a comparison operator", "found 'IS'"]),
    ("name NOT LIKE 'a'", REGISTERED_MODELS, 6, ["expected a comparison operator"]),
    ("version_number > '3'", MODEL_VERSIONS, 18, ["expected an unquoted integer", "\"'3'\""]),
    ("version_number > 3.5", MODEL_VERSIONS, 18, ["expected an unquoted integer", "'3.5'"]),
    ("version_number > 1e3", MODEL_VERSIONS, 18, ["expected an unquoted integer"]),
    ("version_number > 99999999999999999999", MODEL_VERSIONS, 18, ["out of range"]),
    ("name IN ()", REGISTERED_MODELS, 10, ["expected a quoted string in the list"]),
    ("name IN ('a',)", REGISTERED_MODELS, 14, ["expected a quoted string in the list"]),
    ("name IN ('a' 'b')", REGISTERED_MODELS, 14, ["expected ',' or ')'"]),
    ("name IN 'a'", REGISTERED_MODELS, 9, ["expected '(' to open a list"]),
    ("name IN ('a'", REGISTERED_MODELS, 13, ["expected ',' or ')'", "the end of the filter"]),
    ("name = 'a' AND", REGISTERED_MODELS, 15, ["expected an attribute", "end of the filter"]),
    ("AND name = 'a'", REGISTERED_MODELS, 1, ["unknown attribute 'AND'"]),
    ("name = 'a' name = 'b'", REGISTERED_MODELS, 12, ["expected AND or the end"]),
    ("name = 'a';", REGISTERED_MODELS, 11, ["unexpected character ';'"]),
    ("name = 'a'; DROP TABLE registered_models", REGISTERED_MODELS, 11, ["unexpected character"]),
    ("(name = 'a')", REGISTERED_MODELS, 1, ["expected an attribute or tags.<key>", "'('"]),
    ("name = 'a' -- comment", REGISTERED_MODELS, 12, ["unexpected character '-'"]),
    ("name = 'a\x00b'", REGISTERED_MODELS, 10, ["cannot be searched for"]),
    ("name = '\ud800'", REGISTERED_MODELS, 9, ["cannot be searched for"]),
    ("= 'a'", REGISTERED_MODELS, 1, ["expected an attribute"]),
]


@pytest.mark.parametrize("text,grammar,position,fragments", BAD, ids=case_id)
def test_bad_filters_say_where_and_what(text, grammar, position, fragments):
    with raises_federate_error(
        INVALID_PARAMETER_VALUE,
        f"Invalid {grammar.what} filter {text!r}",
        f"at character {position}.",
        *fragments,
    ):
        parse_filter(text, grammar)


def test_unknown_attribute_message_lists_what_is_accepted():
    with raises_federate_error(
        INVALID_PARAMETER_VALUE,
        "Model version filters are comparisons joined by AND",
        "run_id =|!=|LIKE|ILIKE|IN|NOT IN 'text'",
        "version_number =|!=|<|<=|>|>= <integer>",
        "tags.<key> (or tags.`any key`) =|!=|LIKE|ILIKE 'text'",
    ):
        parse_filter("colour = 'red'", MODEL_VERSIONS)


def test_a_filter_that_is_not_a_string_is_refused():
    with raises_federate_error(INVALID_PARAMETER_VALUE, "filter_string must be a string", "list"):
        parse_filter(["name = 'a'"], REGISTERED_MODELS)  # type: ignore[arg-type]


ORDERS = [
    (None, MODEL_VERSIONS, []),
    ([], MODEL_VERSIONS, []),
    (["name"], REGISTERED_MODELS, [("name", True)]),
    (["name DESC"], PROMPTS, [("name", False)]),
    (["  last_updated_timestamp   desc "], REGISTERED_MODELS, [("last_updated_timestamp", False)]),
    (
        ["version_number DESC", "creation_timestamp asc", "`name`"],
        MODEL_VERSIONS,
        [("version_number", False), ("creation_timestamp", True), ("name", True)],
    ),
]


@pytest.mark.parametrize("order_by,grammar,expected", ORDERS, ids=case_id)
def test_order_by_parses_into_keys(order_by, grammar, expected):
    assert parse_order_by(order_by, grammar) == tuple(OrderKey(*k) for k in expected)


BAD_ORDERS = [
    (["name SIDEWAYS"], REGISTERED_MODELS, ["direction 'SIDEWAYS' is neither ASC nor DESC"]),
    (["colour"], REGISTERED_MODELS, ["cannot sort by 'colour'", "name, creation_timestamp"]),
    (["version_number"], REGISTERED_MODELS, ["cannot sort by 'version_number'"]),
    (["name ASC DESC"], REGISTERED_MODELS, ["Invalid order_by clause 'name ASC DESC'"]),
    (["name; DROP TABLE x"], REGISTERED_MODELS, ["Invalid order_by clause 'name; DROP TABLE x'"]),
    ([""], REGISTERED_MODELS, ["Invalid order_by clause ''"]),
    ([3], REGISTERED_MODELS, ["Invalid order_by clause 3"]),
    (["name", "name DESC"], REGISTERED_MODELS, ["'name' appears more than once"]),
    ("name DESC", REGISTERED_MODELS, ["order_by must be a list of strings"]),
]


@pytest.mark.parametrize("order_by,grammar,fragments", BAD_ORDERS, ids=case_id)
def test_bad_order_by_says_what_is_accepted(order_by, grammar, fragments):
    with raises_federate_error(INVALID_PARAMETER_VALUE, *fragments):
        parse_order_by(order_by, grammar)


def test_a_filter_may_hold_ten_thousand_values():
    values = ", ".join(f"'r{i}'" for i in range(10_000))
    (comparison,) = parse_filter(f"run_id IN ({values})", MODEL_VERSIONS)
    assert len(comparison.value) == 10_000
    with raises_federate_error(INVALID_PARAMETER_VALUE, "10001 values, more than 10000"):
        parse_filter(f"run_id IN ({values}) AND name = 'm'", MODEL_VERSIONS)


def test_an_integer_of_thousands_of_digits_is_out_of_range_in_a_short_message():
    text = "version_number = " + "9" * 5000
    with pytest.raises(FederateError) as caught:
        parse_filter(text, MODEL_VERSIONS)
    message = str(caught.value)
    assert caught.value.error_code == INVALID_PARAMETER_VALUE
    assert "integer of 5000 digits is out of range for version_number at character 18" in message
    assert "64-bit integers, -9223372036854775807 to 9223372036854775807" in message
    assert len(message) < 600


def test_the_cli_refuses_a_huge_filter_integer_in_one_line(federate_home, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "MLmodel").write_text("x")
    assert run_federate("register", str(tmp_path / "m"), "iris").returncode == 0
    res = run_federate("models", "list", "--filter", "creation_timestamp > " + "9" * 5000)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "[INVALID_PARAMETER_VALUE]" in res.stderr
    assert "integer of 5000 digits is out of range for creation_timestamp" in res.stderr
