#!/usr/bin/env python
"""Durable steps per second of one Execution on a real Kubernetes API server.

On the test cluster (`scripts/cluster up .cluster`: kube-apiserver 1.20 + etcd 3.4 on this
machine), in one process with the official `kubernetes` client:

* **raw**: sequential merge patches of the `/status` of one small custom resource, the
  physical limit of one write at a time through this client and this API server; measured
  before and after the Execution and, for the ratio, in samples taken between its steps
  (timed apart from them), so that both see the same load of a shared machine;
* **kontinue**: one Execution of N `kontinue.store` steps run by a worker on the Kubernetes
  store, timed inside the function (the step loop) and end to end; the API requests the
  store made per step and the CPU the function's thread spent per step; the per-step cost
  over steps 1-100 and over the last 100;
* **etcd**: its database size (from its status endpoint) before and after the Execution, and
  the largest object the journal wrote (the Execution, a segment ConfigMap).

The last line is `ratio: X.XX`: kontinue loop steps/s over raw patches/s. Goal: >= 0.5, and
the late steps cost what the early ones do.

Usage: `python bench/k8s_steps.py [--n 10000] [--raw 2000] [--kubeconfig FILE] [--etcd URL]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

import kontinue
from kontinue.api import API_GROUP, Execution, ExecutionSpec, ObjectMeta
from kontinue.runtime import Worker, start_execution, step_runtime
from kontinue.store import KubernetesStore, open_kubernetes_store
from kontinue.store._kubejournal import JOURNAL_LABEL

FUNCTION = "bench-k8s-steps"
ROOT = Path(__file__).resolve().parent.parent
EDGE = 100  # steps in the early and late windows

_MARKS: dict[str, dict[str, Any]] = {}
_SAMPLER: list[Callable[[], None]] = []  # interleaves raw patches with the steps
SAMPLES = 9  # raw samples taken during the run, evenly spaced


def _value(i: int) -> int:
    return i


@kontinue.function(FUNCTION, description="benchmark: n durable store steps on Kubernetes")
def bench_k8s_steps(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    n = int(args["n"])
    store: Any = step_runtime(ktx).store
    marks: dict[str, Any] = {"times": {}, "requests": {}, "cpu": {}}
    points = {0, EDGE, n - EDGE, n}
    every = n // (SAMPLES + 1)
    paused = paused_cpu = 0.0  # time spent in raw samples, not in steps
    for i in range(n + 1):
        if i in points:
            marks["times"][i] = time.perf_counter() - paused
            marks["cpu"][i] = time.thread_time() - paused_cpu
            marks["requests"][i] = store.requests
        if i == n:
            break
        if _SAMPLER and i and i % every == 0 and i < n - EDGE:
            t0, c0 = time.perf_counter(), time.thread_time()
            _SAMPLER[0]()
            paused += time.perf_counter() - t0
            paused_cpu += time.thread_time() - c0
        kontinue.store(ktx, functools.partial(_value, i))
    marks["paused"] = paused
    _MARKS[ktx.name] = marks
    return {"n": n}


def _kubeconfig(given: str | None) -> str:
    if given:
        return given
    for candidate in (
        os.environ.get("KONTINUE_TEST_KUBECONFIG"),
        str(ROOT / ".cluster" / "kubeconfig"),
        os.environ.get("KUBECONFIG"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    c.fail("no cluster: start one with `scripts/cluster up .cluster` or pass --kubeconfig")
    raise AssertionError


def _etcd_url(given: str | None, kubeconfig: str) -> str | None:
    if given:
        return given
    if os.environ.get("KONTINUE_TEST_ETCD_URL"):
        return os.environ["KONTINUE_TEST_ETCD_URL"]
    ports = Path(kubeconfig).parent / "ports.env"
    if ports.is_file():
        for line in ports.read_text().splitlines():
            if line.startswith("ETCD_PORT="):
                return f"http://127.0.0.1:{line.split('=', 1)[1].strip()}"
    return None


def etcd_db_size(url: str | None) -> int | None:
    """etcd's database size in bytes, from its maintenance status endpoint."""
    if url is None:
        return None
    request = urllib.request.Request(f"{url}/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.loads(response.read())["dbSize"])


def _ensure_namespace(store: KubernetesStore, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        store.core.create_namespace({"metadata": {"name": namespace}})
    except ApiException as exc:
        if exc.status != 409:
            raise


class RawObject:
    """One custom resource whose `/status` is merge-patched in a loop: the raw limit.

    With `pad`, the object first gets a journal tail of about `pad` bytes, so that it is as
    large as an Execution in the middle of a run (the patches then leave the tail alone).
    """

    def __init__(self, store: KubernetesStore, namespace: str, pad: int = 0) -> None:
        self.store, self.namespace = store, namespace
        self.name = f"bench-raw-{os.getpid()}-{pad}"
        self.count = 0
        self.patches = 0
        self.seconds = 0.0
        store.create(
            Execution(
                metadata=ObjectMeta(name=self.name, namespace=namespace),
                spec=ExecutionSpec(function="raw", arguments={"n": 1}),
            )
        )
        if pad:
            entry = {"seq": 0, "name": "step-0", "kind": "store", "time": "x" * 32, "result": 0}
            tail = [dict(entry, seq=i) for i in range(max(1, pad // 100))]
            self._patch({"status": {"journal": {"next": len(tail), "sealed": 0, "tail": tail}}})
        self.run(50, timed=False)  # warm the connection

    def _patch(self, body: dict[str, Any]) -> None:
        _ = self.store.custom.patch_namespaced_custom_object_status(
            API_GROUP,
            "v1alpha1",
            self.namespace,
            "executions",
            self.name,
            body,
            _preload_content=False,
        ).data

    def run(self, count: int, *, timed: bool = True) -> float:
        """`count` sequential patches; their rate per second."""
        t0 = time.perf_counter()
        for _ in range(count):
            self.count += 1
            self._patch({"status": {"steps": self.count, "message": f"patch {self.count}"}})
        elapsed = time.perf_counter() - t0
        if timed:
            self.patches += count
            self.seconds += elapsed
        return count / elapsed

    def rate(self) -> float:
        """Patches per second over every timed run so far."""
        return self.patches / self.seconds

    def delete(self) -> None:
        self.store.delete(Execution, self.namespace, self.name)


def raw_patches(store: KubernetesStore, namespace: str, count: int, pad: int = 0) -> float:
    """Sequential merge patches of one object's status; patches per second."""
    raw = RawObject(store, namespace, pad)
    try:
        return raw.run(count)
    finally:
        raw.delete()


def run_kontinue(
    store: KubernetesStore, watcher: KubernetesStore, namespace: str, n: int
) -> dict[str, Any]:
    """Run the Execution with a worker on `store` (whose requests are counted); this thread
    waits for the end through `watcher`, a second client whose requests are not."""
    worker = Worker(store, namespace=namespace, concurrency=2)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.25), daemon=True)
    thread.start()
    try:
        t0 = time.perf_counter()
        name = start_execution(watcher, FUNCTION, {"n": n}, namespace=namespace).metadata.name
        deadline = time.monotonic() + 1800
        while True:
            final = watcher.get(Execution, namespace, name)
            if final.terminal:
                break
            if time.monotonic() > deadline:
                c.fail(f"Execution {name} did not finish in 30 minutes", 1)
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        thread.join(10)
        worker.close()
    if final.status.phase != "Completed":
        err = final.status.error.message if final.status.error else "no error"
        c.fail(f"Execution {name} ended {final.status.phase}: {err}", 1)
    marks = _MARKS[name]
    times, requests = marks["times"], marks["requests"]
    raw = store.get_raw(Execution, namespace, name)
    uid = raw["metadata"]["uid"]
    config_maps = store.core.list_namespaced_config_map(
        namespace, label_selector=f"{JOURNAL_LABEL}={uid}"
    ).items
    largest_cm = max(
        (len(json.dumps(store.api_client.sanitize_for_serialization(cm))) for cm in config_maps),
        default=0,
    )
    before = store.requests
    journal = store.read_journal(namespace, name)
    replay_requests = store.requests - before
    return {
        "name": name,
        "end_to_end": elapsed - marks["paused"],
        "loop": times[n] - times[0],
        "cpu": (marks["cpu"][n] - marks["cpu"][0]) / n,
        "early": (times[EDGE] - times[0]) / EDGE,
        "late": (times[n] - times[n - EDGE]) / EDGE,
        "requests": (requests[n] - requests[0]) / n,
        "execution_bytes": len(json.dumps(raw)),
        "segments": len(config_maps),
        "largest_cm": largest_cm,
        "journal": len(journal),
        "replay_requests": replay_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="steps of the Execution")
    parser.add_argument("--raw", type=int, default=2000, help="raw status patches")
    parser.add_argument("--kubeconfig", help="cluster (default: the test cluster)")
    parser.add_argument("--etcd", help="etcd client URL for its database size")
    parser.add_argument("--namespace", default="kontinue-bench")
    parser.add_argument("--quick", action="store_true", help="--n 400 --raw 300")
    args = parser.parse_args()
    if args.quick:
        args.n, args.raw = 400, 300
    if args.n < 2 * EDGE:
        c.fail(f"--n must be at least {2 * EDGE}")
    kubeconfig = _kubeconfig(args.kubeconfig)
    etcd = _etcd_url(args.etcd, kubeconfig)
    store = open_kubernetes_store(kubeconfig, namespace=args.namespace)
    try:
        _ensure_namespace(store, args.namespace)
        c.say(f"cluster: {store.api_client.configuration.host} ({kubeconfig})")
        for line in c.machine_notes(Path(kubeconfig).parent):
            c.say(line)
        raw_before = raw_patches(store, args.namespace, args.raw)
        c.say(f"raw before: {raw_before:,.0f} sequential status patches/s of one small object")
        size_before = etcd_db_size(etcd)
        watcher = open_kubernetes_store(kubeconfig, namespace=args.namespace)
        # the raw object is patched through the second client, so the steps' request count
        # stays the worker's own
        sampled = RawObject(watcher, args.namespace)
        per_sample = max(20, args.raw // SAMPLES)
        _SAMPLER.append(lambda: sampled.run(per_sample) and None)
        try:
            k = run_kontinue(store, watcher, args.namespace, args.n)
        finally:
            _SAMPLER.clear()
            sampled.delete()
            watcher.close()
        size_after = etcd_db_size(etcd)
        raw_after = raw_patches(store, args.namespace, args.raw)
        c.say(f"raw after: {raw_after:,.0f} patches/s")
        raw = sampled.rate()
        c.say(
            f"raw during the run: {raw:,.0f} patches/s ({SAMPLES} samples of {per_sample} "
            f"patches between steps, timed apart from them): the raw limit the ratio uses"
        )
        pad = max(0, k["execution_bytes"] - 900)
        raw_large = raw_patches(store, args.namespace, args.raw, pad=pad)
        c.say(
            f"raw, one object as large as the Execution ({k['execution_bytes']:,} B): "
            f"{raw_large:,.0f} patches/s (ratio to it: {args.n / k['loop'] / raw_large:.2f})"
        )
    finally:
        store.close()
    steps = args.n / k["loop"]
    c.say(
        f"kontinue: {args.n:,} steps in {k['loop']:.1f} s = {steps:,.0f} steps/s "
        f"(end to end {args.n / k['end_to_end']:,.0f}/s, with start and finish)"
    )
    c.say(
        f"API requests per step: {k['requests']:.3f}; CPU of the function's thread per step: "
        f"{k['cpu'] * 1000:.2f} ms (the rest of a step is waiting for the API server)"
    )
    c.say(
        f"per-step cost: steps 1-{EDGE}: {k['early'] * 1000:.2f} ms; "
        f"steps {args.n - EDGE + 1}-{args.n}: {k['late'] * 1000:.2f} ms "
        f"(late/early {k['late'] / k['early']:.2f})"
    )
    if size_before is not None and size_after is not None:
        c.say(
            f"etcd db size: {size_before / 1e6:.1f} MB before, {size_after / 1e6:.1f} MB after "
            f"(+{(size_after - size_before) / 1e6:.1f} MB for {args.n:,} steps)"
        )
    else:
        c.say("etcd db size: not measured (pass --etcd URL)")
    c.say(
        f"largest objects: the Execution {k['execution_bytes']:,} B at the end; "
        f"{k['segments']} journal ConfigMaps, the largest {k['largest_cm']:,} B"
    )
    c.say(f"replay read of {k['journal']:,} entries: {k['replay_requests']} requests")
    print(f"ratio: {steps / raw:.2f}")


if __name__ == "__main__":
    sys.exit(main())
