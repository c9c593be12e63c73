"""`kontinue schedule …`, `kontinue resubmit` and archived Executions on the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kontinue.api import (
    ArchivedExecution,
    Execution,
    ExecutionDefaults,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionTTL,
    ObjectMeta,
    Resource,
    ScheduledExecution,
    ScheduledExecutionSpec,
    check_cron,
    check_timezone,
    parse_duration,
)
from kontinue.cli._args import load_args_file, parse_assignments
from kontinue.cli._errors import UsageError
from kontinue.cli._render import age, dump, print_table, stream_list
from kontinue.cli._schedules_parser import SCHEDULE_VERBS
from kontinue.store import AlreadyExistsError, NotFoundError, Store

# the verbs (their parser is in `_schedules_parser`), and what `list`/`get` use of archives
__all__ = [*SCHEDULE_VERBS, "archived_list", "get_archived", "show_archived"]

PIPELINE_SUFFIXES = (".yaml", ".yml")


def _store(args: argparse.Namespace, create: bool = False) -> Store:
    from kontinue.cli._commands import _store as open_it

    return open_it(args, create=create)


def _schedule(store: Store, args: argparse.Namespace) -> ScheduledExecution:
    try:
        return store.get(ScheduledExecution, args.namespace, args.name)
    except NotFoundError:
        raise UsageError(
            f'no schedule "{args.name}" in namespace {args.namespace}; '
            "list them with `kontinue schedule list`"
        ) from None


def _is_pipeline(target: str) -> bool:
    return target.endswith(PIPELINE_SUFFIXES) or Path(target).is_file()


def _duration(flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def schedule_create(args: argparse.Namespace) -> int:
    """Validate everything first, then store one ScheduledExecution."""
    from kontinue.runtime import REGISTRY
    from kontinue.runtime._schedules import next_run  # the engine only when a schedule verb runs

    labels: dict[str, str] = {}
    block: dict[str, Any] = {}
    mutex: ExecutionMutex | None = None
    description = None
    if _is_pipeline(args.target):
        from kontinue.cli._pipelines import PIPELINE_LABEL, pipeline_mutex, prepare
        from kontinue.dsl._interpreter import PIPELINE_FUNCTION

        args.file = args.target
        plan, params, base_dir = prepare(args)
        function = PIPELINE_FUNCTION
        arguments: Any = {"plan": dict(plan), "params": params, "baseDir": base_dir}
        labels = {PIPELINE_LABEL: plan.name, **(plan.get("labels") or {})}
        block = dict(plan.get("schedule") or {})
        mutex = pipeline_mutex(args.file, plan, params)
        description = plan.get("description")
    else:
        from kontinue.cli._imports import import_user_code

        if args.params or args.params_file:
            raise UsageError("-p/--params-file are for pipeline files; a function takes -a")
        import_user_code(args.imports)
        function = args.target
        arguments = load_args_file(args.args_file) if args.args_file else {}
        arguments.update(parse_assignments(args.args))
        if function in REGISTRY:
            try:
                REGISTRY.get(function).parse_arguments(arguments)
            except ValueError as exc:
                raise UsageError(f"arguments of {function}: {exc}") from None
    cron = args.cron or block.get("cron")
    if not cron:
        raise UsageError(
            'say when it runs: --cron "0 2 * * *" (or a schedule: block in the pipeline file)'
        )
    try:
        cron = check_cron(cron)
        zone = args.timezone or block.get("timezone")
        if zone:
            check_timezone(zone)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    retry = None
    if args.retries is not None or args.backoff is not None:
        retry = ExecutionRetry(retries=args.retries or 0)
        if args.backoff is not None:
            retry.backoff = _duration("--backoff", args.backoff)
    ttl = None
    if args.archive_after or args.delete_after:
        ttl = ExecutionTTL(
            archive_after=_duration("--archive-after", args.archive_after),
            delete_after=_duration("--delete-after", args.delete_after),
        )
    history = args.history_limit if args.history_limit is not None else block.get("historyLimit")
    deadline = args.starting_deadline_seconds
    if deadline is None:
        deadline = block.get("startingDeadlineSeconds")
    for flag, number in (("--history-limit", history), ("--starting-deadline-seconds", deadline)):
        if number is not None and number < 0:
            raise UsageError(f"{flag} must be 0 or more, not {number}")
    spec = ScheduledExecutionSpec(
        schedule=cron,
        function=function,
        arguments=arguments,
        history_limit=5 if history is None else history,
        suspend=bool(args.suspend or block.get("suspend")),
        execution_defaults=ExecutionDefaults(retry=retry, ttl=ttl) if retry or ttl else None,
        timezone=zone or None,
        concurrency_policy=args.concurrency_policy or block.get("concurrencyPolicy") or "Allow",
        starting_deadline_seconds=deadline,
        mutex=ExecutionMutex(name=args.mutex) if args.mutex else mutex,
        description=description,
    )
    store = _store(args, create=True)
    se = ScheduledExecution(
        metadata=ObjectMeta(name=args.name, namespace=args.namespace, labels=labels), spec=spec
    )
    from kontinue.runtime import create_sealed, seal_by_schema

    # secret params/arguments: kept in a secret the schedule owns, copied for each run
    se.spec.arguments, sealed = seal_by_schema(store, args.namespace, spec.function, spec.arguments)
    try:
        se = create_sealed(store, se, sealed)
    except AlreadyExistsError:
        raise UsageError(
            f'a schedule named "{args.name}" already exists; delete it first with '
            f"`kontinue schedule delete {args.name}` or choose another name"
        ) from None
    first = next_run(spec, datetime.now(UTC))
    print(f"scheduledexecution.kontinue.cloud/{args.name} created")
    sys.stderr.write(
        f"next run at {first.isoformat()}"
        + ("" if not spec.suspend else " once resumed")
        + "; schedules fire while a `kontinue server` (or a controller) runs\n"
    )
    return 0


def _next_text(se: ScheduledExecution) -> str:
    from kontinue.runtime._schedule_ops import upcoming

    when = upcoming(se, datetime.now(UTC))
    return "suspended" if when is None else when.strftime("%Y-%m-%d %H:%M:%SZ")


def _listed_as_document(items: Sequence[Resource], args: argparse.Namespace, what: str) -> bool:
    """Write `items` as a JSON/YAML `List`, or say there are none; False: print a table."""
    if args.output in ("json", "yaml"):
        stream_list(items, args.output)
        return True
    if not items:
        sys.stderr.write(f"No {what} found in namespace {args.namespace}.\n")
        return True
    return False


def schedule_list(args: argparse.Namespace) -> int:
    store = _store(args)
    namespace = None if args.all_namespaces else args.namespace
    items = store.list(ScheduledExecution, namespace)
    if _listed_as_document(items, args, "schedules"):
        return 0
    rows = [
        [
            s.metadata.name,
            s.spec.schedule,
            s.spec.timezone or "UTC",
            s.spec.function,
            str(s.spec.suspend).lower(),
            str(len(s.status.active)),
            age(s.status.last_schedule_time) if s.status.last_schedule_time else "-",
            _next_text(s),
            age(s.metadata.creation_timestamp),
        ]
        for s in items
    ]
    header = ["NAME", "SCHEDULE", "TIMEZONE", "FUNCTION", "SUSPEND", "ACTIVE", "LAST", "NEXT"]
    print_table(rows, [*header, "AGE"])
    return 0


def schedule_get(args: argparse.Namespace) -> int:
    from kontinue.runtime._schedules import (
        SCHEDULE_LABEL,  # the engine only when a schedule verb runs
    )

    store = _store(args)
    se = _schedule(store, args)
    if args.output:
        sys.stdout.write(dump(se.wire(), args.output) + ("\n" if args.output == "json" else ""))
        return 0
    st = se.status
    lines = [
        ("Name", se.metadata.name),
        ("Schedule", f"{se.spec.schedule} ({se.spec.timezone or 'UTC'})"),
        ("Function", se.spec.function),
        ("Concurrency", se.spec.concurrency_policy),
        ("Suspended", str(se.spec.suspend).lower()),
        ("History limit", str(se.spec.history_limit)),
        ("Last run", st.last_schedule_time.isoformat() if st.last_schedule_time else "-"),
        ("Last success", st.last_successful_time.isoformat() if st.last_successful_time else "-"),
        ("Next run", _next_text(se)),
        ("Active", ", ".join(st.active) or "-"),
    ]
    if st.message:
        lines.append(("Message", st.message))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key + ':':<{width + 1}} {value}")
    runs = store.list(Execution, se.metadata.namespace, {SCHEDULE_LABEL: se.metadata.name})
    if runs:
        print()
        print_table(
            [[e.metadata.name, e.status.phase, age(e.metadata.creation_timestamp)] for e in runs],
            ["RUN", "PHASE", "AGE"],
        )
    return 0


def schedule_suspend(args: argparse.Namespace) -> int:
    from kontinue.runtime._schedule_ops import set_suspended

    store = _store(args)
    _schedule(store, args)  # a missing one: say how to list them
    _, changed = set_suspended(store, args.namespace, args.name, args.suspend)
    if not changed:
        state = "suspended" if args.suspend else "not suspended"
        sys.stderr.write(f"schedule {args.name} is already {state}\n")
        return 0
    done = "suspended" if args.suspend else "resumed"
    print(f"scheduledexecution.kontinue.cloud/{args.name} {done}")
    return 0


def schedule_trigger(args: argparse.Namespace) -> int:
    from kontinue.cli._commands import _run_here
    from kontinue.cli._imports import import_user_code
    from kontinue.runtime._schedule_ops import trigger_schedule

    import_user_code(args.imports)
    store = _store(args)
    _schedule(store, args)  # a missing one: say how to list them
    created = trigger_schedule(store, args.namespace, args.name, "kontinue schedule trigger")
    name = created.metadata.name
    sys.stderr.write(f"schedule {args.name} triggered: Execution {name}\n")
    if args.no_wait:
        print(name)
        return 0
    return int(_run_here(store, args, name))


def schedule_delete(args: argparse.Namespace) -> int:
    from kontinue.runtime._schedules import (
        SCHEDULE_LABEL,  # the engine only when a schedule verb runs
    )

    store = _store(args)
    _schedule(store, args)
    store.delete(ScheduledExecution, args.namespace, args.name)
    runs = store.list(Execution, args.namespace, {SCHEDULE_LABEL: args.name})
    print(f"scheduledexecution.kontinue.cloud/{args.name} deleted")
    if runs:
        sys.stderr.write(
            f"its {len(runs)} past run(s) are kept; "
            f"`kontinue list -l {SCHEDULE_LABEL}={args.name}` shows them\n"
        )
    return 0


# -- archived Executions and resubmit ---------------------------------------------------------


def get_archived(store: Store, namespace: str, name: str) -> ArchivedExecution | None:
    """The ArchivedExecution of that name, or None."""
    try:
        return store.get(ArchivedExecution, namespace, name)
    except NotFoundError:
        return None


def archived_list(store: Store, args: argparse.Namespace) -> int:
    """`kontinue list --archived`."""
    namespace = None if args.all_namespaces else args.namespace
    items = store.list(ArchivedExecution, namespace, args.selector)
    if _listed_as_document(items, args, "archived Executions"):
        return 0
    rows = [
        [
            a.metadata.name,
            a.spec.function,
            a.spec.phase,
            str(a.spec.executions),
            age(a.spec.finish_time),
            age(a.spec.archive_time),
            a.spec.delete_at.strftime("%Y-%m-%d %H:%M:%SZ") if a.spec.delete_at else "-",
        ]
        for a in items
    ]
    print_table(
        rows, ["NAME", "FUNCTION", "PHASE", "EXECUTIONS", "FINISHED", "ARCHIVED", "DELETE AT"]
    )
    return 0


def show_archived(archive: ArchivedExecution, output: str | None) -> int:
    """`kontinue get NAME` of an archived Execution."""
    if output:
        doc = archive.wire()
        doc["spec"].pop("data", None)
        doc["spec"]["tree"] = archive.tree()
        sys.stdout.write(dump(doc, output) + ("\n" if output == "json" else ""))
        return 0
    spec = archive.spec
    print_table(
        [
            [
                archive.metadata.name,
                spec.function,
                spec.phase,
                str(spec.executions),
                age(spec.finish_time),
            ]
        ],
        ["NAME", "FUNCTION", "PHASE", "EXECUTIONS", "FINISHED"],
    )
    print(
        f"Archived: {spec.archive_time.isoformat()} (ArchivedExecution; the live objects are gone)"
    )
    if spec.delete_at:
        print(f"Deleted at: {spec.delete_at.isoformat()}")
    if spec.message:
        print(f"Message: {spec.message}")
    if spec.result is not None:
        print("Result:  " + dump(spec.result, "json"))
    print(f"Start it again with `kontinue resubmit {archive.metadata.name}`")
    return 0


def resubmit(args: argparse.Namespace) -> int:
    """A new Execution with the function, arguments and options of an old one."""
    from kontinue.cli._commands import _run_here
    from kontinue.cli._imports import import_user_code

    import_user_code(args.imports)
    store = _store(args)
    source: Execution | None = None
    try:
        source = store.get(Execution, args.namespace, args.name)
    except NotFoundError:
        archive = get_archived(store, args.namespace, args.name)
        if archive is None:
            raise UsageError(
                f'no Execution or ArchivedExecution "{args.name}" in namespace '
                f"{args.namespace}; list them with `kontinue list` and `kontinue list --archived`"
            ) from None
        roots = [
            e
            for e in archive.tree().get("executions", [])
            if e["metadata"]["name"] == archive.metadata.name
        ]
        source = Execution.model_validate(roots[0]) if roots else None
        if source is None:
            raise UsageError(f"archive {args.name} holds no root Execution to resubmit") from None
    if any(r.kind == "Execution" for r in source.metadata.owner_references):
        raise UsageError(
            f"{args.name} is a child Execution; resubmit its root instead "
            "(`kontinue tree` shows it)"
        )
    keep = {
        k: v
        for k, v in source.metadata.labels.items()
        if k not in ("kontinue.cloud/root", "kontinue.cloud/parent")
    }
    meta = ObjectMeta(
        name=args.new_name or "",
        generate_name=None
        if args.new_name
        else source.metadata.generate_name or f"{source.metadata.name}-",
        namespace=args.namespace,
        labels=keep,
        annotations={"kontinue.cloud/resubmitted-from": source.metadata.name},
    )
    try:
        from kontinue.runtime import create_like

        again = Execution(metadata=meta, spec=source.spec.model_copy(deep=True))
        created = create_like(store, source, again)  # with a copy of its secret values
    except AlreadyExistsError:
        raise UsageError(f"an Execution named {args.new_name!r} already exists") from None
    name = created.metadata.name
    sys.stderr.write(f"resubmitted {args.name} as Execution {name}\n")
    if args.no_wait:
        print(name)
        return 0
    return int(_run_here(store, args, name))
