"""Functions for the CLI tests."""

from __future__ import annotations

from pydantic import BaseModel

import kontinue


class GreetArgs(BaseModel):
    name: str
    times: int = 2


class GreetResult(BaseModel):
    greetings: list[str]


@kontinue.function("greet", description="Greet someone a few times")
def greet(ktx: kontinue.ExecutionContext, args: GreetArgs) -> GreetResult:
    out = []
    for i in range(args.times):
        out.append(kontinue.store(ktx, lambda i=i: f"hello {args.name} #{i}"))
        kontinue.set_progress(ktx, i + 1, args.times)
    kontinue.set_message(ktx, f"greeted {args.name}")
    return GreetResult(greetings=out)


@kontinue.function("explode", description="Always fails")
def explode(ktx: kontinue.ExecutionContext, args: dict) -> None:
    kontinue.store(ktx, lambda: "before")
    raise kontinue.new_non_retryable_error(None, f"cannot deploy to {args.get('env', 'prod')}")


@kontinue.function("delegates", description="Calls a function this module does not define")
def delegates(ktx: kontinue.ExecutionContext, args: dict) -> dict:
    return {"answer": kontinue.execute(ktx, "defined-elsewhere", {"q": 1})}
