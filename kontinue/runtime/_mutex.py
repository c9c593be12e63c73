"""Mutex naming: the Mutex resource behind an `ExecutionMutex` key."""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "FUNCTION_KEY",
    "MUTEX_KEY",
    "WAITING_FOR_SLOT",
    "WAITING_PREFIX",
    "mutex_resource_name",
    "semaphore_resource_name",
]

WAITING_PREFIX = "waiting for mutex "
"""How the status message of an Execution queued behind a mutex begins."""

WAITING_FOR_SLOT = "waiting for a free slot of function "
"""How the status message of an Execution queued behind its function's limit begins."""

MUTEX_KEY = "kontinue.cloud/key"
"""Annotation of a Mutex resource: the mutex name it stands for."""

FUNCTION_KEY = "kontinue.cloud/function"
"""Annotation of a function's semaphore: the function it limits."""


def mutex_resource_name(key: str) -> str:
    """A valid resource name for a mutex key (any string), stable across processes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")[:40] or "mutex"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def semaphore_resource_name(function: str) -> str:
    """The Mutex resource that counts the running Executions of a limited function."""
    return mutex_resource_name(f"function/{function}")
