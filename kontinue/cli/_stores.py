"""Which store and runners a command uses: the embedded SQLite file, or a Kubernetes cluster.

`--store kubernetes` (or `KONTINUE_STORE=kubernetes`) finds the API server as kubectl does
(`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, in-cluster; `--context`), works in `-n`
or the context's namespace, runs job steps as Kubernetes Jobs (`--runner kubernetes`, the
default there), elects one controller leader on a Lease, and announces workers with a
heartbeat Lease so that the CLI hands an Execution to the cluster when a worker there serves
its function.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from kontinue.cli._errors import UsageError
from kontinue.store import Store, open_store, privacy_warnings

__all__ = [
    "STORE_KINDS",
    "cli_runners",
    "controller_elector",
    "is_kubernetes",
    "open_cli_store",
    "resolve_store_options",
    "say_cluster",
    "served_elsewhere",
    "served_namespace",
    "start_heartbeat",
]

STORE_KINDS = ("sqlite", "kubernetes")
LEADER_LEASE = "kontinue-controller"


def resolve_store_options(args: argparse.Namespace) -> None:
    """Fill the defaults that depend on the store: its kind, the runner, the namespace."""
    if getattr(args, "store", None) is None:
        args.store = os.environ.get("KONTINUE_STORE") or "sqlite"
    if args.store not in STORE_KINDS:
        raise UsageError(
            f"unknown store {args.store!r} (from --store or KONTINUE_STORE); choose "
            f"{' or '.join(STORE_KINDS)}"
        )
    if getattr(args, "runner", None) is None:
        args.runner = "kubernetes" if args.store == "kubernetes" else "local"
    if args.runner == "kubernetes" and args.store != "kubernetes":
        raise UsageError(
            "--runner kubernetes needs --store kubernetes: a Job is owned by its Execution "
            "resource, which must exist in the cluster (with the embedded store the garbage "
            "collector would delete every Job at once)"
        )
    if getattr(args, "namespace", None) is None and args.store != "kubernetes":
        args.namespace = "default"


def is_kubernetes(args: argparse.Namespace) -> bool:
    """Whether the command works on a Kubernetes cluster."""
    return bool(getattr(args, "store", None) == "kubernetes")


def open_cli_store(args: argparse.Namespace, create: bool = False) -> Store:
    """The store the command works on (opened once per command)."""
    cached = getattr(args, "_opened_store", None)
    if cached is not None:
        store: Store = cached
        return store
    if is_kubernetes(args):
        from kontinue.store import open_kubernetes_store

        kube = open_kubernetes_store(
            getattr(args, "kubeconfig", None), getattr(args, "context", None), args.namespace
        )
        if args.namespace is None:
            args.namespace = kube.namespace
        store = kube
    else:
        store = open_store(args.state_dir, create=create)
        for line in privacy_warnings(args.state_dir):
            sys.stderr.write(f"kontinue: {line}\n")
    args._opened_store = store
    return store


def served_namespace(args: argparse.Namespace) -> str | None:
    """The namespace a worker or controller serves: `-n`'s on Kubernetes (None with `-A`:
    every namespace); on the embedded store, every namespace."""
    if not is_kubernetes(args) or getattr(args, "all_namespaces", False):
        return None
    namespace: str = args.namespace
    return namespace


def say_cluster(args: argparse.Namespace, store: Store, what: str) -> None:
    """On Kubernetes: one line saying which API server a long-lived process works with, and
    how it found it (kubeconfig and context, or the pod's in-cluster service account)."""
    if is_kubernetes(args):
        server = store.api_client.configuration.host  # type: ignore[attr-defined]
        source = getattr(store, "source", "?")
        sys.stderr.write(f"{what}: Kubernetes API server {server} ({source})\n")


def cli_runners(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    """The job runners, the one new jobs use first."""
    if is_kubernetes(args) and args.runner == "kubernetes":
        from kontinue.runners import KubernetesRunner

        return {"kubernetes": KubernetesRunner(store.api_client)}  # type: ignore[attr-defined]
    from kontinue.cli._runners import embedded_runners

    return embedded_runners(args.state_dir, args.runner)


def served_elsewhere(
    args: argparse.Namespace,
    store: Store,
    function: str | None = None,
    group: str | None = None,
) -> bool:
    """Whether another process runs Executions here: a `kontinue server` on the state
    directory, or (on Kubernetes) a live worker serving `function` (any, if None) in worker
    group `group` (an Execution labelled with a group is claimed only by workers of it)."""
    if is_kubernetes(args):
        from kontinue.store._kubelease import live_workers

        for _identity, served_group, functions in live_workers(store, args.namespace):  # type: ignore[arg-type]
            if group is not None and served_group != group:
                continue
            if function is None or function in functions:
                return True
        return False
    from kontinue.cli._run import server_running

    return server_running(args.state_dir)


def start_heartbeat(
    args: argparse.Namespace, store: Store, identity: str, group: str, functions: list[str]
) -> Any:
    """On Kubernetes: keep this worker's heartbeat Lease until the returned `stop()`."""
    if not is_kubernetes(args):
        return lambda: None
    from kontinue.store._kubelease import WorkerHeartbeat

    beat = WorkerHeartbeat(
        store,  # type: ignore[arg-type]
        args.namespace,
        identity,
        group,
        functions,
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
    )
    beat.beat()
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(beat.duration / 3):
            try:
                beat.beat()
            except Exception:  # the API server is away for a moment: try again
                continue

    threading.Thread(target=loop, daemon=True, name="heartbeat").start()

    def stop() -> None:
        stopped.set()
        try:
            beat.stop()
        except Exception:
            pass

    return stop


def controller_elector(args: argparse.Namespace, store: Store, identity: str) -> Any:
    """On Kubernetes: a started `Elector` on the controllers' Lease; else None."""
    if not is_kubernetes(args):
        return None
    from kontinue.api import parse_duration
    from kontinue.runtime import Elector

    duration = parse_duration(getattr(args, "leader_lease", None) or "15s").total_seconds()
    lease = store.leader_lease(LEADER_LEASE, identity, duration, args.namespace)  # type: ignore[attr-defined]
    return Elector(lease).start()
