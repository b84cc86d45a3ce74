"""The models:/ and prompts:/ URI grammar (federate.uri).

MLflow's ``_parse_model_uri`` forms, plus federate's differences: empty names are
rejected, ``models:/m@a/1`` is rejected, prompts take only a version or an alias, known
stages are canonicalised, ``models://<profile>/...`` names a registry, percent-encoding
is decoded and the version is an int.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

import federate
from federate.uri import ModelRef, is_registry_uri, parse_uri


def M(**kw: object) -> ModelRef:  # noqa: N802 - reads like a constructor in the tables
    return ModelRef("models", **kw)  # type: ignore[arg-type]


def P(**kw: object) -> ModelRef:  # noqa: N802
    return ModelRef("prompts", **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- valid forms

VALID_MODELS = [
    # name/version
    ("models:/m/1", M(name="m", version=1)),
    ("models:/m/0", M(name="m", version=0)),
    ("models:/m/007", M(name="m", version=7)),
    ("models:/m/12345678901234567890", M(name="m", version=12345678901234567890)),
    ("models:/123/4", M(name="123", version=4)),
    ("models:/latest/1", M(name="latest", version=1)),
    # name/stage: known stages canonicalised in any case
    ("models:/m/Production", M(name="m", stage="Production")),
    ("models:/m/production", M(name="m", stage="Production")),
    ("models:/m/PRODUCTION", M(name="m", stage="Production")),
    ("models:/m/Staging", M(name="m", stage="Staging")),
    ("models:/m/staging", M(name="m", stage="Staging")),
    ("models:/m/Archived", M(name="m", stage="Archived")),
    ("models:/m/archived", M(name="m", stage="Archived")),
    ("models:/m/None", M(name="m", stage="None")),
    ("models:/m/none", M(name="m", stage="None")),
    ("models:/m/Pro%64uction", M(name="m", stage="Production")),
    # unknown stage strings still parse (MLflow does the same), kept verbatim
    ("models:/m/Prod", M(name="m", stage="Prod")),
    ("models:/m/canary", M(name="m", stage="canary")),
    ("models:/m/1.0", M(name="m", stage="1.0")),
    # name/latest, any case: name only
    ("models:/m/latest", M(name="m")),
    ("models:/m/LATEST", M(name="m")),
    ("models:/m/Latest", M(name="m")),
    # name@alias
    ("models:/m@champion", M(name="m", alias="champion")),
    ("models:/m@1", M(name="m", alias="1")),
    ("models:/m@latest", M(name="m", alias="latest")),
    ("models:/m@Production", M(name="m", alias="Production")),
    ("models:/m@a@b", M(name="m@a", alias="b")),  # MLflow splits on the last '@'
    # model id: one segment, no '@'
    ("models:/m-0123456789abcdef", M(model_id="m-0123456789abcdef")),
    ("models:/m", M(model_id="m")),
    ("models:/m-%41", M(model_id="m-A")),
    # profiles
    ("models://prod/m/1", M(name="m", version=1, profile="prod")),
    ("models://prod/m/production", M(name="m", stage="Production", profile="prod")),
    ("models://prod/m/latest", M(name="m", profile="prod")),
    ("models://prod/m@champion", M(name="m", alias="champion", profile="prod")),
    ("models://prod/m-abc", M(model_id="m-abc", profile="prod")),
    ("models://my%20prof/m/1", M(name="m", version=1, profile="my prof")),
    ("models://Prod/m/1", M(name="m", version=1, profile="Prod")),
    ("models:///m/1", M(name="m", version=1)),  # empty profile -> None
    ("models:///m@a", M(name="m", alias="a")),
    # percent-encoding
    ("models:/my%20model/1", M(name="my model", version=1)),
    ("models:/my%20model@my%20alias", M(name="my model", alias="my alias")),
    ("models:/a%25b/1", M(name="a%b", version=1)),
    ("models:/a%40b@x", M(name="a@b", alias="x")),
    ("models:/%E6%A8%A1%E5%9E%8B/2", M(name="模型", version=2)),
    # dots, spaces, non-ASCII
    ("models:/cat.schema.model/1", M(name="cat.schema.model", version=1)),
    ("models:/cat.schema.model@champion", M(name="cat.schema.model", alias="champion")),
    ("models:/cat.schema.model/latest", M(name="cat.schema.model")),
    ("models://uc/cat.schema.model/3", M(name="cat.schema.model", version=3, profile="uc")),
    ("models:/my model/1", M(name="my model", version=1)),
    ("models:/my model@my alias", M(name="my model", alias="my alias")),
    ("models:/größe ünïcödé/1", M(name="größe ünïcödé", version=1)),
    ("models:/模型@冠军", M(name="模型", alias="冠军")),
    ("models:/модель/Staging", M(name="модель", stage="Staging")),
    # scheme is case-insensitive and normalised
    ("MODELS:/m/1", M(name="m", version=1)),
    ("Models:/m@a", M(name="m", alias="a")),
    ("MODELS://prod/m/latest", M(name="m", profile="prod")),
]

VALID_PROMPTS = [
    ("prompts:/p/1", P(name="p", version=1)),
    ("prompts:/p/007", P(name="p", version=7)),
    ("prompts:/p@production", P(name="p", alias="production")),
    ("prompts:/p@latest", P(name="p", alias="latest")),
    ("prompts:/p@a@b", P(name="p@a", alias="b")),
    ("prompts://prod/p/1", P(name="p", version=1, profile="prod")),
    ("prompts://prod/p@champion", P(name="p", alias="champion", profile="prod")),
    ("prompts:///p/1", P(name="p", version=1)),
    ("prompts:/my%20prompt/2", P(name="my prompt", version=2)),
    ("prompts:/my prompt@my alias", P(name="my prompt", alias="my alias")),
    ("prompts:/cat.schema.prompt@a", P(name="cat.schema.prompt", alias="a")),
    ("prompts:/提示/1", P(name="提示", version=1)),
    ("PROMPTS:/p/1", P(name="p", version=1)),
    ("Prompts://prod/p@a", P(name="p", alias="a", profile="prod")),
]

VALID = VALID_MODELS + VALID_PROMPTS
VALID_IDS = [uri for uri, _ in VALID]


@pytest.mark.parametrize("uri, expected", VALID, ids=VALID_IDS)
def test_valid_uri_parses_to_expected_ref(uri: str, expected: ModelRef) -> None:
    ref = parse_uri(uri)
    assert ref == expected
    assert ref.is_prompt is (expected.scheme == "prompts")


def test_parse_uri_is_exported_at_top_level() -> None:
    assert federate.parse_uri is parse_uri
    assert federate.ModelRef is ModelRef


@pytest.mark.parametrize("uri, expected", VALID, ids=VALID_IDS)
def test_exactly_one_selector_is_set_unless_latest(uri: str, expected: ModelRef) -> None:
    ref = parse_uri(uri)
    selectors = [ref.version, ref.stage, ref.alias, ref.model_id]
    set_count = sum(s is not None for s in selectors)
    if ref.is_latest:
        assert set_count == 0 and ref.name is not None
    else:
        assert set_count == 1
    # a model id stands alone; everything else names a model
    assert (ref.model_id is None) is (ref.name is not None)


@pytest.mark.parametrize(
    "uri, latest",
    [
        ("models:/m/latest", True),
        ("models:/m/LATEST", True),
        ("models:/m/lAtEsT", True),
        ("models://prod/m/latest", True),
        ("models:/m/1", False),
        ("models:/m/Production", False),
        ("models:/m@latest", False),
        ("models:/m", False),
        ("models:/latest", False),  # a model id that happens to be 'latest'
        ("prompts:/p/1", False),
        ("prompts:/p@latest", False),
    ],
)
def test_is_latest(uri: str, latest: bool) -> None:
    assert parse_uri(uri).is_latest is latest


def test_version_is_an_int_not_a_string() -> None:
    ref = parse_uri("models:/m/42")
    assert type(ref.version) is int and ref.version == 42


def test_model_ref_is_hashable_and_immutable() -> None:
    ref = parse_uri("models:/m@a")
    assert {ref, parse_uri("models:/m@a")} == {ref}
    with pytest.raises(AttributeError):
        ref.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- str / round trip


@pytest.mark.parametrize("uri, expected", VALID, ids=VALID_IDS)
def test_str_round_trips(uri: str, expected: ModelRef) -> None:
    ref = parse_uri(uri)
    text = str(ref)
    assert isinstance(text, str)
    assert parse_uri(text) == ref


@pytest.mark.parametrize(
    "uri, canonical",
    [
        ("models:/m/1", "models:/m/1"),
        ("MODELS:/m/007", "models:/m/7"),
        ("models:/m/production", "models:/m/Production"),
        ("models:/m/Prod", "models:/m/Prod"),
        ("models:/m/LATEST", "models:/m/latest"),
        ("models:/m@champion", "models:/m@champion"),
        ("models:/m-abc", "models:/m-abc"),
        ("models:///m/1", "models:/m/1"),
        ("models://prod/m@a", "models://prod/m@a"),
        ("models://prod/m-abc", "models://prod/m-abc"),
        ("models:/cat.schema.model/2", "models:/cat.schema.model/2"),
        ("prompts:/p/3", "prompts:/p/3"),
        ("Prompts://prod/p@a", "prompts://prod/p@a"),
    ],
)
def test_str_is_canonical(uri: str, canonical: str) -> None:
    assert str(parse_uri(uri)) == canonical


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("models:/a%3Fb/1", id="question-mark-in-name"),
        pytest.param("models:/a%2541/1", id="literal-percent-escape-in-name"),
        pytest.param("models:/m@a%2Fb", id="slash-in-alias"),
        pytest.param("models:/%40abc", id="model-id-starting-with-at"),
        pytest.param("models://a%2Fb/m/1", id="slash-in-profile"),
    ],
)
def test_str_round_trips_names_needing_percent_encoding(uri: str) -> None:
    ref = parse_uri(uri)
    assert parse_uri(str(ref)) == ref


def test_percent_encoded_at_sign_in_name_with_version() -> None:
    assert parse_uri("models:/a%40b/1") == M(name="a@b", version=1)


# --------------------------------------------------------------------------- invalid forms

WRONG_SCHEME = [
    # not a registry scheme at all (the message shows the models forms)
    "runs:/x",
    "runs:/abc/artifacts/model",
    "s3://b/k",
    "file:///tmp/models/m",
    "http://host/models:/m/1",
    "model:/m/1",
    "modelsx:/m/1",
    "",
    "models",
    "m/1",
    "/models/m/1",
]

INVALID_MODELS = [
    # missing / empty path
    "models:",
    "models:/",
    "models://",
    "models://prod",
    "models://prod/",
    "models:m/1",
    # too many segments
    "models:/a/b/c",
    "models:/m/1/",
    "models://prod/a/b/c",
    "models:/a%2Fb/c/1",
    # empty suffix
    "models:/m/",
    "models:/m/ ",
    "models:/m/%20",
    # empty alias
    "models:/m@",
    "models:/m@ ",
    "models:/m@%20",
    "models://prod/m@",
    # empty name / model id
    "models:/@alias",
    "models:/@",
    "models:/ @a",
    "models:/ /1",
    "models:/%20/1",
    "models:/%20/latest",
    "models:/ ",
    "models:/%20",
    "models://prod/@a",
    "models://prod/ /1",
    # alias and suffix together
    "models:/m@a/1",
    "models:/m@a/latest",
    "models:/m@a/Production",
    "models:/m@a/",
    # query strings
    "models:/m/1?x=1",
    "models:/m@a?x=1",
    "models:/m?x",
    "models://prod/m/1?x=1",
]

INVALID_PROMPTS = [
    "prompts:/p/latest",
    "prompts:/p/LATEST",
    "prompts:/p/Production",
    "prompts:/p/staging",
    "prompts:/p/None",
    "prompts:/p/Prod",
    "prompts:/p",
    "prompts:/p-0123",
    "prompts://prod/p",
    "prompts://prod/p/latest",
    "prompts:",
    "prompts:/",
    "prompts://prod",
    "prompts:/p/",
    "prompts:/p@",
    "prompts:/@a",
    "prompts:/ /1",
    "prompts:/%20/1",
    "prompts:/a/b/c",
    "prompts:/p@a/1",
    "prompts:/p/1?x=1",
    "PROMPTS:/p/latest",
]


def _assert_invalid(err: federate.FederateError) -> None:
    assert isinstance(err, federate.FederateError)
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.http_status == 400


@pytest.mark.parametrize("uri", WRONG_SCHEME + INVALID_MODELS)
def test_invalid_models_uri_raises_with_accepted_forms(uri: str) -> None:
    with pytest.raises(federate.FederateError) as info:
        parse_uri(uri)
    _assert_invalid(info.value)
    msg = str(info.value)
    assert repr(uri) in msg
    for form in (
        "models:/<name>/<version>",
        "models:/<name>/<stage>",
        "models:/<name>/latest",
        "models:/<name>@<alias>",
        "models:/<model_id>",
    ):
        assert form in msg


@pytest.mark.parametrize("uri", INVALID_PROMPTS)
def test_invalid_prompts_uri_raises_with_prompt_forms(uri: str) -> None:
    with pytest.raises(federate.FederateError) as info:
        parse_uri(uri)
    _assert_invalid(info.value)
    msg = str(info.value)
    assert repr(uri) in msg
    assert "prompts:/<name>/<version>" in msg
    assert "prompts:/<name>@<alias>" in msg
    # the prompt message does not advertise forms prompts do not accept
    assert "<stage>" not in msg
    assert "<name>/latest" not in msg


@pytest.mark.parametrize(
    "value",
    [None, 3, 1.5, b"models:/m/1", ["models:/m/1"], PurePosixPath("models:/m/1")],
    ids=["None", "int", "float", "bytes", "list", "path"],
)
def test_non_string_input_raises(value: object) -> None:
    with pytest.raises(federate.FederateError) as info:
        parse_uri(value)  # type: ignore[arg-type]
    _assert_invalid(info.value)
    msg = str(info.value)
    assert type(value).__name__ in msg
    assert "models:/<name>@<alias>" in msg
    assert "prompts:/<name>@<alias>" in msg


@pytest.mark.parametrize(
    "uri, scheme",
    [
        pytest.param("models://[/m/1", "models", id="unclosed-bracket-in-profile"),
        pytest.param("models://a]b/m/1", "models", id="stray-bracket-in-profile"),
        pytest.param("prompts://[::1/p/1", "prompts", id="unclosed-ipv6-profile"),
    ],
)
def test_bracket_in_profile_raises_federate_error(uri: str, scheme: str) -> None:
    # urlsplit raises ValueError('Invalid IPv6 URL') here; it must not escape parse_uri
    with pytest.raises(federate.FederateError) as info:
        parse_uri(uri)
    _assert_invalid(info.value)
    msg = str(info.value)
    assert repr(uri) in msg
    assert f"{scheme}:/<name>@<alias>" in msg


def test_invalid_message_suggests_profile_prefix() -> None:
    with pytest.raises(federate.FederateError) as info:
        parse_uri("models:/m@")
    assert "models://prod/<name>@<alias>" in str(info.value)


# --------------------------------------------------------------------------- is_registry_uri


@pytest.mark.parametrize(
    "uri",
    [
        "models:/m/1",
        "prompts:/p/1",
        "MODELS:/m/1",
        "Prompts:/p@a",
        "models://prod/m@a",
        "models:",  # routed to the registry so parse_uri can say what is wrong
        "models:/m/1?x=1",
        "prompts:/p/latest",
    ],
)
def test_is_registry_uri_true(uri: str) -> None:
    assert is_registry_uri(uri) is True


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "models",
        "models/m/1",
        "./models/m/1",
        "/tmp/models:/m/1",
        "runs:/abc/model",
        "s3://bucket/models/m/1",
        "file:///models/m/1",
        "model:/m/1",
        "modelsx:/m/1",
        "prompt:/p/1",
        "C:\\models\\m",
        "https://host/models:/m",
    ],
)
def test_is_registry_uri_false(uri: str) -> None:
    assert is_registry_uri(uri) is False


@pytest.mark.parametrize("uri", VALID_IDS + INVALID_MODELS + INVALID_PROMPTS)
def test_every_registry_scheme_uri_is_routed_to_parse_uri(uri: str) -> None:
    # valid or not, a models:/prompts: URI goes to parse_uri (which explains what is wrong)
    # rather than being opened as a storage path
    assert is_registry_uri(uri) is True


@pytest.mark.parametrize("uri", WRONG_SCHEME)
def test_wrong_scheme_uri_is_not_routed_to_the_registry(uri: str) -> None:
    assert is_registry_uri(uri) is False


@pytest.mark.parametrize(
    "uri", [" models:/m/1", "models:/m/1 ", "models:/m\t/1", "models:/m/1\n", "prompts:/p\r@a"]
)
def test_control_characters_and_surrounding_whitespace_are_rejected(uri: str) -> None:
    # urlsplit would silently drop them and resolve a different name than the one typed
    with pytest.raises(federate.FederateError) as exc:
        parse_uri(uri)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "control characters" in exc.value.message


@pytest.mark.parametrize(
    "uri, reason",
    [
        pytest.param("models:/m/1?", "query strings", id="empty-query"),
        pytest.param("models:/m/Production#x", "fragments", id="fragment-in-stage"),
        pytest.param("models:/m#1@champion", "fragments", id="fragment-in-name"),
        pytest.param("models:/m%zz/1", "%XX escape", id="stray-percent"),
        pytest.param("models:/m%/1", "%XX escape", id="trailing-percent"),
        pytest.param("models:/m%ff/1", "UTF-8", id="escape-not-utf8"),
        pytest.param("prompts:/p%C3@prod", "UTF-8", id="truncated-utf8-escape"),
    ],
)
def test_ambiguous_characters_are_errors_not_guesses(uri: str, reason: str) -> None:
    with pytest.raises(federate.FederateError) as info:
        parse_uri(uri)
    _assert_invalid(info.value)
    assert reason in str(info.value) and repr(uri) in str(info.value)


def test_escaped_specials_round_trip_through_str() -> None:
    for name in ["a#b", "a?b", "50%", "é"]:
        ref = ModelRef("models", name=name, version=2)
        assert parse_uri(str(ref)) == ref


@pytest.mark.parametrize("uri", ["models:/iris@@x", "prompts:/p@@a", "models://prod/m@@"])
def test_a_doubled_at_sign_is_refused_not_read_into_the_name(uri: str) -> None:
    # models:/iris@@x used to resolve the model "iris@" (MLflow's split on the last '@');
    # a name that really ends in '@' is written %40.
    with pytest.raises(federate.FederateError) as info:
        parse_uri(uri)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'@@'" in info.value.message and "%40" in info.value.message


def test_a_name_ending_in_an_at_sign_is_written_percent_encoded() -> None:
    assert parse_uri("models:/iris%40@x") == M(name="iris@", alias="x")
