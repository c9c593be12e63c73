"""A test-only node agent ("kubelet") for the local test cluster of `scripts/cluster`.

It registers one Node, keeps it Ready with heartbeats (Node status and a Lease in
kube-node-lease), binds every unscheduled pod to it (there is no scheduler), runs each
container's command and args as a local process (the image is NOT pulled or used: the command
runs on this machine with its tools), reports pod status (Pending -> Running ->
Succeeded/Failed, exit codes, restarts for `restartPolicy` Always/OnFailure), honours
`activeDeadlineSeconds`, stops processes of pods that are deleted (SIGTERM, the grace period,
then SIGKILL) and finishes their deletion, and serves container logs over HTTPS the way the
API server asks a kubelet for them (`GET /containerLogs/NS/POD/CONTAINER` with `tailLines`,
`follow`, `timestamps`, `limitBytes`, `sinceSeconds`, `previous`), so `pods/log` works.

It survives an API server restart (every loop re-lists and re-watches on any error) and
starts again cleanly after its own restart (pods it no longer runs are restarted or failed as
their restart policy says).

Each process gets the pod's environment (`env` values, `fieldRef`s, ConfigMap and Secret
keys) and `KUBERNETES_SERVICE_HOST/PORT` pointing at the API server, and runs in
`workingDir` or a fresh directory of its own.

Volumes as a kubelet mounts them: `secret`, `configMap`, `projected` (service account token
from the TokenRequest API, ConfigMaps, Secrets, the namespace) and `emptyDir` volumes are
written to the pod's directory and bind-mounted at each container's `volumeMounts` in a
mount namespace of the container's own (`unshare --mount`, so the host sees none of it).
So a pod gets its service account's token, the cluster's CA and its namespace at
`/var/run/secrets/kubernetes.io/serviceaccount` (the API server's ServiceAccount admission
adds that mount to every pod), and a client in it finds the cluster with in-cluster
configuration, as its identity, under RBAC. A pod without that mount (its
`automountServiceAccountToken` is false), or an agent that cannot make mount namespaces (not
root), gets `KUBECONFIG` naming the cluster's admin kubeconfig instead.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.server
import json
import logging
import os
import shutil
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

log = logging.getLogger("node-agent")

HEARTBEAT_SECONDS = 10.0
MAX_GRACE_SECONDS = 30
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SECONDS = 3600
# Runs in the container's own mount namespace: bind-mount each (source, target) pair, then
# become the container's command. The pairs and the command are arguments, never code.
_MOUNT_SCRIPT = (
    'while [ "$1" != "--" ]; do mkdir -p "$2" && mount --bind "$1" "$2" || exit 126; '
    'shift 2; done; shift; exec "$@"'
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerRun:
    """One container of one pod: its process, its log file, its state."""

    def __init__(self, pod_dir: Path, name: str, image: str) -> None:
        self.name = name
        self.image = image
        self.log_path = pod_dir / f"{name}.log"
        self.pid_path = pod_dir / f"{name}.pid"
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_count = 0
        self.started_at: dt.datetime | None = None
        self.finished_at: dt.datetime | None = None
        self.exit_code: int | None = None
        self.reason = ""
        self.message = ""
        self.last_terminated: dict[str, Any] | None = None
        self.done = threading.Event()

    def status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.exit_code is not None and self.process is None:
            state = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
                    "message": self.message or None,
                    "startedAt": rfc3339(self.started_at) if self.started_at else None,
                    "finishedAt": rfc3339(self.finished_at or now()),
                }
            }
        elif self.process is not None and self.started_at:
            state = {"running": {"startedAt": rfc3339(self.started_at)}}
        else:
            state = {"waiting": {"reason": self.reason or "ContainerCreating"}}
        result: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": "running" in state,
            "started": "running" in state,
            "restartCount": self.restart_count,
            "state": state,
        }
        if self.last_terminated:
            result["lastState"] = {"terminated": self.last_terminated}
        return result


class PodRun:
    """A pod bound to this node and the thread that runs its containers."""

    def __init__(self, agent: Agent, pod: Any) -> None:
        self.agent = agent
        self.namespace: str = pod.metadata.namespace
        self.name: str = pod.metadata.name
        self.uid: str = pod.metadata.uid
        self.pod = pod
        self.dir = agent.workdir / f"{self.namespace}_{self.name}_{self.uid}"
        self.dir.mkdir(parents=True, exist_ok=True)
        spec = pod.spec
        self.init = [ContainerRun(self.dir, c.name, c.image) for c in spec.init_containers or []]
        self.main = [ContainerRun(self.dir, c.name, c.image) for c in spec.containers]
        self.stopping = threading.Event()
        self.grace = MAX_GRACE_SECONDS
        self.start_time = now()
        self.phase = "Pending"
        self.reason = ""
        self.message = ""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, name=f"pod-{self.name}", daemon=True)

    # -- environment ------------------------------------------------------------------------

    def _env(self, container: Any, mounts: list[tuple[Path, str]]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.agent.base_env)
        if not any(target == SERVICE_ACCOUNT_DIR for _, target in mounts):
            env["KUBECONFIG"] = self.agent.kubeconfig  # no service account: the admin's
        env["HOSTNAME"] = self.name
        for source in container.env_from or []:
            prefix = source.prefix or ""
            if source.config_map_ref is not None:
                data = self._config_map(source.config_map_ref.name, source.config_map_ref.optional)
                env.update({prefix + k: v for k, v in data.items()})
            if source.secret_ref is not None:
                data = self._secret(source.secret_ref.name, source.secret_ref.optional)
                env.update({prefix + k: v for k, v in data.items()})
        for var in container.env or []:
            if var.value_from is None:
                env[var.name] = _expand(var.value or "", env)
                continue
            ref = var.value_from
            value: str | None = None
            if ref.field_ref is not None:
                value = self._field(ref.field_ref.field_path)
            elif ref.config_map_key_ref is not None:
                key = ref.config_map_key_ref
                value = self._config_map(key.name, key.optional).get(key.key)
            elif ref.secret_key_ref is not None:
                key = ref.secret_key_ref
                value = self._secret(key.name, key.optional).get(key.key)
            if value is not None:
                env[var.name] = value
        return env

    def _field(self, path: str) -> str | None:
        meta = self.pod.metadata
        simple = {
            "metadata.name": meta.name,
            "metadata.namespace": meta.namespace,
            "metadata.uid": meta.uid,
            "spec.nodeName": self.agent.node_name,
            "spec.serviceAccountName": self.pod.spec.service_account_name,
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        for prefix, mapping in (
            ("metadata.labels", meta.labels),
            ("metadata.annotations", meta.annotations),
        ):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return (mapping or {}).get(path[len(prefix) + 2 : -2])
        return None

    def _config_map(self, name: str, optional: bool | None) -> dict[str, str]:
        try:
            cm = self.agent.core.read_namespaced_config_map(name, self.namespace)
        except ApiException:
            if optional:
                return {}
            raise
        return dict(cm.data or {})

    def _secret(self, name: str, optional: bool | None) -> dict[str, str]:
        try:
            secret = self.agent.core.read_namespaced_secret(name, self.namespace)
        except ApiException:
            if optional:
                return {}
            raise
        return {
            k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()
        }

    # -- volumes ----------------------------------------------------------------------------

    def _mounts(self, container: Any) -> list[tuple[Path, str]]:
        """(directory, mountPath) of each volume the container mounts that this agent makes;
        none when it cannot make mount namespaces (then the container gets KUBECONFIG)."""
        if not self.agent.can_mount:
            return []
        volumes = {v.name: v for v in self.pod.spec.volumes or []}
        out = []
        for mount in container.volume_mounts or []:
            volume = volumes.get(mount.name)
            source = self._volume(volume) if volume is not None else None
            if source is None:
                continue
            if mount.sub_path:
                source = source / mount.sub_path
            if _hides_the_host(mount.mount_path, self.dir):
                # containers share the host's files here: a volume at /tmp must not hide the
                # cluster, the repository or Python when they live under /tmp
                continue
            out.append((source, mount.mount_path))
        return _mount_order(out)

    def _volume(self, volume: Any) -> Path | None:
        """The volume's files in the pod's directory (written once), or None for a kind of
        volume this agent does not make."""
        path = self.dir / "volumes" / volume.name
        with self.lock:
            if path.exists():
                return path
            files: dict[str, str] | None = None
            if volume.secret is not None:
                files = self._secret(volume.secret.secret_name, volume.secret.optional)
                files = _pick(files, volume.secret.items)
            elif volume.config_map is not None:
                files = self._config_map(volume.config_map.name, volume.config_map.optional)
                files = _pick(files, volume.config_map.items)
            elif volume.projected is not None:
                files = self._projected(volume.projected)
            elif volume.empty_dir is not None:
                files = {}
            if files is None:
                return None
            staging = path.with_name(f".{volume.name}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True, mode=0o700)
            for name, content in files.items():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            staging.rename(path)
            return path

    def _projected(self, projected: Any) -> dict[str, str]:
        files: dict[str, str] = {}
        for source in projected.sources or []:
            if source.service_account_token is not None:
                token = source.service_account_token
                files[token.path] = self._token(token.audience, token.expiration_seconds)
            elif source.config_map is not None:
                data = self._config_map(source.config_map.name, source.config_map.optional)
                files.update(_pick(data, source.config_map.items))
            elif source.secret is not None:
                data = self._secret(source.secret.name, source.secret.optional)
                files.update(_pick(data, source.secret.items))
            elif source.downward_api is not None:
                for item in source.downward_api.items or []:
                    if item.field_ref is not None:
                        files[item.path] = self._field(item.field_ref.field_path) or ""
        return files

    def _token(self, audience: str | None, seconds: int | None) -> str:
        """A token of the pod's service account bound to the pod (the TokenRequest API)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else None,
                "expirationSeconds": seconds or TOKEN_SECONDS,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name,
                                   "uid": self.uid},
            },
        }  # fmt: skip
        account = self.pod.spec.service_account_name or "default"
        response = self.agent.core.create_namespaced_service_account_token(
            account, self.namespace, body, _preload_content=False
        )
        return str(json.loads(response.data)["status"]["token"])

    # -- running ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # never leave a pod hanging: report and finish it
            log.exception("pod %s/%s", self.namespace, self.name)
            self.phase, self.reason, self.message = "Failed", "NodeAgentError", str(exc)
            self.report()
        finally:
            self.agent.finished(self)

    def _run(self) -> None:
        spec = self.pod.spec
        restart = spec.restart_policy or "Always"
        deadline = (
            time.monotonic() + spec.active_deadline_seconds
            if spec.active_deadline_seconds
            else None
        )
        self.report()
        for container_spec, run in zip(spec.init_containers or [], self.init, strict=True):
            while True:
                code = self._run_container(container_spec, run, deadline)
                if code == 0 or self.stopping.is_set() or restart == "Never":
                    break
                self._backoff(run)
            if code != 0:
                self._finish_failed()
                return
        self.phase = "Running"
        threads = [
            threading.Thread(target=self._run_main, args=(c, run, restart, deadline), daemon=True)
            for c, run in zip(spec.containers, self.main, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.stopping.is_set() and self.reason != "DeadlineExceeded":
            # Deleted: the object goes away; report the final state all the same.
            self.phase = "Failed" if any(r.exit_code for r in self.main) else "Succeeded"
            self.report()
            return
        if self.reason == "DeadlineExceeded":
            self.phase = "Failed"
        else:
            self.phase = "Failed" if any(r.exit_code for r in self.main) else "Succeeded"
        self.report()

    def _finish_failed(self) -> None:
        self.phase = "Failed"
        self.report()

    def _run_main(self, spec: Any, run: ContainerRun, restart: str, deadline: float | None) -> None:
        while True:
            code = self._run_container(spec, run, deadline)
            if self.stopping.is_set():
                return
            if restart == "Always" or (restart == "OnFailure" and code != 0):
                self._backoff(run)
                if self.stopping.is_set():
                    return
                continue
            return

    def _backoff(self, run: ContainerRun) -> None:
        run.last_terminated = run.status()["state"].get("terminated")
        run.restart_count += 1
        run.exit_code = None
        run.reason = "CrashLoopBackOff"
        self.report()
        self.stopping.wait(min(1.0 * 2 ** min(run.restart_count - 1, 5), 30.0))

    def _run_container(self, spec: Any, run: ContainerRun, deadline: float | None) -> int:
        argv = list(spec.command or []) + list(spec.args or [])
        if self.stopping.is_set():
            run.exit_code, run.reason = 137, "Killed"
            return 137
        if not argv:
            run.exit_code = 128
            run.reason = "NoCommand"
            run.message = (
                "the test node agent runs a container's command and args as a local process; "
                f"container {spec.name!r} has neither (its image {spec.image!r} is not used)"
            )
            run.finished_at = now()
            self.report()
            return 128
        mounts = self._mounts(spec)
        env = self._env(spec, mounts)
        argv = [_expand(a, env) for a in argv]
        if mounts:
            pairs = [str(x) for source, target in mounts for x in (source, target)]
            argv = [
                "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", _MOUNT_SCRIPT, "mount", *pairs, "--", *argv,
            ]  # fmt: skip
        workdir = Path(spec.working_dir) if spec.working_dir else self.dir / f"{spec.name}.cwd"
        workdir.mkdir(parents=True, exist_ok=True)
        previous = run.log_path.with_suffix(".log.previous")
        if run.log_path.exists() and run.restart_count:
            run.log_path.replace(previous)
        logfile = open(run.log_path, "ab")  # noqa: SIM115 - closed below
        try:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                run.exit_code, run.reason, run.message = 127, "StartError", str(exc)
                run.started_at = run.finished_at = now()
                self.report()
                return 127
            run.process = process
            run.pid_path.write_text(str(process.pid))
            run.started_at, run.finished_at, run.exit_code = now(), None, None
            run.reason = run.message = ""
            self.report()
            pump = threading.Thread(target=_pump, args=(process, logfile), daemon=True)
            pump.start()
            killer = threading.Thread(
                target=self._watch_stop, args=(process, deadline), daemon=True
            )
            killer.start()
            code = process.wait()
            pump.join(timeout=5)
        finally:
            logfile.close()
        run.pid_path.unlink(missing_ok=True)
        run.process = None
        run.exit_code = code if code >= 0 else 128 - code
        if code < 0 and not run.reason:
            run.reason = "Error"
        run.finished_at = now()
        self.report()
        return run.exit_code

    def _watch_stop(self, process: subprocess.Popen[bytes], deadline: float | None) -> None:
        while process.poll() is None:
            timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            if self.stopping.wait(timeout):
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.reason = "DeadlineExceeded"
                self.message = "Pod was active on the node longer than the specified deadline"
                self.grace = 0
                self.stopping.set()
                break
        if process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
        else:
            _signal_group(process.pid, signal.SIGKILL)  # its children

    def stop(self, grace: int | None) -> None:
        if grace is not None:
            self.grace = max(0, min(grace, MAX_GRACE_SECONDS))
        self.stopping.set()

    # -- status -----------------------------------------------------------------------------

    def report(self) -> None:
        with self.lock:
            status = self._status()
        try:
            self.agent.core.patch_namespaced_pod_status(
                self.name, self.namespace, {"status": status}
            )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("status of %s/%s: %s", self.namespace, self.name, exc.reason)
        except Exception as exc:  # API server away: the next report carries the state
            log.warning("status of %s/%s: %s", self.namespace, self.name, exc)

    def _status(self) -> dict[str, Any]:
        statuses = [r.status() for r in self.main]
        ready = self.phase == "Running" and all(s["ready"] for s in statuses)
        t = rfc3339(now())
        initialized = all(r.exit_code == 0 for r in self.init)

        def cond(kind: str, ok: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": t}

        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": rfc3339(self.start_time),
            "qosClass": "BestEffort",
            "conditions": [
                cond("Initialized", initialized),
                cond("Ready", ready),
                cond("ContainersReady", ready),
                cond("PodScheduled", True),
            ],
            "containerStatuses": statuses,
        }
        if self.init:
            status["initContainerStatuses"] = [r.status() for r in self.init]
        if self.reason:
            status["reason"] = self.reason
            status["message"] = self.message
        return status

    def container(self, name: str) -> ContainerRun | None:
        for run in self.init + self.main:
            if run.name == name:
                return run
        return None


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command, args and env values ($$ escapes)."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            end = text.index(")", i)
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _can_mount() -> bool:
    """Whether this agent can give a container a mount namespace with bind mounts."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        log.warning("no mount namespaces (%s): pods get KUBECONFIG", probe.stderr.strip())
    return probe.returncode == 0


def _pump(process: subprocess.Popen[bytes], logfile: Any) -> None:
    """Copy the process's output to the log, one timestamped line at a time."""
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        stamp = now().strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        if not line.endswith(b"\n"):
            line += b"\n"
        logfile.write(stamp + b" " + line)
        logfile.flush()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _pick(data: dict[str, str], items: Any) -> dict[str, str]:
    """The keys of a ConfigMap or Secret a volume projects (all, or `items` key -> path)."""
    if not items:
        return data
    return {item.path: data[item.key] for item in items if item.key in data}


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.kubeconfig = os.path.abspath(args.kubeconfig)
        self.api_client = config.new_client_from_config(config_file=self.kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.node_name: str = args.node_name
        self.port: int = args.port
        self.workdir = Path(args.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        host = urllib.parse.urlparse(self.api_client.configuration.host)
        # The agent's own Python's directory first on PATH: a pod whose command is `kontinue`
        # runs the kontinue of the environment the cluster was started from.
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        self.base_env = {
            "PATH": path,
            "KUBERNETES_SERVICE_HOST": host.hostname or "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(host.port or 443),
        }
        self.can_mount = _can_mount()
        self.pods: dict[str, PodRun] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.cert, self.key = args.cert, args.key

    # -- node -------------------------------------------------------------------------------

    def node_status(self) -> dict[str, Any]:
        t = rfc3339(now())
        conditions = [
            {
                "type": kind,
                "status": "False",
                "reason": f"KubeletHas{'No' if kind != 'PIDPressure' else 'Sufficient'}{kind}",
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kontinue test node agent is posting ready status",
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }
        )
        return {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "250"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "250"},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "kontinue test node agent",
                "containerRuntimeVersion": "local-process://1",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def register(self) -> None:
        body = {
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kontinue.cloud/test-agent": "true",
                },
            },
            "status": self.node_status(),
        }
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        self.core.patch_node_status(self.node_name, {"status": self.node_status()})
        lease = {
            "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": 40,
                "renewTime": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
        try:
            self.coordination.patch_namespaced_lease(
                self.node_name, "kube-node-lease", {"spec": lease["spec"]}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.coordination.create_namespaced_lease("kube-node-lease", lease)
            except ApiException as exc2:
                if exc2.status not in (404, 409):  # namespace not made yet: next time
                    raise

    def heartbeat_loop(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except ApiException as exc:
                if exc.status == 404:  # the Node was deleted: register again
                    try:
                        self.register()
                    except Exception as exc2:
                        log.warning("re-register: %s", exc2)
                else:
                    log.warning("heartbeat: %s", exc.reason)
            except Exception as exc:
                log.warning("heartbeat: %s", exc)

    # -- pods -------------------------------------------------------------------------------

    def handle(self, event_type: str, pod: Any) -> None:
        uid = pod.metadata.uid
        spec = pod.spec
        if event_type == "DELETED":
            with self.lock:
                run = self.pods.get(uid)
            if run is not None:
                run.stop(0)
            return
        if not spec.node_name:
            if (spec.scheduler_name or "default-scheduler") == "default-scheduler" and (
                pod.metadata.deletion_timestamp is None
            ):
                self.bind(pod)
            return
        if spec.node_name != self.node_name:
            return
        with self.lock:
            run = self.pods.get(uid)
        if pod.metadata.deletion_timestamp is not None:
            if run is not None:
                run.stop(pod.metadata.deletion_grace_period_seconds)
            else:
                self.finish_deletion(pod)
            return
        if run is not None:
            run.pod = pod
            return
        phase = pod.status.phase if pod.status else None
        if phase in ("Succeeded", "Failed"):
            return
        if phase == "Running" and (spec.restart_policy or "Always") != "Always":
            # It ran under an agent that is gone; its process is lost.
            self.report_lost(pod)
            return
        run = PodRun(self, pod)
        with self.lock:
            if uid in self.pods:
                return
            self.pods[uid] = run
        run.thread.start()

    def bind(self, pod: Any) -> None:
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod.metadata.name, uid=pod.metadata.uid),
            target=client.V1ObjectReference(kind="Node", name=self.node_name, api_version="v1"),
        )
        try:
            # _preload_content=False: the client cannot decode the Status answer as a Binding.
            self.core.create_namespaced_pod_binding(
                pod.metadata.name, pod.metadata.namespace, body, _preload_content=False
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("bind %s/%s: %s", pod.metadata.namespace, pod.metadata.name, exc)

    def report_lost(self, pod: Any) -> None:
        try:
            self.core.patch_namespaced_pod_status(
                pod.metadata.name,
                pod.metadata.namespace,
                {
                    "status": {
                        "phase": "Failed",
                        "reason": "NodeAgentRestarted",
                        "message": "the test node agent restarted while this pod ran",
                    }
                },
            )
        except ApiException:
            pass

    def finish_deletion(self, pod: Any) -> None:
        """What a kubelet does once a deleted pod's containers are stopped."""
        try:
            self.core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0,
                    preconditions=client.V1Preconditions(uid=pod.metadata.uid),
                ),
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("delete %s/%s: %s", pod.metadata.namespace, pod.metadata.name, exc)
        except Exception as exc:
            log.warning("delete %s/%s: %s", pod.metadata.namespace, pod.metadata.name, exc)

    def finished(self, run: PodRun) -> None:
        if run.stopping.is_set() and run.reason != "DeadlineExceeded":
            self.finish_deletion(run.pod)
        with self.lock:
            self.pods.pop(run.uid, None)

    def watch_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                listed = self.core.list_pod_for_all_namespaces()
                seen = set()
                for pod in listed.items:
                    seen.add(pod.metadata.uid)
                    self.handle("ADDED", pod)
                with self.lock:
                    gone = [run for uid, run in self.pods.items() if uid not in seen]
                for run in gone:
                    run.stop(0)
                version = listed.metadata.resource_version
                w = watch.Watch()
                for event in w.stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=version,
                    timeout_seconds=300,
                    allow_watch_bookmarks=True,
                ):
                    if self.stopped.is_set():
                        w.stop()
                        break
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self.handle(event["type"], event["object"])
            except ApiException as exc:
                if exc.status != 410:
                    log.warning("watch: %s %s", exc.status, exc.reason)
                    self.stopped.wait(1)
            except Exception as exc:  # API server restarting, connection reset ...
                log.warning("watch: %s", exc)
                self.stopped.wait(1)

    def shutdown(self) -> None:
        self.stopped.set()
        with self.lock:
            runs = list(self.pods.values())
        for run in runs:
            for c in run.init + run.main:
                if c.process is not None:
                    _signal_group(c.process.pid, signal.SIGKILL)

    # -- logs -------------------------------------------------------------------------------

    def find(self, namespace: str, name: str) -> tuple[PodRun | None, Path | None]:
        with self.lock:
            for run in self.pods.values():
                if run.namespace == namespace and run.name == name:
                    return run, run.dir
        matches = sorted(
            self.workdir.glob(f"{namespace}_{name}_*"), key=lambda p: p.stat().st_mtime
        )
        return None, (matches[-1] if matches else None)

    def serve(self) -> None:
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if url.path == "/healthz":
                    self._reply(200, b"ok")
                    return
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self._reply(404, b"not found")
                    return
                _, namespace, pod, container = parts
                query = urllib.parse.parse_qs(url.query)
                agent.stream_logs(self, namespace, pod, container, query)

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        server = Server(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stream_logs(
        self, handler: Any, namespace: str, pod: str, container: str, query: dict[str, list[str]]
    ) -> None:
        def arg(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        run, pod_dir = self.find(namespace, pod)
        if pod_dir is None:
            handler._reply(404, f"pod {namespace}/{pod} has no logs on this node".encode())
            return
        path = pod_dir / f"{container}.log"
        if arg("previous") == "true":
            path = pod_dir / f"{container}.log.previous"
        if not path.exists():
            handler._reply(
                400 if arg("previous") == "true" else 404,
                f"container {container!r} in pod {namespace}/{pod} has no logs".encode(),
            )
            return
        timestamps = arg("timestamps") == "true"
        tail = int(arg("tailLines")) if arg("tailLines") not in (None, "") else None
        limit = int(arg("limitBytes")) if arg("limitBytes") not in (None, "") else None
        since: str | None = None
        if arg("sinceSeconds"):
            since = (now() - dt.timedelta(seconds=int(arg("sinceSeconds") or 0))).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
        elif arg("sinceTime"):
            since = arg("sinceTime")
        follow = arg("follow") == "true"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        sent = 0

        def emit(line: bytes) -> bool:
            nonlocal sent
            stamp, _, text = line.partition(b" ")
            if since is not None and stamp.decode() < since:
                return True
            out = line if timestamps else text
            if limit is not None:
                out = out[: max(0, limit - sent)]
            if out:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(out), out))
                handler.wfile.flush()
                sent += len(out)
            return limit is None or sent < limit

        try:
            with open(path, "rb") as f:
                lines = f.readlines()
                if tail is not None:
                    lines = lines[-tail:] if tail > 0 else []
                going = all(emit(line) for line in lines)
                c = run.container(container) if run is not None else None
                while going and follow and c is not None:
                    line = f.readline()
                    if line.endswith(b"\n"):
                        going = emit(line)
                        continue
                    if c.process is None and run is not None and not run.thread.is_alive():
                        break
                    if c.process is None and c.exit_code is not None:
                        rest = f.read()
                        for extra in rest.splitlines(keepends=True):
                            emit(extra)
                        break
                    time.sleep(0.05)
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", default="kontinue-test-node")
    parser.add_argument("--port", type=int, default=10250)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    agent = Agent(args)
    agent.serve()
    while True:
        try:
            agent.register()
            break
        except Exception as exc:
            log.warning("register: %s", exc)
            time.sleep(1)

    def on_signal(signum: int, frame: Any) -> None:
        agent.shutdown()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=agent.heartbeat_loop, daemon=True).start()
    log.info("node %s ready; kubelet endpoint https://127.0.0.1:%d", agent.node_name, agent.port)
    agent.watch_loop()


def _mount_order(mounts: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Bind mounts in an order in which none hides the source of one still to come: a volume
    at /tmp would hide the pod's own directory when the cluster lives under /tmp (a clone in
    /tmp running CI). Among those free to go, parents before children, as a kubelet does."""

    def hides(target: str, source: Path) -> bool:
        return source == Path(target) or Path(target) in source.parents

    pending = sorted(mounts, key=lambda m: len(Path(m[1]).parts))
    ordered: list[tuple[Path, str]] = []
    while pending:
        free = next(
            (m for m in pending if not any(hides(m[1], o[0]) for o in pending if o is not m)),
            pending[0],  # a cycle cannot be ordered: keep the given order
        )
        ordered.append(free)
        pending.remove(free)
    return ordered


def _hides_the_host(target: str, pod_dir: Path) -> bool:
    """Whether a volume mounted at `target` would hide what the container's process needs from
    the host (this test node has no image): the pod's directory, the agent's working directory
    (the repository) or the Python it runs."""
    needed = [pod_dir, Path.cwd(), Path(sys.prefix), Path(sys.executable).resolve().parent]
    where = Path(target)
    return any(p == where or where in p.parents for p in needed)


if __name__ == "__main__":
    main()
