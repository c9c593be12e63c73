"""Python steps for pipelines/custom-step.yaml, registered with `@kontinue.function`."""

from __future__ import annotations

from typing import Any

import kontinue


@kontinue.function("greet", description="Build a greeting for a pipeline step.")
def greet(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Return `{"message": "hello, NAME"}`, with an exclamation mark when `excited`."""
    message = f"hello, {args.get('name', 'world')}"
    if args.get("excited"):
        message += "!"
    return {"message": message}
