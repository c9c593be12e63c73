"""Kubernetes label selectors (`app=web,tier!=db,env in (a,b),!legacy`) parsed and matched."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["Requirement", "Selector", "parse_selector"]

_TOKEN = re.compile(r"\s*(?:(!=|==|=|!|,|\(|\))|([A-Za-z0-9_./-]+)|(\S))")
# Kubernetes' rules: a key is an optional DNS-subdomain prefix and "/" and a name; a value is
# empty or a name. Names start and end with an alphanumeric and may hold "-", "_" and ".".
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY = re.compile(rf"(?:{_NAME}/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")
_OPERATORS = ("=", "==", "!=", "in", "notin")


@dataclass(frozen=True)
class Requirement:
    """One clause of a selector: key, operator and values."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this clause."""
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # "!=", "notin"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies every requirement."""
        return all(r.matches(labels) for r in self.requirements)

    def equalities(self) -> dict[str, str]:
        """The `key=value` clauses, which a store may use as an index."""
        return {r.key: r.values[0] for r in self.requirements if r.op == "="}


def parse_selector(selector: str | Mapping[str, str] | Selector | None) -> Selector:
    """Parse a selector string or a `{key: value}` mapping.

    Raises:
        ValueError: the selector is malformed; the message names the offending part.
    """
    if selector is None:
        return Selector()
    if isinstance(selector, Selector):
        return selector
    if isinstance(selector, Mapping):
        return Selector(tuple(Requirement(k, "=", (v,)) for k, v in selector.items()))
    return _Parser(selector).parse()


class _Parser:
    """Recursive descent over Kubernetes' selector grammar::

    selector    := requirement ("," requirement)*
    requirement := "!" KEY
                 | KEY [("=" | "==" | "!=") VALUE | ("in" | "notin") "(" values ")"]
    values      := VALUE ("," VALUE)*
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        self.pos = 0
        for match in _TOKEN.finditer(text.rstrip()):
            symbol, word, other = match.groups()
            if other is not None:
                self.fail(f"the character {other!r} at position {match.start(3)} is not allowed")
            self.tokens.append(symbol or word)

    def fail(self, problem: str) -> NoReturn:
        raise ValueError(f"label selector {self.text!r} is malformed: {problem}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, what: str) -> str:
        token = self.peek()
        if token is None:
            self.fail(f"it ends where {what} was expected")
        self.pos += 1
        return token

    def word(self, pattern: re.Pattern[str], what: str) -> str:
        token = self.take(f"a {what}")
        if not pattern.fullmatch(token):
            self.fail(f"{token!r} is not a valid {what}")
        return token

    def parse(self) -> Selector:
        if not self.tokens:
            return Selector()
        reqs = [self.requirement()]
        while self.peek() is not None:
            if (token := self.take("','")) != ",":
                self.fail(f"expected ',' between clauses, found {token!r}")
            reqs.append(self.requirement())
        return Selector(tuple(reqs))

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.pos += 1
            key = self.word(_KEY, "label key")
            if self.peek() not in (None, ","):
                self.fail(f"'!{key}' tests that the label is absent and takes no operator")
            return Requirement(key, "!exists")
        key = self.word(_KEY, "label key")
        if self.peek() in (None, ","):
            return Requirement(key, "exists")
        op = self.take("an operator")
        if op not in _OPERATORS:
            self.fail(f"expected one of =, ==, !=, in, notin after {key!r}, found {op!r}")
        if op in ("=", "==", "!="):
            value = "" if self.peek() in (None, ",") else self.word(_VALUE, "label value")
            return Requirement(key, "!=" if op == "!=" else "=", (value,))
        if self.take("'('") != "(":
            self.fail(f"expected '(' after {op!r}")
        values = [self.word(_VALUE, "label value")]
        while (token := self.take("')'")) != ")":
            if token != ",":
                self.fail(f"expected ',' or ')' in the values of {key!r}, found {token!r}")
            values.append(self.word(_VALUE, "label value"))
        return Requirement(key, op, tuple(values))
