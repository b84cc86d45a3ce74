"""Search on every database: each grammar element finds the same rows on SQLite,
PostgreSQL and MariaDB, orders them the same way, and pages through them exactly once."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa

from federate.errors import INVALID_PARAMETER_VALUE
from federate.registry.sql import queries as q
from federate.testing.errors import raises_federate_error
from federate.testing.pages import all_pages

INJECTION = "x' OR '1'='1"
DROP = "'; DROP TABLE registered_models; --"

MODELS = {
    # name: registered model tags
    "iris": {"team": "ml", "tier": "Gold", "odd key": "x y", "back`tick": "b", "sql": DROP},
    "iris-v2": {"team": "ML", "tier": "gold "},
    "Émile": {"team": "émile"},
    "wine": {"team": "data", "tier": "gold"},
    "virus": {},
    INJECTION: {"team": "%"},
}
VERSIONS = {
    # (name, version): (run_id, source, version tags)
    ("iris", 1): ("r1", "s3://b/iris/1", {"stage": "dev"}),
    ("iris", 2): ("r2", "s3://b/iris/2", {"stage": "prod", "odd key": "v"}),
    ("iris", 3): ("R1", "/local/iris_3", {}),
    ("iris", 4): (None, "/local/iris%4", {"stage": "Dev"}),
    ("wine", 1): ("r1", "s3://b/wine/1", {"stage": "dev"}),
    ("wine", 2): ("r1 ", "s3://b/wine/2", {}),
}


@pytest.fixture
def populated(registry):
    for name, tags in MODELS.items():
        registry.create_registered_model(name, tags=tags)
    for (name, _version), (run_id, source, tags) in VERSIONS.items():
        registry.create_model_version(name, source, run_id=run_id, tags=tags)
    # a prompt sharing names and tags with the models: never found by model searches
    registry.register_prompt("iris-prompt", "Hi {{ x }}", tags={"stage": "dev"})
    registry.set_prompt_tag("iris-prompt", "team", "ml")
    return registry


def model_names(registry, filter_string: str) -> set[str]:
    return {m.name for m in registry.search_registered_models(filter_string)}


def version_keys(registry, filter_string: str) -> set[tuple[str, int]]:
    return {(mv.name, mv.version) for mv in registry.search_model_versions(filter_string)}


ALL_MODELS = set(MODELS)
MODEL_SEARCHES = [
    ("tags.team = 'ml'", {"iris"}),  # not 'ML': case-sensitive on MariaDB too
    ("tags.team != 'ml'", {"iris-v2", "Émile", "wine", INJECTION}),  # 'virus' has no team
    ("tags.team LIKE 'm%'", {"iris"}),
    ("tags.team ILIKE 'M%'", {"iris", "iris-v2"}),
    ("tags.team ILIKE 'É%'", {"Émile"}),  # Unicode case folding
    ("tags.team = 'emile'", set()),  # accents matter (a *_ci collation ignores them)
    ("tags.team ILIKE 'emile'", set()),
    ("tags.tier = 'gold'", {"wine"}),  # not 'Gold', not 'gold ' (PAD SPACE)
    ("tags.tier = 'gold '", {"iris-v2"}),
    ("tags.tier LIKE 'gold'", {"wine"}),
    ("tags.tier IN ('Gold', 'gold ')", None),  # IN is not a tag operator: refused
    ("tags.`odd key` = 'x y'", {"iris"}),
    ("tags.`back``tick` = 'b'", {"iris"}),
    ("tags.\"odd key\" LIKE 'x%'", {"iris"}),
    ("tags.nope = 'x'", set()),
    ("tags.team = 'ml' AND name LIKE 'ir%'", {"iris"}),
    ("tags.team = 'ml' AND tags.tier = 'Gold'", {"iris"}),
    ("tags.team = 'ml' AND tags.tier = 'gold'", set()),
    ("tags.team LIKE '\\%'", {INJECTION}),  # an escaped wildcard is a literal %
    ("tags.team = '%'", {INJECTION}),
    ("name IN ('iris', 'wine', 'nope')", {"iris", "wine"}),
    ("name NOT IN ('iris', 'wine')", ALL_MODELS - {"iris", "wine"}),
    ("name = 'IRIS'", set()),
    ("name = 'iris '", set()),  # PAD SPACE would find 'iris'
    ("name IN ('IRIS', 'iris ')", set()),
    ("name != 'iris '", ALL_MODELS),
    ("name = 'Emile'", set()),
    ("name ILIKE 'émile'", {"Émile"}),
    ("name LIKE '%'", ALL_MODELS),
    ("name LIKE 'iris%'", {"iris", "iris-v2"}),  # never the prompt 'iris-prompt'
    # SQL-shaped values are compared literally
    ("name = 'x'' OR ''1''=''1'", {INJECTION}),
    ("name = \"x' OR '1'='1\"", {INJECTION}),
    ("name LIKE '%'' OR 1=1 --'", set()),
    ("name = '1'' OR ''1''=''1'", set()),
    (f"tags.sql = '{DROP.replace(chr(39), chr(39) * 2)}'", {"iris"}),
    ("tags.`' OR 1=1 --` = 'x'", set()),
]


def test_model_filters_find_the_same_rows_everywhere(populated):
    for filter_string, expected in MODEL_SEARCHES:
        if expected is None:
            with raises_federate_error(INVALID_PARAMETER_VALUE, case=filter_string):
                model_names(populated, filter_string)
        else:
            assert model_names(populated, filter_string) == expected, filter_string
    assert model_names(populated, "") == ALL_MODELS  # the tables are all still there


def test_model_timestamp_filters(populated):
    populated.set_registered_model_tag("wine", "touched", "yes")  # wine updates last
    models = {m.name: m for m in populated.search_registered_models()}
    wine = models["wine"]
    newer = {
        n for n, m in models.items() if m.last_updated_timestamp >= wine.last_updated_timestamp
    }
    assert "wine" in newer
    found = model_names(populated, f"last_updated_timestamp >= {wine.last_updated_timestamp}")
    assert found == newer
    first = min(m.creation_timestamp for m in models.values())
    assert model_names(populated, f"creation_timestamp < {first}") == set()
    assert model_names(populated, f"creation_timestamp >= {first}") == ALL_MODELS


VERSION_SEARCHES = [
    ("run_id = 'r1'", {("iris", 1), ("wine", 1)}),  # not 'R1', not 'r1 '
    ("run_id = 'r1 '", {("wine", 2)}),
    ("run_id IN ('r1', 'r2')", {("iris", 1), ("iris", 2), ("wine", 1)}),
    ("run_id NOT IN ('r1')", {("iris", 2), ("iris", 3), ("wine", 2)}),  # NULL run_id: no
    ("run_id != 'r1'", {("iris", 2), ("iris", 3), ("wine", 2)}),
    ("run_id ILIKE 'R1'", {("iris", 1), ("iris", 3), ("wine", 1)}),
    ("run_id LIKE 'r_'", {("iris", 1), ("iris", 2), ("wine", 1)}),
    ("version_number > 2", {("iris", 3), ("iris", 4)}),
    ("version_number >= 2 AND version_number < 4", {("iris", 2), ("iris", 3), ("wine", 2)}),
    ("version_number = 1", {("iris", 1), ("wine", 1)}),
    ("version_number != 1", {("iris", 2), ("iris", 3), ("iris", 4), ("wine", 2)}),
    ("version_number <= 1 AND name = 'wine'", {("wine", 1)}),
    ("version_number > 9223372036854775807", set()),
    ("version_number > -9223372036854775807", set(VERSIONS)),
    ("source_path = 's3://b/iris/1'", {("iris", 1)}),
    ("source_path LIKE 's3://b/%'", {("iris", 1), ("iris", 2), ("wine", 1), ("wine", 2)}),
    ("source_path LIKE '/local/iris\\_%'", {("iris", 3)}),
    ("source_path LIKE '%\\%%'", {("iris", 4)}),
    ("source_path ILIKE 'S3://B/WINE/%'", {("wine", 1), ("wine", 2)}),
    ("name = 'iris' AND tags.stage = 'dev'", {("iris", 1)}),
    ("tags.stage = 'dev'", {("iris", 1), ("wine", 1)}),  # not 'Dev', not the prompt's
    ("tags.stage ILIKE 'dev'", {("iris", 1), ("iris", 4), ("wine", 1)}),
    ("tags.stage != 'dev'", {("iris", 2), ("iris", 4)}),
    ("tags.`odd key` = 'v'", {("iris", 2)}),
    ("tags.team = 'ml'", set()),  # a model's tag, not its versions'
    ("name LIKE 'iris%'", {k for k in VERSIONS if k[0] == "iris"}),
    ("run_id IN ('r1'') OR (''1''=''1')", set()),
]


def test_version_filters_find_the_same_rows_everywhere(populated):
    for filter_string, expected in VERSION_SEARCHES:
        assert version_keys(populated, filter_string) == expected, filter_string


def test_long_in_lists_work_everywhere(populated):
    runs = ", ".join(f"'run-{i}'" for i in range(9_999))
    assert version_keys(populated, f"run_id IN ({runs}, 'r2')") == {("iris", 2)}
    found = version_keys(populated, f"run_id NOT IN ({runs}, 'r2')")
    assert found == {("iris", 1), ("iris", 3), ("wine", 1), ("wine", 2)}


def test_prompt_filters_and_order(populated):
    populated.register_prompt("greet", "Hello {{ x }}")
    populated.set_prompt_tag("greet", "team", "ML")
    found = populated.search_prompts("tags.team = 'ml'")
    assert [p.name for p in found] == ["iris-prompt"]  # never the model 'iris'
    assert [p.name for p in populated.search_prompts("tags.team ILIKE 'ml'")] == [
        "greet",
        "iris-prompt",
    ]
    assert [p.name for p in populated.search_prompts(order_by=["name DESC"])] == [
        "iris-prompt",
        "greet",
    ]
    assert [p.name for p in populated.search_prompts("name IN ('greet', 'iris')")] == ["greet"]
    with raises_federate_error(INVALID_PARAMETER_VALUE, "prompt filter", "version_number"):
        populated.search_prompts("version_number = 1")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "cannot sort by 'version_number'"):
        populated.search_prompts(order_by=["version_number"])


# -- ordering and pagination ---------------------------------------------------------------


def set_timestamps(registry, table, values: dict) -> None:
    """Force timestamps (ties included), which the API cannot set, to test the tie-break."""
    with registry.engine.begin() as conn:
        for row_id, (created, updated) in values.items():
            conn.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(creation_time=created, last_updated_time=updated)
            )


@pytest.fixture
def ordered(registry):
    """Models a..e with 3 versions each, and timestamps that tie on purpose."""
    for name in "cbeda":
        registry.create_registered_model(name)
        for _ in range(3):
            registry.create_model_version(name, f"/src/{name}")
    with registry.engine.connect() as conn:
        model_ids = dict(conn.execute(sa.select(q.rm.c.name, q.rm.c.id)).all())
        version_ids = {
            (n, v): i
            for n, v, i in conn.execute(
                sa.select(q.rm.c.name, q.mv.c.version, q.mv.c.id).join(
                    q.rm, q.rm.c.id == q.mv.c.registered_model_id
                )
            )
        }
    # created: b and d tie; updated: all tie
    created = {"a": 300, "b": 100, "c": 200, "d": 100, "e": 50}
    set_timestamps(registry, q.rm, {model_ids[n]: (t, 1000) for n, t in created.items()})
    set_timestamps(
        registry, q.mv, {i: (created[n] + v % 2, 1000) for (n, v), i in version_ids.items()}
    )
    return registry


def test_model_order_by_with_ties_breaks_on_name(ordered):
    def names(order_by):
        return "".join(m.name for m in ordered.search_registered_models(order_by=order_by))

    assert names(None) == "abcde"
    assert names(["name DESC"]) == "edcba"
    assert names(["creation_timestamp"]) == "ebdca"  # b, d tie: name breaks it
    assert names(["creation_timestamp DESC"]) == "acbde"
    assert names(["last_updated_timestamp DESC"]) == "abcde"
    assert names(["last_updated_timestamp", "name DESC"]) == "edcba"


def test_version_order_by(ordered):
    def keys(order_by, filter_string=None):
        found = ordered.search_model_versions(filter_string, order_by=order_by)
        return [f"{mv.name}{mv.version}" for mv in found]

    assert keys(None, "name IN ('a', 'b')") == ["a3", "a2", "a1", "b3", "b2", "b1"]
    assert keys(["version_number ASC"], "name IN ('a', 'b')") == [
        "a1",
        "b1",
        "a2",
        "b2",
        "a3",
        "b3",
    ]
    # created: e+1 for odd versions; ties break on name ASC, then version DESC
    assert keys(["creation_timestamp"], "creation_timestamp < 101") == [
        "e2",
        "e3",
        "e1",
        "b2",
        "d2",
    ]
    assert keys(["last_updated_timestamp DESC"])[:4] == ["a3", "a2", "a1", "b3"]


ORDERS = [None, ["name DESC"], ["creation_timestamp"], ["last_updated_timestamp DESC"]]


@pytest.mark.parametrize("page_size", [1, 2, 4, 15])
def test_pages_cover_every_row_exactly_once(ordered, page_size):
    for order_by in ORDERS + [["version_number DESC"], ["version_number", "name DESC"]]:
        everything = ordered.search_model_versions(order_by=order_by)
        assert len(everything) == 15 and everything.token is None
        pages = all_pages(ordered.search_model_versions, order_by=order_by, max_results=page_size)
        assert [len(p) for p in pages[:-1]] == [page_size] * (len(pages) - 1)
        assert [mv for page in pages for mv in page] == list(everything), order_by
    for order_by in ORDERS:
        everything = ordered.search_registered_models(order_by=order_by)
        pages = all_pages(
            ordered.search_registered_models, order_by=order_by, max_results=page_size
        )
        assert [m.name for page in pages for m in page] == [m.name for m in everything]
    pages = all_pages(
        ordered.search_model_versions, filter_string="version_number > 1", max_results=page_size
    )
    assert [(mv.name, mv.version) for page in pages for mv in page] == [
        (n, v) for n in "abcde" for v in (3, 2)
    ]


def test_a_full_last_page_has_no_token(ordered):
    page = ordered.search_registered_models(max_results=5)
    assert len(page) == 5 and page.token is None
    page = ordered.search_registered_models(max_results=4)
    assert page.token is not None
    rest = ordered.search_registered_models(max_results=4, page_token=page.token)
    assert [m.name for m in rest] == ["e"] and rest.token is None


def test_rows_added_or_removed_between_pages_do_not_repeat_or_skip_others(registry):
    for name in ["b", "d", "f", "h"]:
        registry.create_registered_model(name)
    first = registry.search_registered_models(max_results=2)
    assert [m.name for m in first] == ["b", "d"]
    registry.create_registered_model("a")  # before the cursor: an offset would repeat 'd'
    registry.create_registered_model("c")
    registry.create_registered_model("g")  # after it: found
    second = registry.search_registered_models(max_results=2, page_token=first.token)
    assert [m.name for m in second] == ["f", "g"]
    registry.delete_registered_model("a")  # before the cursor: an offset would skip 'h'
    registry.delete_registered_model("b")
    rest = registry.search_registered_models(max_results=2, page_token=second.token)
    assert [m.name for m in rest] == ["h"] and rest.token is None


def test_prompt_version_pages(registry):
    for i in range(5):
        registry.register_prompt("p", f"v{i} {{{{ x }}}}")
        registry.register_prompt("q", f"v{i} {{{{ x }}}}")
    pages = all_pages(lambda **kw: registry.search_prompt_versions("p", **kw), max_results=2)
    assert [[v.version for v in page] for page in pages] == [[5, 4], [3, 2], [1]]
    first = registry.search_prompt_versions("p", max_results=2)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "different search"):
        registry.search_prompt_versions("q", max_results=2, page_token=first.token)


# -- tokens and bounds ---------------------------------------------------------------------


def b64(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode()


def test_garbage_page_tokens_are_invalid(ordered):
    real = ordered.search_registered_models(max_results=2).token
    digest = json.loads(base64.urlsafe_b64decode(real))["search"]
    garbage = {
        "not-a-token": "not a page token",
        "%%%": "not a page token",
        b64(b"\xff\xfe"): "not a page token",
        b64([1, 2]): "not a page token",
        b64({"offset": 2}): "not a page token",  # the old offset tokens
        b64({"search": digest, "after": "b"}): "not a page token",
        b64({"search": digest, "after": ["b"]}): "does not fit",
        b64({"search": digest, "after": [1, 2]}): "does not fit",
        b64({"search": digest, "after": ["b", "2"]}): "does not fit",
        b64({"search": digest, "after": ["b", True]}): "does not fit",
        b64({"search": digest, "after": ["b", 2**64]}): "does not fit",
        b64({"search": digest, "after": ["b", -(2**63) - 1]}): "does not fit",
        b64({"search": digest, "after": ["b\x00", 2]}): "does not fit",
        b64({"search": digest, "after": ["\ud800", 2]}): "does not fit",
        b64({"search": "0" * 16, "after": ["b", 2]}): "different search",
        "x" * 10000: "not a page token",
        "é": "not a page token",
    }
    for token, why in garbage.items():
        with raises_federate_error(INVALID_PARAMETER_VALUE, "Invalid page token", why, case=token):
            ordered.search_registered_models(max_results=2, page_token=token)


def test_a_token_only_continues_the_search_it_came_from(ordered):
    token = ordered.search_registered_models(max_results=2).token
    for other in [
        {"filter_string": "name != 'x'"},
        {"order_by": ["name DESC"]},
    ]:
        with raises_federate_error(INVALID_PARAMETER_VALUE, "different search", case=other):
            ordered.search_registered_models(max_results=2, page_token=token, **other)
    with raises_federate_error(INVALID_PARAMETER_VALUE, "different search"):
        ordered.search_prompts(max_results=2, page_token=token)
    # the page size may change between pages
    rest = ordered.search_registered_models(max_results=10, page_token=token)
    assert [m.name for m in rest] == ["c", "d", "e"]


def test_a_forged_token_is_only_a_starting_point_compared_literally(ordered):
    token = ordered.search_registered_models(max_results=2).token
    body = json.loads(base64.urlsafe_b64decode(token))
    body["after"] = ["c' OR '1'='1", 0]
    found = ordered.search_registered_models(page_token=b64(body))
    assert [m.name for m in found] == ["d", "e"]
    body["after"] = ["c", 2**62]  # beyond the id column's range: still just a position
    found = ordered.search_registered_models(page_token=b64(body))
    assert [m.name for m in found] == ["d", "e"]


BOUNDS = [
    ("search_registered_models", 1001, "between 1 and 1000"),
    ("search_model_versions", 200_001, "between 1 and 200000"),
    ("search_prompts", 1001, "between 1 and 1000"),
]


def test_max_results_bounds_are_named(registry):
    for method, too_many, bound in BOUNDS:
        search = getattr(registry, method)
        for bad in [0, -1, too_many, True, "10", None, 2.0]:
            with raises_federate_error(INVALID_PARAMETER_VALUE, "max_results", bound, case=bad):
                search(max_results=bad)
        assert search(max_results=too_many - 1) == []
    registry.register_prompt("p", "t")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "between 1 and 10000"):
        registry.search_prompt_versions("p", max_results=10_001)


def test_filter_values_reach_the_database_as_parameters(populated):
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    marker = "zz' marker --"
    sa.event.listen(populated.engine, "before_cursor_execute", record)
    try:
        populated.search_model_versions(
            f"name = '{marker.replace(chr(39), chr(39) * 2)}' AND tags.`{marker}` LIKE 'v%' "
            f"AND run_id IN ('{marker.replace(chr(39), chr(39) * 2)}')"
        )
    finally:
        sa.event.remove(populated.engine, "before_cursor_execute", record)
    searches = [(s, p) for s, p in statements if "model_version_tags" in s and "EXISTS" in s]
    assert searches, statements
    for statement, parameters in searches:
        assert "marker" not in statement
        assert marker in repr(parameters)


def test_a_deeply_nested_page_token_is_invalid_not_a_recursion_error(ordered):
    real = ordered.search_registered_models(max_results=2).token
    digest = json.loads(base64.urlsafe_b64decode(real))["search"]
    nested = "[" * 3000 + "]" * 3000
    for body in (nested, f'{{"search":"{digest}","after":{nested}}}'):
        token = base64.urlsafe_b64encode(body.encode()).decode()
        for search in (ordered.search_registered_models, ordered.search_model_versions):
            with raises_federate_error(
                INVALID_PARAMETER_VALUE, "Invalid page token", "not a page token this registry"
            ):
                search(max_results=2, page_token=token)


def test_a_filter_integer_of_thousands_of_digits_names_the_64_bit_range(populated):
    for digits in ("9" * 5000, "-" + "9" * 5000, "9223372036854775808"):
        with raises_federate_error(
            INVALID_PARAMETER_VALUE,
            "is out of range for version_number",
            "64-bit integers, -9223372036854775807 to 9223372036854775807",
        ):
            populated.search_model_versions(f"version_number > {digits}")
