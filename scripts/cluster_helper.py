"""Steps of `scripts/cluster up` that are easier with the official Kubernetes client.

    cluster_helper.py wait-etcd URL [--timeout S] [--log FILE]
    cluster_helper.py wait-apiserver KUBECONFIG [--timeout S] [--log FILE]
    cluster_helper.py wait-node KUBECONFIG [--timeout S] [--log FILE]
    cluster_helper.py install KUBECONFIG CHART_DIR [--namespace NS]

`install` applies the chart's CRDs (CHART_DIR/crds/*.yaml) and, when the Helm engine
(`helm-python-sdk`) is importable, the chart's RBAC rendered with cluster-wide permissions
(ServiceAccounts, ClusterRoles and their bindings) in the release namespace.
Test-only tooling: not part of the kontinue package.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def fail(message: str, log: str | None = None) -> None:
    if log and Path(log).exists():
        lines = Path(log).read_text(errors="replace").splitlines()[-15:]
        message += f"\nlast lines of {log}:\n" + "\n".join(lines)
    print(f"cluster: error: {message}", file=sys.stderr)
    sys.exit(1)


def wait_etcd(url: str, timeout: float, log: str | None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if json.loads(response.read()).get("health") == "true":
                    return
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    fail(f"etcd at {url} was not healthy after {timeout:.0f} s ({last})", log)


def _kube_config(kubeconfig: str) -> tuple[str, ssl.SSLContext, str]:
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load(Path(kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"]["token"]
    import base64

    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    return cluster["server"], context, token


def wait_apiserver(kubeconfig: str, timeout: float, log: str | None) -> None:
    server, context, token = _kube_config(kubeconfig)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            server + "/readyz", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=3, context=context) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    fail(f"kube-apiserver at {server} was not ready after {timeout:.0f} s ({last})", log)


def _clients(kubeconfig: str) -> Any:
    from kubernetes import client, config

    return config.new_client_from_config(config_file=kubeconfig), client


def wait_node(kubeconfig: str, timeout: float, log: str | None) -> None:
    api_client, client = _clients(kubeconfig)
    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + timeout
    last = "no node registered"
    while time.monotonic() < deadline:
        try:
            for node in core.list_node().items:
                for condition in node.status.conditions or []:
                    if condition.type == "Ready" and condition.status == "True":
                        return
                last = f"node {node.metadata.name} not Ready"
        except Exception as exc:  # the API server may still settle
            last = str(exc)
        time.sleep(0.25)
    fail(f"the test node agent's node was not Ready after {timeout:.0f} s ({last})", log)


def _apply(api_client: Any, obj: dict[str, Any], namespace: str) -> None:
    """Create `obj`, or replace it when it exists (kubectl apply, without the merge)."""
    from kubernetes import dynamic
    from kubernetes.dynamic.exceptions import ConflictError

    dyn = dynamic.DynamicClient(api_client)
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kwargs: dict[str, Any] = {}
    if resource.namespaced:
        kwargs["namespace"] = obj["metadata"].get("namespace", namespace)
    try:
        resource.create(body=obj, **kwargs)
    except ConflictError:
        current = resource.get(name=obj["metadata"]["name"], **kwargs)
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = current.metadata.resourceVersion
        resource.replace(body=obj, **kwargs)


def _wait_crds_established(api_client: Any, client: Any, names: list[str]) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    deadline = time.monotonic() + 30
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            crd = ext.read_custom_resource_definition(name)
            for condition in (crd.status and crd.status.conditions) or []:
                if condition.type == "Established" and condition.status == "True":
                    pending.discard(name)
        if pending:
            time.sleep(0.1)
    if pending:
        fail(f"CRDs not Established after 30 s: {sorted(pending)}")


def render_rbac(chart_dir: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's RBAC objects, rendered by the real Helm engine with cluster-wide rights."""
    import helm_python
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    objects: list[dict[str, Any]] = []
    with helm_python.Chart.load(chart_dir) as chart:
        rendered = chart.render(
            {"rbac": {"clusterWide": True}}, name="kontinue", namespace=namespace
        )
    for text in rendered.values():
        for obj in yaml.load_all(text):
            if isinstance(obj, dict) and obj.get("kind") in RBAC_KINDS:
                objects.append(obj)
    return objects


def install(kubeconfig: str, chart_dir: str, namespace: str) -> None:
    from ruamel.yaml import YAML

    api_client, client = _clients(kubeconfig)
    yaml = YAML(typ="safe")
    crds: list[dict[str, Any]] = []
    for path in sorted(Path(chart_dir, "crds").glob("*.yaml")):
        crds.extend(o for o in yaml.load_all(path.read_text()) if isinstance(o, dict))
    for crd in crds:
        _apply(api_client, crd, namespace)
    _wait_crds_established(api_client, client, [c["metadata"]["name"] for c in crds])
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        rbac = render_rbac(chart_dir, namespace) if Path(chart_dir, "Chart.yaml").exists() else []
    except ImportError:
        print(
            "cluster: helm-python-sdk is not installed: the chart's RBAC was not applied "
            "(pip install helm-python-sdk)",
            file=sys.stderr,
        )
        rbac = []
    for obj in rbac:
        _apply(api_client, obj, namespace)
    print(
        f"cluster: applied {len(crds)} CRDs and {len(rbac)} RBAC objects (namespace {namespace})",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, target in (
        ("wait-etcd", "url"),
        ("wait-apiserver", "kubeconfig"),
        ("wait-node", "kubeconfig"),
    ):
        p = sub.add_parser(name)
        p.add_argument(target)
        p.add_argument("--timeout", type=float, default=60)
        p.add_argument("--log")
    p = sub.add_parser("install")
    p.add_argument("kubeconfig")
    p.add_argument("chart")
    p.add_argument("--namespace", default="kontinue")
    args = parser.parse_args()
    if args.command == "wait-etcd":
        wait_etcd(args.url, args.timeout, args.log)
    elif args.command == "wait-apiserver":
        wait_apiserver(args.kubeconfig, args.timeout, args.log)
    elif args.command == "wait-node":
        wait_node(args.kubeconfig, args.timeout, args.log)
    else:
        install(args.kubeconfig, args.chart, args.namespace)


if __name__ == "__main__":
    main()
