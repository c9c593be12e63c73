"""The CLI verbs: each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import threading
from pathlib import Path
from typing import Any

import kontinue.dsl._interpreter  # noqa: F401 - registers the built-in pipeline function
from kontinue.api import (
    Execution,
    ExecutionMutex,
    Function,
    ScheduledExecution,
    parse_duration,
)
from kontinue.cli._args import load_args_file, parse_assignments
from kontinue.cli._errors import UsageError
from kontinue.cli._health import start_health
from kontinue.cli._hints import command
from kontinue.cli._imports import import_user_code
from kontinue.cli._live import use_color
from kontinue.cli._render import (
    dump,
    print_table,
    render_tree,
)
from kontinue.cli._run import SERVER_LOCK, run_in_process
from kontinue.cli._sources import import_recorded, publish_sources
from kontinue.cli._stores import (
    cli_runners,
    controller_elector,
    is_kubernetes,
    open_cli_store,
    say_cluster,
    served_elsewhere,
    served_namespace,
    start_heartbeat,
)
from kontinue.runtime import (
    GROUP_LABEL,
    REGISTRY,
    Controller,
    Engine,
    Worker,
    cancel_execution,
    check_execution_name,
    check_generate_name,
    function_group,
    retry_execution,
    start_execution,
    tree_executions,
)
from kontinue.store import AlreadyExistsError, Store, StoreError

__all__ = [
    "cancel",
    "controller",
    "execute",
    "functions",
    "logs",
    "retry",
    "server",
    "submit",
    "tree",
    "validate",
    "worker",
]


def _store(args: argparse.Namespace, create: bool = False) -> Store:
    return open_cli_store(args, create=create)


def make_engine(store: Store, args: argparse.Namespace) -> Engine:
    """The in-process engine with the command's runners.

    On Kubernetes it works in the command's namespace, and its controller acts only while it
    holds the controllers' leader Lease (a controller in the cluster may hold it).
    """
    namespace = args.namespace if is_kubernetes(args) else None
    args.drains = True  # the first SIGTERM sets args.stop: the engine drains, then exits
    engine = Engine(store, runners=cli_runners(args, store), namespace=namespace)
    engine.elector = controller_elector(args, store, engine.worker.identity)
    return engine


def _run_here(store: Store, args: argparse.Namespace, name: str) -> int:
    ex = store.get(Execution, args.namespace, name)
    if served_elsewhere(args, store, ex.spec.function, ex.metadata.labels.get(GROUP_LABEL)):
        where = "a worker in the cluster" if is_kubernetes(args) else "the kontinue server"
        sys.stderr.write(
            f"Execution {name} handed to {where}; follow it with `{command('watch', name)}`\n"
        )
        return 0
    publish_sources(store, args.namespace)
    engine = make_engine(store, args)

    def importer(names: set[str]) -> set[str]:
        return import_recorded(store, args.namespace, names)

    try:
        return run_in_process(
            engine,
            name,
            args.namespace,
            output=getattr(args, "output", None),
            importer=importer,
            stop=args.stop,
            color=use_color(args.no_color),
            log_runners=cli_runners(args, store) if getattr(args, "log", False) else None,
        )
    except KeyboardInterrupt:  # Ctrl-C: the state is kept; say how to carry on from it
        sys.stderr.write(
            f"kontinue: interrupted; Execution {name} is kept as it is (a running script "
            f"runs on); carry it on with: {command('resume', name)}\n"
        )
        return 130
    finally:
        stop_worker(engine.worker, "kontinue", grace=5.0)  # hand running functions back
        if engine.elector is not None:
            engine.elector.stop()


def stop_worker(w: Worker, what: str, grace: float = 10.0) -> None:
    """Drain `w`; wait (leases renewed) for functions that do not reach a step in `grace`.

    A second SIGTERM or Ctrl-C exits at once: the process is gone, so the leases it held
    run out and another worker takes over, never while this one still runs a function.
    """
    left = w.drain(grace=grace)
    if not left:
        return
    sys.stderr.write(
        f"{what}: {left} function(s) still running and not yet at an SDK call where they can "
        "stop; keeping their leases until they end (SIGTERM or Ctrl-C again exits now: their "
        "leases then run out and another worker takes them over)\n"
    )
    sys.stderr.flush()
    try:
        w.finish()
    except KeyboardInterrupt:
        sys.stderr.write(f"{what}: exiting now; {w.busy} function(s) abandoned to their leases\n")
        sys.stderr.flush()
        os._exit(130)


def execute(args: argparse.Namespace) -> int:
    import_user_code(args.imports)
    arguments: dict[str, Any] = load_args_file(args.args_file) if args.args_file else {}
    arguments.update(parse_assignments(args.args))
    store = _store(args, create=True)
    publish_sources(store, args.namespace)
    import_recorded(store, args.namespace, {args.function})
    if args.function in REGISTRY:
        try:
            REGISTRY.get(args.function).parse_arguments(arguments)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    elif not (
        args.no_wait
        or served_elsewhere(
            args, store, args.function, function_group(store, args.namespace, args.function)
        )
    ):
        REGISTRY.get(args.function)  # raises the "unknown function" error with the fix
    try:
        ex = start_execution(
            store,
            args.function,
            arguments,
            name=args.name,
            namespace=args.namespace,
            mutex=ExecutionMutex(name=args.mutex) if args.mutex else None,
        )
    except AlreadyExistsError:
        raise UsageError(
            f"an Execution named {args.name!r} already exists; choose another --name, or "
            f"remove it with `kontinue delete {args.name}`"
        ) from None
    name = ex.metadata.name
    sys.stderr.write(f"Execution {name} created\n")
    if args.no_wait:
        print(name)
        return 0
    return _run_here(store, args, name)


def worker(args: argparse.Namespace) -> int:
    args.drains = True  # the first SIGTERM sets args.stop: the worker drains, then exits
    import_user_code(args.imports)
    if not REGISTRY.names():
        raise UsageError("no functions registered; pass --import MODULE or --import FILE.py")
    store = _store(args, create=True)
    plain = store
    metrics = None
    if args.metrics_port is not None:
        from kontinue.server import MeteredStore, Metrics

        metrics = Metrics()
        store = MeteredStore(store, metrics)
    runners = cli_runners(args, store)
    namespace = served_namespace(args)
    w = Worker(
        store,
        concurrency=args.concurrency,
        group=args.group,
        lease_duration=parse_duration(args.lease_duration),
        services={"runners": runners},
        namespace=namespace,
    )
    w.publish_functions(args.namespace)
    if metrics is not None:
        _serve_metrics(w, store, metrics, args)
    say_cluster(args, plain, "worker")
    stop_health = start_health(args.health_port, lambda: not args.stop.is_set(), plain)
    # the functions this worker runs: those of its group (a function may name its own)
    served = [n for n in REGISTRY.names() if w.group_of(REGISTRY.get(n)) == args.group]
    stop_heartbeat = start_heartbeat(args, plain, w.identity, args.group, served)
    sys.stderr.write(f"worker {w.identity} running {', '.join(served)} (group {args.group})\n")
    threads = []
    elector = None
    embedded = not is_kubernetes(args)
    if args.no_controller and embedded:
        sys.stderr.write(
            "worker: running without a controller (--no-controller): sleeps, finished jobs, "
            "children, retries and timeouts wake nothing until a controller runs on "
            f"{args.state_dir}: start one with `kontinue controller`, or drop --no-controller\n"
        )
    # On the embedded store the worker drives what it needs (more controllers on one store
    # are harmless: every write is compare-and-swap); on Kubernetes one is elected.
    if args.with_controller or (embedded and not args.no_controller):
        ctl = Controller(store, runners=runners, namespace=namespace)
        elector = controller_elector(args, plain, w.identity)
        threads.append(
            threading.Thread(
                target=_guard(ctl.run, args), args=(args.stop, 0.5, elector), daemon=True
            )
        )
        threads[-1].start()
    try:
        _ride_out(w.run, args)
    except KeyboardInterrupt:
        pass
    finally:
        args.stop.set()
        stop_worker(w, "worker")
        stop_heartbeat()
        stop_health()
        if elector is not None:
            elector.stop()
        sys.stderr.write("worker stopped\n")
    return 0


def _ride_out(run: Any, args: argparse.Namespace) -> None:
    """`run(args.stop)`; on Kubernetes, an API server that stops answering is waited for.

    As client-go's informers do, a worker rides out an API server restart: one warning line
    per outage, then retries with a backoff up to 30 s. Its leases run out meanwhile, so
    another worker may take its Executions over; the journal's fencing keeps this one from
    appending to them. On SQLite a store fault still stops the worker with one line.
    """
    import logging
    import time

    from kontinue.store import StorageFaultError, StoreUnavailableError

    log = logging.getLogger("kontinue.worker")
    backoff = 1.0
    while not args.stop.is_set():
        began = time.monotonic()
        try:
            run(args.stop)
            return
        except StorageFaultError:
            raise
        except StoreUnavailableError as exc:
            if getattr(args, "store", None) != "kubernetes":
                raise
            if time.monotonic() - began > 30:
                backoff = 1.0  # it ran a while: a new outage
            if backoff == 1.0:
                log.warning("%s; retrying until it answers", exc)
            args.stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)


def _guard(run: Any, args: argparse.Namespace) -> Any:
    """A controller thread that stops the process with one line on a store fault."""

    def target(*call: Any) -> None:
        try:
            run(*call)
        except StoreError as exc:
            sys.stderr.write(f"kontinue: error: controller: {exc}\n")
            args.stop.set()

    return target


def _serve_metrics(w: Worker, store: Any, metrics: Any, args: argparse.Namespace) -> None:
    """/metrics of a worker run alone, fed by its own informer (no extra watch)."""
    from prometheus_client import start_http_server

    from kontinue.server import follow_informer

    try:
        start_http_server(args.metrics_port, args.metrics_host, registry=metrics.registry)
    except OSError as exc:
        raise UsageError(
            f"--metrics-port {args.metrics_port}: cannot listen on "
            f"{args.metrics_host}:{args.metrics_port} ({exc.strerror}); pick another port"
        ) from None
    follow_informer(w.informer, store, None, metrics)
    sys.stderr.write(f"metrics on http://{args.metrics_host}:{args.metrics_port}/metrics\n")


def controller(args: argparse.Namespace) -> int:
    args.drains = True  # the first SIGTERM sets args.stop: the controller stops, then exits
    store = _store(args, create=True)
    namespace = served_namespace(args)
    ctl = Controller(store, runners=cli_runners(args, store), namespace=namespace)
    from kontinue.runtime._worker import _identity

    identity = _identity()
    elector = controller_elector(args, store, identity)
    where = f" in namespace {args.namespace} as {identity}" if elector else ""
    if elector is not None:  # say which replica leads, as client-go's "acquired lease" does
        import logging

        logging.getLogger("kontinue.leader").setLevel(logging.INFO)
    say_cluster(args, store, "controller")
    stop_health = start_health(args.health_port, lambda: not args.stop.is_set(), store)
    sys.stderr.write(f"controller running{where}\n")
    try:
        ctl.run(args.stop, elector=elector)
    except KeyboardInterrupt:
        pass
    finally:
        stop_health()
        ctl.close()
        if elector is not None:
            elector.stop()
    return 0


def _server_token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        try:
            token: str = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise UsageError(f"--token-file {args.token_file}: cannot read it ({reason})") from None
        if not token:
            raise UsageError(f"--token-file {args.token_file} is empty; put the token in it")
        return token
    return os.environ.get("KONTINUE_SERVER_TOKEN", "").strip() or None


def server(args: argparse.Namespace) -> int:
    from kontinue.server import (
        Auth,
        ConfigError,
        HttpServer,
        MeteredStore,
        Metrics,
        build_state,
        follow_informer,
        listen,
    )

    auth = Auth(
        mode=args.auth_mode,
        token=_server_token(args),
        policy_file=args.auth_config,
        user_header=args.auth_user_header,
        group_header=args.auth_group_header,
    )
    try:
        auth.check_config(args.host)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    import_user_code(args.imports)
    plain = _store(args, create=True)
    if not is_kubernetes(args):
        lock = open(args.state_dir / SERVER_LOCK, "a+")  # noqa: SIM115 - held for the process' life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"a kontinue server already runs for {args.state_dir}") from None
    try:
        sock = listen(args.host, args.port)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    metrics = Metrics()
    store = MeteredStore(plain, metrics)
    engine = make_engine(store, args)
    runners = engine.controller.runners
    engine.worker.publish_functions(args.namespace)
    dirs = args.pipeline_dirs
    if dirs is None:
        dirs = [Path("pipelines")] if Path("pipelines").is_dir() else []
    state = build_state(store, auth, metrics, runners=runners, pipeline_dirs=dirs)
    follow_informer(engine.worker.informer, store, state.index, metrics)
    http = HttpServer(state, sock)
    http.start()
    running = ", ".join(REGISTRY.names()) or "no functions"
    sys.stderr.write(
        f"kontinue server on {args.state_dir} running {running}\n"
        f"UI and API on {http.url} (auth mode {auth.mode}"
        f"{', token required' if auth.token else ''})\n"
    )
    sys.stderr.flush()
    try:
        engine.run_until(args.stop.is_set, tick=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        http.stop()
        stop_worker(engine.worker, "server")
        if engine.elector is not None:
            engine.elector.stop()
        sys.stderr.write("server stopped\n")
    return 0


def functions(args: argparse.Namespace) -> int:
    import_user_code(args.imports)
    published = {}
    try:
        published = {f.metadata.name: f for f in _store(args).list(Function, args.namespace)}
    except UsageError:
        raise
    except Exception:
        published = {}
    rows: dict[str, tuple[str, str, str]] = {
        name: (name, f.spec.worker_group, f.spec.description or "") for name, f in published.items()
    }
    for fdef in REGISTRY.all():
        rows.setdefault(fdef.name, (fdef.name, "(imported)", fdef.description or ""))
    if args.output:
        doc = [f.wire() for f in published.values()]
        sys.stdout.write(dump(doc, args.output) + ("\n" if args.output == "json" else ""))
        return 0
    if not rows:
        sys.stderr.write("No functions published; start a worker or pass --import.\n")
        return 0
    print_table([list(r) for _, r in sorted(rows.items())], ["NAME", "GROUP", "DESCRIPTION"])
    return 0


def _root_of(store: Store, namespace: str, name: str) -> Execution:
    root = store.get(Execution, namespace, name)
    while root.metadata.owner_references:
        parent_name = root.metadata.labels.get("kontinue.cloud/parent")
        if not parent_name:
            break
        root = store.get(Execution, namespace, parent_name)
    return root


def check_runnable_here(store: Store, args: argparse.Namespace) -> None:
    """Import what the tree of `args.name` needs to run on here, or say why it cannot.

    Raises:
        UsageError: a recorded source is gone or changed, or nothing records where a function
            comes from (then --import, or --no-wait and a worker).
    """
    root = _root_of(store, args.namespace, args.name)
    if served_elsewhere(args, store, root.spec.function, root.metadata.labels.get(GROUP_LABEL)):
        return
    wanted = {e.spec.function for e in tree_executions(store, root) if not e.terminal}
    missing = import_recorded(store, args.namespace, wanted)
    if missing:
        raise UsageError(
            f"cannot run Execution {root.metadata.name} here: function(s) "
            f"{', '.join(sorted(missing))} are not imported and no Function resource records "
            "where they come from; pass --import MODULE|FILE.py, or --no-wait to leave it "
            "to a worker"
        )


def continue_here(store: Store, args: argparse.Namespace) -> int:
    """Run the tree of `args.name` on in this process (after a resume or a retry)."""
    check_runnable_here(store, args)
    return _run_here(store, args, _root_of(store, args.namespace, args.name).metadata.name)


def cancel(args: argparse.Namespace) -> int:
    store = _store(args)
    # the jobs are stopped here, whether or not a controller or the submitting process runs
    names = cancel_execution(
        store, args.namespace, args.name, runners=cli_runners(args, store), force=args.force
    )
    sys.stderr.write(f"canceled {', '.join(names)}\n")
    # onCancel: Cleanup (a pipeline with finally: steps, here or below): it is told of the
    # cancel and runs its finally steps, then ends Canceled
    code = 0
    for name in names:
        if store.get(Execution, args.namespace, name).terminal:
            continue
        sys.stderr.write(
            f"{name} runs its finally steps before it ends Canceled; "
            f"`{command('cancel', name, '--force')}` stops them\n"
        )
        done = _run_here(store, args, name)
        if store.get(Execution, args.namespace, name).status.phase != "Canceled":
            code = code or done
    return code


def retry(args: argparse.Namespace) -> int:
    import_user_code(args.imports)
    store = _store(args)
    publish_sources(store, args.namespace)
    if not args.no_wait:
        check_runnable_here(store, args)
    retry_execution(store, args.namespace, args.name)
    sys.stderr.write(f"Execution {args.name} will run a new attempt\n")
    if args.no_wait:
        return 0
    return continue_here(store, args)


def tree(args: argparse.Namespace) -> int:
    store = _store(args)
    print(render_tree(store, store.get(Execution, args.namespace, args.name)))
    return 0


def validate(args: argparse.Namespace) -> int:
    from kontinue.cli import _pipelines

    return _pipelines.validate(args)


def submit(args: argparse.Namespace) -> int:
    from kontinue.cli import _pipelines

    return _pipelines.submit(args, _run_here)


def logs(args: argparse.Namespace) -> int:
    from kontinue.cli import _logs

    return _logs.logs(args, cli_runners(args, _store(args)))


def create(args: argparse.Namespace) -> int:
    """Create Executions from a manifest file, as `kubectl create -f` does."""
    from pydantic import ValidationError
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from kontinue.dsl._yaml_limits import YAMLLimitError, check_yaml

    explicit_namespace = args.namespace is not None and args.namespace != "default"
    if args.namespace is None:  # Kubernetes: the context's namespace
        _store(args, create=True)
    source = "<stdin>" if args.filename == "-" else args.filename
    try:
        text = sys.stdin.read() if args.filename == "-" else open(args.filename).read()  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    try:
        check_yaml(text)
        docs = [d for d in YAML(typ="safe").load_all(text) if d is not None]
    except YAMLLimitError as exc:
        raise UsageError(f"{source}:{exc.line}:{exc.col}: {exc}") from None
    except YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML: {exc}") from None
    manifests: list[Execution] = []
    schedules: list[ScheduledExecution] = []
    for index, doc in enumerate(docs, 1):
        where = f"{source}: document {index}"
        kinds = ("Execution", "ScheduledExecution")
        if not isinstance(doc, dict) or doc.get("kind") not in kinds:
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise UsageError(
                f"{where}: kind {kind!r} is not supported here; only Execution and "
                "ScheduledExecution are"
            )
        if doc.get("apiVersion") != "kontinue.cloud/v1alpha1":
            raise UsageError(
                f"{where}: apiVersion {doc.get('apiVersion')!r}; use kontinue.cloud/v1alpha1"
            )
        doc = {**doc, "status": {}}
        cls: type[Execution] | type[ScheduledExecution] = (
            Execution if doc["kind"] == "Execution" else ScheduledExecution
        )
        try:
            obj = cls.model_validate(doc)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise UsageError(f"{where}: {problems}") from None
        if isinstance(obj, ScheduledExecution):
            if not obj.metadata.name:
                raise UsageError(f"{where}: a ScheduledExecution needs metadata.name")
            if explicit_namespace or not doc.get("metadata", {}).get("namespace"):
                obj.metadata.namespace = args.namespace
            schedules.append(obj)
            continue
        ex = obj
        if not (ex.metadata.name or ex.metadata.generate_name):
            raise UsageError(f"{where}: metadata.name or metadata.generateName is required")
        if explicit_namespace or not doc.get("metadata", {}).get("namespace"):
            ex.metadata.namespace = args.namespace
        if ex.metadata.name:
            check_execution_name(ex.metadata.name, f"{where}: metadata.name")
        else:
            check_generate_name(str(ex.metadata.generate_name), f"{where}: metadata.generateName")
        manifests.append(ex)
    import_user_code(args.imports)
    store = _store(args, create=True)
    from kontinue.runtime import create_sealed, seal_by_schema

    def sealed(obj: Any, function: str, arguments: Any) -> Any:
        # secret arguments (format: password in the function's schema) go to a secret
        obj.spec.arguments, values = seal_by_schema(
            store, obj.metadata.namespace, function, arguments
        )
        return create_sealed(store, obj, values)

    for se in schedules:
        try:
            sealed(se, se.spec.function, se.spec.arguments)
        except AlreadyExistsError as exc:
            raise UsageError(str(exc)) from None
        print(f"scheduledexecution.kontinue.cloud/{se.metadata.name} created")
    created = []
    for ex in manifests:
        group = function_group(store, ex.metadata.namespace, ex.spec.function)
        if group is not None and GROUP_LABEL not in ex.metadata.labels:
            ex.metadata.labels[GROUP_LABEL] = group  # routed like `kontinue execute`
        try:
            stored = sealed(ex, ex.spec.function, ex.spec.arguments)
        except AlreadyExistsError as exc:
            raise UsageError(str(exc)) from None
        created.append(stored)
        print(f"execution.kontinue.cloud/{stored.metadata.name} created")
    if args.no_wait:
        return 0
    code = 0
    for ex in created:
        if ex.spec.function not in REGISTRY:
            sys.stderr.write(
                f"not running {ex.metadata.name} here: function {ex.spec.function!r} is not "
                "imported (pass --import), or let a worker run it\n"
            )
            continue
        args.namespace = ex.metadata.namespace
        code = max(code, _run_here(store, args, ex.metadata.name))
    return code


def watch(args: argparse.Namespace) -> int:
    """`kontinue watch NAME`: follow an Execution that runs elsewhere until it ends or waits."""
    from kontinue.cli._run import follow

    store = _store(args)
    root = _root_of(store, args.namespace, args.name)
    return follow(
        store,
        root.metadata.name,
        args.namespace,
        color=use_color(args.no_color),
        log_runners=cli_runners(args, store) if args.log else None,
    )
