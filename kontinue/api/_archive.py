"""ArchivedExecution: a finished Execution tree kept compactly after its live objects go."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime
from typing import Any, ClassVar

from kontinue.api._meta import Resource, WireModel

__all__ = ["ArchivedExecution", "ArchivedExecutionSpec", "pack_tree", "unpack_tree"]


def pack_tree(tree: dict[str, Any]) -> str:
    """Serialise and compress a tree (Executions, Suspensions, journals) to text."""
    raw = json.dumps(tree, separators=(",", ":"), sort_keys=True).encode()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_tree(data: str) -> dict[str, Any]:
    """The tree `pack_tree` packed."""
    tree: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(data)))
    return tree


class ArchivedExecutionSpec(WireModel):
    """A summary of the archived root Execution, and the whole tree packed in `data`."""

    function: str
    phase: str
    arguments: Any = None
    result: Any = None
    message: str | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    archive_time: datetime
    delete_at: datetime | None = None
    executions: int = 0
    suspensions: int = 0
    steps: int = 0
    encoding: str = "zlib+base64"
    data: str = ""


class ArchivedExecution(Resource):
    """A finished Execution tree, archived by its TTL (`kind: ArchivedExecution`)."""

    KIND: ClassVar[str] = "ArchivedExecution"
    PLURAL: ClassVar[str] = "archivedexecutions"
    HAS_STATUS: ClassVar[bool] = False

    spec: ArchivedExecutionSpec

    def tree(self) -> dict[str, Any]:
        """The packed tree: `executions`, `suspensions` (wire dicts) and `journals` by name."""
        return unpack_tree(self.spec.data) if self.spec.data else {}
