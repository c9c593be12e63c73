"""Kubernetes label selectors (`app=web,tier!=db,env in (a,b),!legacy`) parsed and matched."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Requirement", "Selector", "parse_selector"]

_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|[A-Za-z0-9_./-]+)\s*")


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
    tokens = [t for t in _TOKEN.findall(selector)]
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", selector):
        raise ValueError(f"label selector {selector!r} contains characters that are not allowed")
    reqs: list[Requirement] = []
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"label selector {selector!r} ends too early")
        pos += 1
        return str(tokens[pos - 1])

    while pos < len(tokens):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(take(), "!exists"))
        else:
            key = tok
            nxt = tokens[pos] if pos < len(tokens) else ","
            if nxt in ("=", "=="):
                pos += 1
                reqs.append(Requirement(key, "=", (take(),)))
            elif nxt == "!=":
                pos += 1
                reqs.append(Requirement(key, "!=", (take(),)))
            elif nxt in ("in", "notin"):
                pos += 1
                if take() != "(":
                    raise ValueError(f"label selector {selector!r}: expected '(' after {nxt}")
                values: list[str] = []
                while (tok := take()) != ")":
                    if tok != ",":
                        values.append(tok)
                reqs.append(Requirement(key, nxt, tuple(values)))
            else:
                reqs.append(Requirement(key, "exists"))
        if pos < len(tokens) and take() != ",":
            raise ValueError(f"label selector {selector!r}: clauses must be separated by ','")
    return Selector(tuple(reqs))
