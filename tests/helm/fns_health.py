"""A function for the health-port test's worker."""

import kontinue


@kontinue.function("health-noop")
def noop(ctx: kontinue.ExecutionContext, args: dict[str, object]) -> str:
    return "ok"
