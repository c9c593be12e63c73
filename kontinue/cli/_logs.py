"""`kontinue logs NAME [STEP] [-f]`: the logs of an Execution's jobs, pods and scripts."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from kontinue.api import Execution, JobEntry
from kontinue.cli._errors import UsageError
from kontinue.runners import JobNotFoundError
from kontinue.runtime import mask, tree_executions, tree_secret_values
from kontinue.store import Store

__all__ = ["logs"]


@dataclass(frozen=True)
class _Target:
    execution: str
    step: str
    job: str
    runner: str
    running: bool


def _targets(store: Store, root: Execution) -> list[_Target]:
    found: list[_Target] = []
    for ex in tree_executions(store, root):
        ns, name = ex.metadata.namespace, ex.metadata.name
        for entry in store.read_entries(ns, name):
            if isinstance(entry, JobEntry):
                job = entry.job
                found.append(_Target(name, entry.name, job["name"], job["runner"], False))
        waiting = ex.status.waiting_on
        if waiting is not None and waiting.kind == "job" and waiting.names:
            found.append(
                _Target(name, waiting.step or "", waiting.names[0], waiting.runner or "local", True)
            )
    return found


def logs(args: argparse.Namespace, runners: dict[str, Any]) -> int:
    """Print (or follow) the logs of one step, or of every job step in the tree."""
    from kontinue.cli._commands import _store

    store = _store(args)
    root = store.get(Execution, args.namespace, args.name)
    targets = _targets(store, root)
    if args.step:
        chosen = [t for t in targets if t.step == args.step]
        if not chosen:
            steps = ", ".join(sorted({t.step for t in targets})) or "none"
            raise UsageError(
                f"Execution {args.name} has no job, pod or script step {args.step!r} "
                f"(steps with logs: {steps})"
            )
        targets = chosen
    elif not targets:
        raise UsageError(f"Execution {args.name} has run no job, pod or script step yet")
    missing = 0
    secrets = tree_secret_values(store, root)  # a script that echoes a secret shows ******
    for target in targets:
        runner = runners.get(target.runner)
        if runner is None:
            raise UsageError(f"step {target.step!r} ran on the {target.runner} runner, not here")
        if len(targets) > 1:
            sys.stdout.write(f"==> {target.step} ({target.execution}) <==\n")
        try:
            if args.follow and hasattr(runner, "follow"):
                for line in runner.follow(target.job, args.namespace, tail_lines=args.tail):
                    sys.stdout.write(mask(line, secrets) + "\n")
                    sys.stdout.flush()
            else:
                text = mask(runner.logs(target.job, args.namespace, tail_lines=args.tail), secrets)
                sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        except JobNotFoundError as exc:
            missing += 1
            sys.stderr.write(
                f"kontinue: the logs of step {target.step!r} are gone: {exc} (the job was "
                "deleted or garbage-collected)\n"
            )
    return 1 if missing else 0


def wait_briefly() -> None:
    """A short pause between polls of a following log."""
    time.sleep(0.2)
