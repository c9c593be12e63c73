"""`kontinue`: the command line (argparse, with shell completion through argcomplete)."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.cli import _flags, _hints, _schedules_parser

if TYPE_CHECKING:
    from kontinue.store import Store

__all__ = ["build_parser", "main"]


def _open(parsed_args: argparse.Namespace) -> Store | None:
    from kontinue.store import StoreError, default_state_dir, open_store

    try:
        return open_store(parsed_args.state_dir or default_state_dir())
    except StoreError:
        return None


def _names_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from kontinue.api import Execution

    store = _open(parsed_args)
    if store is None:
        return []
    return [
        e.metadata.name
        for e in store.list(Execution, parsed_args.namespace or "default")
        if e.metadata.name.startswith(prefix)
    ]


def _functions_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from kontinue.api import Function

    store = _open(parsed_args)
    if store is None:
        return []
    return [f.metadata.name for f in store.list(Function) if f.metadata.name.startswith(prefix)]


def _steps_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from kontinue.api import Execution
    from kontinue.cli import _resume
    from kontinue.store import NotFoundError

    store = _open(parsed_args)
    if store is None:
        return []
    try:
        ex = store.get(Execution, parsed_args.namespace or "default", parsed_args.name)
    except NotFoundError:
        return []
    words = [_resume.step_word(store, ex, s) for s in _resume.find_open(store, ex)]
    return [w for w in words if w.startswith(prefix)]


class _Verbs:
    """`commands.NAME`: the verb's function, imported only when the verb runs."""

    _HOMES = {
        "list_": "kontinue.cli._listing",
        "get": "kontinue.cli._listing",
        "delete": "kontinue.cli._listing",
        "describe": "kontinue.cli._describe",
        "resume": "kontinue.cli._resume",
        **dict.fromkeys(_schedules_parser.SCHEDULE_VERBS, "kontinue.cli._schedules"),
    }

    def __getattr__(self, name: str) -> Callable[[argparse.Namespace], int]:
        home = self._HOMES.get(name, "kontinue.cli._commands")

        def run(args: argparse.Namespace) -> int:
            code: int = getattr(importlib.import_module(home), name)(args)
            return code

        run.__name__ = name
        return run


commands = _Verbs()


def _complete(p: argparse.ArgumentParser, **completers: Any) -> None:
    for action in p._actions:
        if action.dest in completers:
            action.completer = completers[action.dest]  # type: ignore[attr-defined]


def _global_flags(default: Any) -> argparse.ArgumentParser:
    """The flags every verb takes, before or after it (`kontinue list -n ns`, as kubectl).

    On the verbs they default to SUPPRESS, so a flag given before the verb is not overwritten.
    """

    def d(value: Any) -> Any:
        return value if default is None else default

    g = argparse.ArgumentParser(add_help=False)
    g.add_argument(
        "--state-dir",
        type=Path,
        default=d(None),
        help="embedded store directory (default: $KONTINUE_HOME or ./.kontinue)",
    )
    g.add_argument(
        "--store",
        choices=["sqlite", "kubernetes"],
        default=d(None),
        help="where state lives: the embedded SQLite file (default) or a Kubernetes cluster "
        "(default from $KONTINUE_STORE)",
    )
    g.add_argument(
        "--kubeconfig",
        default=d(None),
        help="with --store kubernetes: kubeconfig file (default as kubectl: $KUBECONFIG, "
        "~/.kube/config, in-cluster)",
    )
    g.add_argument("--context", default=d(None), help="with --store kubernetes: kubeconfig context")
    g.add_argument(
        "-n",
        "--namespace",
        default=d(None),
        help="namespace (default: default; with --store kubernetes, the context's)",
    )
    g.add_argument(
        "--runner",
        choices=["local", "container", "kubernetes"],
        default=d(None),
        help="where script/pod/job steps run: local processes (default on the embedded "
        "store; images are not pulled), a podman/docker engine (experimental, untested), or "
        "Kubernetes Jobs (the default with, and only with, --store kubernetes)",
    )
    g.add_argument(
        "-v", "--verbose", action="store_true", default=d(False), help="log what the engine does"
    )
    g.add_argument(
        "--no-color",
        action="store_true",
        default=d(False),
        help="no colours (also when NO_COLOR is set)",
    )
    return g


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="kontinue",
        description="Durable functions and pipelines in Python, on an embedded store "
        "(one SQLite file, local processes) or, with --store kubernetes, on a cluster.",
        parents=[_global_flags(default=None)],
    )
    flags = _global_flags(default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[flags])
        p.set_defaults(func=fn)
        return p

    def imports(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--import",
            dest="imports",
            action="append",
            default=[],
            metavar="MODULE|FILE.py",
            help="module or file registering functions (repeatable)",
        )

    def all_namespaces(p: argparse.ArgumentParser, does: str) -> None:
        p.add_argument(
            "-A",
            "--all-namespaces",
            action="store_true",
            help=f"with --store kubernetes: {does} of every namespace (needs a cluster-wide "
            "role: the chart's rbac.clusterWide=true); its Leases stay in -n",
        )

    p = add("execute", commands.execute, "start an Execution of a function and run it")
    _flags.add_log(p)
    p.add_argument("function", help="registered function name").completer = _functions_completer  # type: ignore[attr-defined]
    p.add_argument(
        "-a",
        "--arg",
        dest="args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argument (value read as YAML: 3, true, 'text'); repeatable",
    )
    p.add_argument("--args-file", help="YAML or JSON file with the arguments")
    p.add_argument("--name", help="name of the Execution (default: FUNCTION-xxxxx)")
    p.add_argument("--no-wait", action="store_true", help="create it and return; a worker runs it")
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="print the result as")
    p.add_argument(
        "--mutex",
        metavar="NAME",
        help="hold this mutex while it runs: Executions with the same mutex run one at a "
        "time, first come, first served",
    )
    imports(p)

    p = add("worker", commands.worker, "run a long-lived worker")
    imports(p)
    p.add_argument("--concurrency", type=int, default=16, help="functions run at once")
    p.add_argument("--group", default="default", help="worker group")
    all_namespaces(p, "runs Executions")
    p.add_argument("--lease-duration", default="10s", help="lease length (e.g. 10s)")
    p.add_argument(
        "--with-controller",
        action="store_true",
        help="run the controller in this process (the default; kept for scripts that pass it)",
    )
    p.add_argument(
        "--no-controller",
        action="store_true",
        help="run no controller here (then one must run elsewhere: `kontinue controller`)",
    )
    p.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve GET /healthz (alive) and /readyz (the store answers) on this port",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (/metrics; e.g. 8080)",
    )
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port")

    p = add("controller", commands.controller, "run the controller (timers, retries, wake-ups)")
    all_namespaces(p, "reconciles Executions")
    p.add_argument(
        "--leader-lease",
        default="15s",
        help="with --store kubernetes: the leader election Lease's duration (default 15s)",
    )
    p.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve GET /healthz (alive) and /readyz (the store answers) on this port",
    )

    p = add(
        "server",
        commands.server,
        "run worker, controller, the web UI, the HTTP API and /metrics for the state directory",
    )
    imports(p)
    p.add_argument("--concurrency", type=int, default=16, help="functions run at once")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; 0: any free)"
    )
    p.add_argument(
        "--auth-mode",
        choices=["readonly", "readwrite", "header"],
        default="readonly",
        help="readonly (default): look, change nothing; readwrite: every action allowed "
        "(off 127.0.0.1 only with a token); header: per-namespace Casbin policy for users "
        "named by an authenticating proxy",
    )
    p.add_argument(
        "--auth-config", type=Path, metavar="POLICY.csv", help="Casbin policy (header mode)"
    )
    p.add_argument(
        "--auth-user-header", default="X-Auth-User", help="header naming the user (header mode)"
    )
    p.add_argument(
        "--auth-group-header",
        default="X-Auth-Groups",
        help="header naming the user's groups, comma-separated (header mode)",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        help="file holding the bearer token every request must send (or set KONTINUE_SERVER_TOKEN)",
    )
    p.add_argument(
        "--pipelines",
        dest="pipeline_dirs",
        action="append",
        type=Path,
        metavar="DIR",
        help="folder of pipeline files offered in the New Execution form (repeatable; "
        "default: ./pipelines when it exists)",
    )

    p = add("list", commands.list_, "list Executions")
    _flags.add_output(p)
    _flags.add_filters(p)
    p.add_argument(
        "--archived", action="store_true", help="list ArchivedExecutions (kept by ttl.archiveAfter)"
    )

    p = add("get", commands.get, "show Executions by name; without a name, as `list` does")
    p.add_argument("names", nargs="*", metavar="NAME").completer = _names_completer  # type: ignore[attr-defined]
    _flags.add_output(p)
    _flags.add_filters(p)

    p = add("describe", commands.describe, "an Execution in full: spec, status, steps, events")
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]

    p = add("functions", commands.functions, "list published functions")
    imports(p)
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="output format")

    p = add("resume", commands.resume, "resolve a gate or end a sleep early, then run on")
    _flags.add_log(p)
    _flags.add_resume(p)
    _complete(p, name=_names_completer, step=_steps_completer)
    imports(p)

    p = add("cancel", commands.cancel, "cancel an Execution and everything it started")
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]
    p.add_argument(
        "--force",
        action="store_true",
        help="stop at once, without running a pipeline's finally steps (as a second cancel does)",
    )

    p = add("retry", commands.retry, "start a new attempt of a failed Execution")
    _flags.add_log(p)
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]
    imports(p)
    p.add_argument("--no-wait", action="store_true", help="only mark it; do not run it here")

    p = add("watch", commands.watch, "follow an Execution running elsewhere: its live tree")
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]
    _flags.add_log(p)

    p = add("tree", commands.tree, "show an Execution with its children, suspensions and steps")
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]

    p = add("delete", commands.delete, "delete Executions and everything they own")
    p.add_argument("names", nargs="*", metavar="NAME").completer = _names_completer  # type: ignore[attr-defined]
    p.add_argument(
        "-l", "--selector", type=_flags.selector, help="delete the Executions with these labels"
    )
    p.add_argument("--phase", help="with -l/--all: only Executions in these phases")
    p.add_argument("--all", action="store_true", help="delete every Execution in the namespace")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = add("create", commands.create, "create Executions from manifests (as kubectl create -f)")
    _flags.add_log(p)
    p.add_argument(
        "-f", "--filename", required=True, help="YAML or JSON manifest file (- for stdin)"
    )
    p.add_argument("--no-wait", action="store_true", help="create them and return")
    imports(p)

    p = add(
        "validate",
        commands.validate,
        "check pipeline files and directories (exit 0 valid, 2 invalid); every problem of "
        "every file",
    )
    p.add_argument("files", nargs="+", metavar="FILE|DIR")
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text (FILE:LINE:COL: message) or json, for editors and CI annotations",
    )

    p = add("submit", commands.submit, "validate a pipeline file, then run it")
    _flags.add_log(p)
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline parameter (value read as YAML)",
    )
    p.add_argument("--params-file", help="YAML or JSON file with the parameters")
    p.add_argument("--name", help="name of the Execution (default: PIPELINE-xxxxx)")
    p.add_argument("--no-wait", action="store_true", help="store it and return")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the compiled plan, templates resolved as far as the params "
        "allow; submit nothing",
    )
    p.add_argument("-o", "--output", choices=["yaml", "json"], help="format of the --dry-run plan")
    imports(p)

    p = add("logs", commands.logs, "print the logs of an Execution's job, pod or script steps")
    p.add_argument("name").completer = _names_completer  # type: ignore[attr-defined]
    p.add_argument("step", nargs="?", help="the step (default: every step with logs)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing as logs come")
    p.add_argument("--tail", type=int, default=None, help="only the last N lines")
    _schedules_parser.add_commands(sub, add, _names_completer, commands, flags)
    from kontinue.cli import _doctor

    _doctor.add_command(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kontinue` console script."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions: answer them and exit
        import argcomplete  # only then: a command pays nothing for it

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:  # its "Retrying ..." warnings repeat what our one error line says
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    from kontinue.api import Error, ErrorKind
    from kontinue.store import default_state_dir

    try:
        from kontinue.cli._stores import resolve_store_options

        resolve_store_options(args)
    except Error as exc:
        sys.stderr.write(f"kontinue: error: {exc}\n")
        return 2
    _hints.configure(args)
    if args.state_dir is None:
        args.state_dir = default_state_dir()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        # a command that runs work (an engine, a worker, a controller) claims the first
        # SIGTERM to drain; any other command (watch, list -w, logs -f, a prompt) ends at once
        if not getattr(args, "drains", False):
            raise _Terminated
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    args.stop = stop
    try:
        if args.runner not in ("local", "kubernetes"):  # say so before anything is created
            from kontinue.cli._runners import embedded_runners

            embedded_runners(args.state_dir, args.runner)
        code: int = args.func(args)
        return code
    except Error as exc:  # every error kontinue raises: one root, caught once
        if exc.kind is ErrorKind.INTERNAL:
            return _report_bug(exc, args.verbose)
        if str(exc):  # an empty message: the problems were printed already
            sys.stderr.write(f"kontinue: error: {exc}\n")
        return 2
    except BrokenPipeError:
        # the reader went away (`kontinue tree NAME | head`): stop quietly, as `cat` does
        _silence_stdout()
        return 141
    except OSError as exc:  # the environment: a disk, a permission, a missing file
        fault = _storage_fault(exc)
        sys.stderr.write(f"kontinue: error: {fault or exc}\n")
        return 2 if fault else 1
    except KeyboardInterrupt:
        sys.stderr.write("kontinue: interrupted; the Execution's state is kept\n")
        return 130
    except _Terminated:
        sys.stderr.write("kontinue: stopped (SIGTERM); the Execution's state is kept\n")
        return 143
    except Exception as exc:  # anything else is a bug in kontinue
        return _report_bug(exc, args.verbose)


class _Terminated(BaseException):
    """SIGTERM reached a command that has nothing to drain: it ends at once (exit 143)."""


def _report_bug(exc: BaseException, verbose: bool) -> int:
    """A short report of a bug in kontinue: what, where, and how to see more; exit 1."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    sys.stderr.write(
        f"kontinue: internal error{where}: {type(exc).__name__}: {exc}\n"
        "this is a bug in kontinue, not in your input; the Execution's state is kept. "
        "Run again with -v for the full traceback and report it.\n"
    )
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _storage_fault(exc: OSError) -> str | None:
    """One line for a full or read-only disk met outside the store (job logs, records)."""
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on device{where}: nothing is lost; free some space, then run the "
            "command again (`kontinue resume NAME` carries an interrupted Execution on)"
        )
    if exc.errno == errno.EROFS:
        return f"read-only file system{where}: this command writes; use a writable state dir"
    return None
