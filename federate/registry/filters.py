"""MLflow's search filter and ``order_by`` grammar, parsed into a small typed tree.

A filter is one or more comparisons joined by ``AND`` (there is no ``OR``)::

    name = 'iris' AND tags.`team name` != "ml" AND version_number >= 3
    run_id IN ('a', 'b') AND source_path LIKE 's3://bucket/%'

Which attributes may be compared, and how, depends on what is searched
(:data:`REGISTERED_MODELS`, :data:`MODEL_VERSIONS`, :data:`PROMPTS`). String values are
quoted with ``'`` or ``"`` (a quote inside is doubled: ``'it''s'``); backslashes are kept
as written, because LIKE patterns use ``\\`` to escape ``%`` and ``_``. Numbers are
unquoted integers. A tag key with characters other than letters, digits, ``_ . - /`` is
quoted: ``tags.`key with spaces```.

This module knows no SQL: a store translates the tree. Anything it cannot parse raises
``FederateError(INVALID_PARAMETER_VALUE)`` naming the character where parsing stopped
and what was expected there.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from federate.errors import INVALID_PARAMETER_VALUE, FederateError

EQUALITY = ("=", "!=")
PATTERN = ("LIKE", "ILIKE")
MEMBERSHIP = ("IN", "NOT IN")
ORDERING = ("<", "<=", ">", ">=")
STRING_OPS = EQUALITY + PATTERN + MEMBERSHIP
NUMBER_OPS = EQUALITY + ORDERING
TAG_OPS = EQUALITY + PATTERN

INT64_MAX = 2**63 - 1
#: values one filter may hold in all (each becomes a bound parameter; SQLite caps those)
MAX_VALUES = 10_000
TAG_PREFIXES = ("tags.", "tag.")


@dataclass(frozen=True)
class Attribute:
    """An attribute by its MLflow name (``version_number``, not the column's name)."""

    name: str


@dataclass(frozen=True)
class Tag:
    key: str


@dataclass(frozen=True)
class Comparison:
    """``target op value``; ``op`` upper-case, ``value`` a tuple for IN and NOT IN."""

    target: Attribute | Tag
    op: str
    value: str | int | tuple[str, ...]


@dataclass(frozen=True)
class OrderKey:
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class Grammar:
    """What one kind of search accepts: attributes with their operators, and sort keys."""

    what: str
    strings: Mapping[str, tuple[str, ...]]
    numbers: tuple[str, ...]
    order_keys: tuple[str, ...]

    def accepted(self) -> str:
        """The accepted comparisons, for error messages."""
        parts = [f"{name} {'|'.join(ops)} 'text'" for name, ops in self.strings.items()]
        parts += [f"{name} {'|'.join(NUMBER_OPS)} <integer>" for name in self.numbers]
        parts.append(f"tags.<key> (or tags.`any key`) {'|'.join(TAG_OPS)} 'text'")
        return (
            f"{self.what.capitalize()} filters are comparisons joined by AND, each one of: "
            + "; ".join(parts)
            + " (IN and NOT IN take a list: ('a', 'b'))"
        )


_TIMESTAMPS = ("creation_timestamp", "last_updated_timestamp")

REGISTERED_MODELS = Grammar(
    "registered model",
    strings={"name": STRING_OPS},
    numbers=_TIMESTAMPS,
    order_keys=("name", *_TIMESTAMPS),
)
PROMPTS = Grammar(
    "prompt",
    strings={"name": STRING_OPS},
    numbers=_TIMESTAMPS,
    order_keys=("name", *_TIMESTAMPS),
)
MODEL_VERSIONS = Grammar(
    "model version",
    strings={"name": STRING_OPS, "run_id": STRING_OPS, "source_path": EQUALITY + PATTERN},
    numbers=("version_number", *_TIMESTAMPS),
    order_keys=("name", "version_number", *_TIMESTAMPS),
)


# -- tokens --------------------------------------------------------------------------------

WORD, NUMBER, STRING, QUOTED_KEY, OP, PUNCT, END = (
    "word",
    "number",
    "string",
    "quoted key",
    "operator",
    "punctuation",
    "end",
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<quoted_key>`(?:[^`]|``)*`)
  | (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<word>[^\W\d][\w.\-/]*)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str  # as written
    value: str  # unquoted for strings and keys
    pos: int  # 0-based offset in the filter

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def is_word(self, *words: str) -> bool:
        return self.kind == WORD and self.text.upper() in words

    def shown(self) -> str:
        return "the end of the filter" if self.kind == END else repr(self.text)


def _unquote(text: str) -> str:
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote)


def _tokenize(text: str, fail: _Failure) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"`":
                fail(pos, f"unterminated {char}...{char} quote starting")
            fail(pos, f"unexpected character {char!r}")
        kind = match.lastgroup
        raw = match.group()
        if kind in ("string", "quoted_key"):
            tokens.append(
                _Token(STRING if kind == "string" else QUOTED_KEY, raw, _unquote(raw), pos)
            )
        elif kind == "number":
            tokens.append(_Token(NUMBER, raw, raw, pos))
        elif kind == "word":
            tokens.append(_Token(WORD, raw, raw, pos))
        elif kind == "op":
            tokens.append(_Token(OP, raw, raw, pos))
        elif kind == "punct":
            tokens.append(_Token(PUNCT, raw, raw, pos))
        pos = match.end()
    tokens.append(_Token(END, "", "", len(text)))
    return tokens


class _Failure:
    """Raises the one error shape every parse failure has."""

    def __init__(self, text: str, grammar: Grammar) -> None:
        self.text, self.grammar = text, grammar

    def __call__(self, pos: int, problem: str, hint: str | None = None) -> NoReturn:
        hint = hint or self.grammar.accepted()
        text = self.text if len(self.text) <= 200 else f"{self.text[:160]}...{self.text[-20:]}"
        raise FederateError(
            f"Invalid {self.grammar.what} filter {text!r}: {problem} at character "
            f"{pos + 1}. {hint}",
            INVALID_PARAMETER_VALUE,
        )


# -- filters -------------------------------------------------------------------------------


def parse_filter(filter_string: str | None, grammar: Grammar) -> tuple[Comparison, ...]:
    """The comparisons of ``filter_string`` (all must hold); ``()`` for no filter."""
    if filter_string is None:
        return ()
    if not isinstance(filter_string, str):
        raise FederateError(
            f"filter_string must be a string, got {type(filter_string).__name__}",
            INVALID_PARAMETER_VALUE,
        )
    if not filter_string.strip():
        return ()
    fail = _Failure(filter_string, grammar)
    _check_encodable(filter_string, fail)
    return _FilterParser(_tokenize(filter_string, fail), grammar, fail).parse()


def _check_encodable(text: str, fail: _Failure) -> None:
    """Databases refuse NUL characters and lone surrogates; refuse them here, by position."""
    for pos, char in enumerate(text):
        if char == "\x00" or "\ud800" <= char <= "\udfff":
            fail(pos, f"character {char!r} cannot be searched for")


class _FilterParser:
    def __init__(self, tokens: list[_Token], grammar: Grammar, fail: _Failure) -> None:
        self.tokens, self.grammar, self.fail = tokens, grammar, fail
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> tuple[Comparison, ...]:
        comparisons = [self.comparison()]
        while self.peek().is_word("AND"):
            self.take()
            comparisons.append(self.comparison())
        token = self.peek()
        count = sum(len(c.value) if isinstance(c.value, tuple) else 1 for c in comparisons)
        if count > MAX_VALUES:
            self.fail(0, f"it compares with {count} values, more than {MAX_VALUES}")
        if token.kind != END:
            if token.is_word("OR"):
                self.fail(
                    token.pos, "OR is not supported", "Filters join comparisons with AND only."
                )
            self.fail(token.pos, f"expected AND or the end of the filter, found {token.shown()}")
        return tuple(comparisons)

    def comparison(self) -> Comparison:
        target = self.target()
        op = self.operator(target)
        if op in MEMBERSHIP:
            return Comparison(target, op, self.string_list())
        if isinstance(target, Attribute) and target.name in self.grammar.numbers:
            return Comparison(target, op, self.integer(target.name))
        return Comparison(target, op, self.string(target))

    def target(self) -> Attribute | Tag:
        token = self.take()
        if token.kind != WORD:
            self.fail(token.pos, f"expected an attribute or tags.<key>, found {token.shown()}")
        for prefix in TAG_PREFIXES:
            if token.text.startswith(prefix):
                return Tag(self.tag_key(token, prefix))
        known = [*self.grammar.strings, *self.grammar.numbers]
        if token.text not in known:
            close = difflib.get_close_matches(token.text, known, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(token.pos, f"unknown attribute {token.text!r}{guess}")
        return Attribute(token.text)

    def tag_key(self, token: _Token, prefix: str) -> str:
        key = token.text[len(prefix) :]
        if key:
            return key
        quoted = self.peek()
        if quoted.kind in (QUOTED_KEY, STRING) and quoted.pos == token.end and quoted.value:
            self.take()
            return quoted.value
        self.fail(
            token.end,
            f"expected a tag key right after {token.text!r}, found {quoted.shown()}",
            "Write tags.<key>, or tags.`key` when the key has characters other than "
            "letters, digits, _ . - /.",
        )

    def operator(self, target: Attribute | Tag) -> str:
        token = self.take()
        if token.kind == OP:
            op = token.text
        elif token.is_word("LIKE", "ILIKE", "IN"):
            op = token.text.upper()
        elif token.is_word("NOT") and self.peek().is_word("IN"):
            self.take()
            op = "NOT IN"
        else:
            self.fail(token.pos, f"expected a comparison operator, found {token.shown()}")
        allowed: tuple[str, ...]
        if isinstance(target, Tag):
            allowed, what = TAG_OPS, "a tag"
        elif target.name in self.grammar.numbers:
            allowed, what = NUMBER_OPS, repr(target.name)
        else:
            allowed, what = self.grammar.strings[target.name], repr(target.name)
        if op not in allowed:
            self.fail(
                token.pos,
                f"operator {op!r} cannot compare {what}",
                f"{what} takes {', '.join(allowed)}.",
            )
        return op

    def string(self, target: Attribute | Tag) -> str:
        token = self.take()
        if token.kind != STRING:
            what = f"tags.{target.key}" if isinstance(target, Tag) else target.name
            self.fail(
                token.pos,
                f"expected a quoted string to compare {what} with, found {token.shown()}",
                "Quote values with ' or \" (double a quote inside: 'it''s').",
            )
        return token.value

    def integer(self, name: str) -> int:
        token = self.take()
        if token.kind != NUMBER or not re.fullmatch(r"-?\d+", token.text):
            self.fail(
                token.pos,
                f"expected an unquoted integer to compare {name} with, found {token.shown()}",
                f"{name} compares with whole numbers: {name} >= 3.",
            )
        digits = token.text.lstrip("-")
        # compared as text first: int() of thousands of digits is slow, then refused
        if len(digits) > len(str(INT64_MAX)) or abs(value := int(token.text)) > INT64_MAX:
            shown = token.text if len(digits) <= 40 else f"of {len(digits)} digits"
            self.fail(
                token.pos,
                f"integer {shown} is out of range for {name}",
                f"{name} compares with 64-bit integers, {-INT64_MAX} to {INT64_MAX}.",
            )
        return value

    def string_list(self) -> tuple[str, ...]:
        opening = self.take()
        if opening.text != "(":
            self.fail(opening.pos, f"expected '(' to open a list, found {opening.shown()}")
        values = []
        while True:
            token = self.take()
            if token.kind != STRING:
                self.fail(token.pos, f"expected a quoted string in the list, found {token.shown()}")
            values.append(token.value)
            token = self.take()
            if token.text == ")" and token.kind == PUNCT:
                return tuple(values)
            if token.text != "," or token.kind != PUNCT:
                self.fail(token.pos, f"expected ',' or ')' in the list, found {token.shown()}")


# -- order_by ------------------------------------------------------------------------------

_ORDER_ITEM = re.compile(r"\s*(?P<key>[^\s`]+|`[^`]+`)(?:\s+(?P<direction>\S+))?\s*")


def parse_order_by(order_by: Sequence[str] | None, grammar: Grammar) -> tuple[OrderKey, ...]:
    """Sort keys from MLflow's ``order_by`` list (``["name", "version_number DESC"]``)."""
    if not order_by:
        return ()
    if isinstance(order_by, str) or not isinstance(order_by, Sequence):
        raise FederateError(
            f"order_by must be a list of strings such as ['name DESC'], got {order_by!r}",
            INVALID_PARAMETER_VALUE,
        )
    keys: list[OrderKey] = []
    for item in order_by:
        key = _order_key(item, grammar)
        if any(k.key == key.key for k in keys):
            raise FederateError(
                f"Invalid order_by {list(order_by)!r}: {key.key!r} appears more than once",
                INVALID_PARAMETER_VALUE,
            )
        keys.append(key)
    return tuple(keys)


def _order_key(item: object, grammar: Grammar) -> OrderKey:
    usage = (
        f"Use '<key> [ASC|DESC]' with key one of {', '.join(grammar.order_keys)} "
        f"({grammar.what} search)"
    )
    match = _ORDER_ITEM.fullmatch(item) if isinstance(item, str) else None
    if match is None:
        raise FederateError(f"Invalid order_by clause {item!r}. {usage}", INVALID_PARAMETER_VALUE)
    key = match["key"].strip("`")
    direction = (match["direction"] or "ASC").upper()
    if key not in grammar.order_keys:
        raise FederateError(
            f"Invalid order_by clause {item!r}: cannot sort by {key!r}. {usage}",
            INVALID_PARAMETER_VALUE,
        )
    if direction not in ("ASC", "DESC"):
        raise FederateError(
            f"Invalid order_by clause {item!r}: direction {match['direction']!r} is neither "
            f"ASC nor DESC. {usage}",
            INVALID_PARAMETER_VALUE,
        )
    return OrderKey(key, direction == "ASC")
