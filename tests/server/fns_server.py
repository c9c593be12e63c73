"""Functions the server tests run: a gate, a failure that heals on retry, a stuck backoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

import kontinue
from kontinue.sdk import ExecuteOptions


class DeployArgs(BaseModel):
    """What to deploy."""

    service: str = Field(description="The service to deploy")
    replicas: int = Field(default=2, ge=1, description="How many replicas")
    environment: Literal["staging", "production"] = Field(
        default="staging", description="Where to deploy"
    )
    dry_run: bool = Field(default=False, description="Only show what would change")


@kontinue.function("deploy", description="Deploy a service after an approval")
def deploy(ktx: kontinue.ExecutionContext, args: DeployArgs) -> dict[str, object]:
    kontinue.set_progress(ktx, 0, 2)
    kontinue.suspend(ktx, kontinue.SuspendOptions(display_name=f"Approve {args.service}"))
    kontinue.set_progress(ktx, 2, 2)
    return {"deployed": args.service, "replicas": args.replicas}


@kontinue.function("heals", description="Fails on its first attempt, works on a retry")
def heals(ktx: kontinue.ExecutionContext, args: dict) -> str:
    if ktx.attempts() == 0:
        raise kontinue.new_non_retryable_error(None, "the database was down")
    return "healed"


@kontinue.function("stuck", description="Fails and waits an hour before each retry")
def stuck(ktx: kontinue.ExecutionContext, args: dict) -> str:
    raise kontinue.new_retryable_error(None, "the upstream keeps timing out")


@kontinue.function("calls-stuck", description="Calls `stuck`, then finishes")
def calls_stuck(ktx: kontinue.ExecutionContext, args: dict) -> str:
    result = kontinue.execute(
        ktx,
        "stuck",
        {},
        opts=ExecuteOptions(
            name="flaky-step",
            retry=kontinue.RetryOptions(retries=5, backoff=timedelta(hours=1)),
        ),
    )
    return f"went on after the child gave {result!r}"


@kontinue.function("naps", description="Sleeps an hour")
def naps(ktx: kontinue.ExecutionContext, args: dict) -> str:
    kontinue.sleep(ktx, timedelta(hours=1))
    return "rested"
