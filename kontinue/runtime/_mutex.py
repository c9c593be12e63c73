"""Mutex naming: the Mutex resource behind an `ExecutionMutex` key."""

from __future__ import annotations

import hashlib
import re

__all__ = ["WAITING_PREFIX", "mutex_resource_name"]

WAITING_PREFIX = "waiting for mutex "
"""How the status message of an Execution queued behind a mutex begins."""


def mutex_resource_name(key: str) -> str:
    """A valid resource name for a mutex key (any string), stable across processes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")[:40] or "mutex"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
