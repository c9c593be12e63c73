"""Deterministic Kubernetes names and label values: sanitised, and shortened with a stable hash."""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_NAME_LENGTH", "kube_name", "label_value"]

MAX_NAME_LENGTH = 63
"""A Job's name is also the value of its pods' `job-name` label, so it is held to 63 chars."""

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_HASH_LENGTH = 8


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def kube_name(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Return `name` as a valid DNS-1123 label of at most `max_length` characters.

    A valid name comes back unchanged. Otherwise the name is lower-cased, characters other
    than `a-z`, `0-9` and `-` become `-`, it is cut short, and `-` plus the first 8 hex digits
    of the SHA-256 of the *original* name are appended, so two long names that share a prefix
    still get different results, and the same name always gets the same result. The function
    is idempotent: ``kube_name(kube_name(n)) == kube_name(n)``.

    Raises:
        ValueError: the name is empty.
    """
    if not name:
        raise ValueError("a job name must not be empty")
    if len(name) <= max_length and _NAME.fullmatch(name):
        return name
    cleaned = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    base = cleaned[: max_length - _HASH_LENGTH - 1].rstrip("-")
    suffix = _digest(name)
    return f"{base}-{suffix}" if base else suffix


def label_value(value: str) -> str:
    """Return `value` as a valid Kubernetes label value (at most 63 characters).

    A valid value comes back unchanged; others are cleaned and shortened like `kube_name`,
    keeping their case, with a stable hash of the original appended.
    """
    if len(value) <= MAX_NAME_LENGTH and _LABEL_VALUE.fullmatch(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    base = re.sub(r"[^A-Za-z0-9]+$", "", cleaned[: MAX_NAME_LENGTH - _HASH_LENGTH - 1])
    suffix = _digest(value)
    return f"{base}-{suffix}" if base else suffix
