"""`kontinue resume NAME [STEP]`: find the gate or sleep the user means, and resolve it.

STEP may be the step's name as written in the pipeline or the function (`approve-production`,
`gate`, `soak`), the Suspension's own name, or its display name; with no STEP the single open
gate or sleep of the tree is meant. Gates in child Executions are found from the root.
"""

from __future__ import annotations

import argparse
import sys

from kontinue.api import Execution, Suspension
from kontinue.cli._errors import UsageError
from kontinue.cli._flags import add_resume
from kontinue.cli._hints import command
from kontinue.runtime import OperationError, resume_execution, tree_executions, tree_suspensions
from kontinue.store import Store

__all__ = ["add_parser_arguments", "find_open", "resume", "step_word"]

_RESUMABLE = ("Suspend", "Sleep")


def add_parser_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `resume` (declared in `_flags`, which the parser imports cheaply)."""
    add_resume(p)


def _subtree_suspensions(store: Store, ex: Execution) -> list[Suspension]:
    names = {e.metadata.name for e in tree_executions(store, ex)}
    found = tree_suspensions(store, ex).values()
    return sorted(
        (s for s in found if s.spec.execution in names and s.spec.type in _RESUMABLE),
        key=lambda s: str(s.metadata.creation_timestamp),
    )


def find_open(store: Store, ex: Execution) -> list[Suspension]:
    """The open gates and sleeps of `ex` and the Executions below it, oldest first."""
    return [s for s in _subtree_suspensions(store, ex) if not s.status.resolved]


def step_word(store: Store, root: Execution, sus: Suspension) -> str:
    """What to type after `kontinue resume ROOT` for `sus`: its step name when that is unique."""
    same = [s for s in _subtree_suspensions(store, root) if s.spec.step == sus.spec.step]
    return sus.spec.step if len(same) == 1 else sus.metadata.name


def _listing(store: Store, root: Execution, items: list[Suspension]) -> str:
    lines = []
    for s in items:
        what = s.spec.display_name or s.spec.step
        kind = "gate" if s.spec.type == "Suspend" else "sleep"
        word = step_word(store, root, s)
        lines.append(
            f"  {kind} {what} ({s.spec.execution}): {command('resume', root.metadata.name, word)}"
        )
    return "\n".join(lines)


def _matches(sus: Suspension, step: str) -> bool:
    return step in (sus.metadata.name, sus.spec.step, sus.spec.display_name)


def choose(store: Store, ex: Execution, step: str | None, every: bool) -> list[Suspension]:
    """The Suspensions `kontinue resume NAME [STEP]` means.

    Raises:
        UsageError: STEP names nothing open, or several things are open and none was named.
        OperationError: nothing is open at all (the caller may run the tree on instead).
    """
    name = ex.metadata.name
    everything = _subtree_suspensions(store, ex)
    open_ = [s for s in everything if not s.status.resolved]
    if step is None:
        if not open_:
            raise OperationError(
                f'Execution "{name}" is {ex.status.phase} and has no open gate or sleep to resume'
            )
        if len(open_) > 1 and not every:
            raise UsageError(
                f"Execution {name} has {len(open_)} open gates or sleeps; name the one to "
                f"resume (or pass --all):\n{_listing(store, ex, open_)}"
            )
        return open_
    matched = [s for s in everything if _matches(s, step)]
    if not matched:
        is_open = f"open now:\n{_listing(store, ex, open_)}" if open_ else "none is open now"
        raise UsageError(
            f"Execution {name} has no gate or sleep {step!r} (not reached yet, or no such "
            f"step); {is_open}"
        )
    waiting = [s for s in matched if not s.status.resolved]
    if not waiting:
        done = matched[-1]
        raise UsageError(
            f"the {step!r} step of Execution {done.spec.execution} was already resumed"
            f" by {done.status.resolved_by or 'its timer'}"
            + (f" at {done.status.resolved_at.isoformat()}" if done.status.resolved_at else "")
        )
    if len(waiting) > 1 and not every:
        raise UsageError(
            f"{len(waiting)} open gates or sleeps of Execution {name} are called {step!r}; "
            f"name one by its Suspension (or pass --all):\n{_listing(store, ex, waiting)}"
        )
    return waiting


def resume(args: argparse.Namespace) -> int:
    """Resolve what the user named, then (unless --no-wait) run the tree on in this process."""
    from kontinue.cli._commands import _store, check_runnable_here, continue_here
    from kontinue.cli._gates import gate_inputs, resolver
    from kontinue.cli._imports import import_user_code

    import_user_code(args.imports)
    store = _store(args)
    ex = store.get(Execution, args.namespace, args.name)
    targets: list[Suspension] = []
    try:
        targets = choose(store, ex, args.step, args.all_open)
    except OperationError:
        if ex.terminal or args.step or args.no_wait:
            raise
    inputs = gate_inputs(args, targets[0] if len(targets) == 1 else None)
    if not args.no_wait:
        check_runnable_here(store, args)  # before anything changes: a clear error keeps all
    if not targets:
        sys.stderr.write(f"Execution {args.name} has no open gate or sleep; running it on\n")
    for sus in targets:
        resume_execution(
            store,
            args.namespace,
            sus.spec.execution,
            sus.metadata.name,
            by=resolver(),
            inputs=inputs,
        )
        what = sus.spec.display_name or sus.spec.step
        kind = "gate" if sus.spec.type == "Suspend" else "sleep"
        sys.stderr.write(f"resumed {kind} {what} of Execution {sus.spec.execution}\n")
    if args.no_wait:
        return 0
    return continue_here(store, args)
