"""The Helm chart `helm/kontinue`, rendered and linted by a real Helm engine (helm-python-sdk's
bundled Helm v4), every object validated with kubernetes-validate, and what it installs applied
to the test cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "helm" / "kontinue"
# The oldest and the newest schemas kubernetes-validate ships; the test cluster (1.20) checks
# the objects too, with a server-side dry run.
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "server-readonly": {"server": {"enabled": True}},
    "server-readwrite": {"server": {"enabled": True, "auth": {"mode": "readwrite"}}},
    "server-header": {
        "server": {
            "enabled": True,
            "auth": {"mode": "header", "policy": "p, alice, *, write\ng, bob, viewers\n"},
        }
    },
    "cluster-wide": {"rbac": {"clusterWide": True}, "server": {"enabled": True}},
    "worker-image": {
        "worker": {
            "image": {"repository": "registry.example/acme/orders-worker", "tag": "1.4.2"},
            "modules": ["orders.functions", "/app/extra.py"],
            "group": "gpu",
            "concurrency": 3,
            "replicas": 5,
        },
        "controller": {"replicas": 3},
    },
    "no-service-accounts": {
        "serviceAccount": {"create": False, "worker": "existing-worker"},
        "rbac": {"create": False},
    },
}


def render(values: dict[str, Any], namespace: str = "kontinue") -> list[dict[str, Any]]:
    """Every object the chart renders with `values` (templates and CRDs), as Helm would install."""
    yaml = YAML(typ="safe")
    with helm_python.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="kontinue", namespace=namespace)
        crds = chart.crds
    objects: list[dict[str, Any]] = []
    for text in list(rendered.values()) + [c["data"] for c in crds]:
        objects.extend(o for o in yaml.load_all(text) if isinstance(o, dict))
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(deployment name, pod spec, container) for every container of every Deployment."""
    out = []
    for name, d in by_kind(objects, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        out.extend((name, pod, c) for c in pod["containers"])
    return out


def test_helm_engine_is_real() -> None:
    # The chart is rendered by Helm's own Go engine, bundled in the helm-python-sdk wheel.
    assert helm_python.helm_sdk_version().startswith("v4.")
    with helm_python.Chart.load(str(CHART)) as chart:
        assert chart.name == "kontinue"
        assert chart.schema is not None


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_lint_is_clean(case: str) -> None:
    report = helm_python.lint(str(CHART), VALUE_SETS[case], strict=True, namespace="kontinue")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, problems
    assert not report.get("errors"), report


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_rendered_object_validates(case: str, version: str) -> None:
    objects = render(VALUE_SETS[case])
    assert objects
    for obj in objects:
        kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)


def test_defaults_install_crds_rbac_controller_and_workers_not_server() -> None:
    objects = render({})
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "CustomResourceDefinition",
        "Deployment",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    crds = by_kind(objects, "CustomResourceDefinition")
    assert {"executions.kontinue.cloud", "suspensions.kontinue.cloud"} <= set(crds)
    assert set(by_kind(objects, "Deployment")) == {"kontinue-controller", "kontinue-worker"}
    # Namespaced by default: nothing cluster-wide but the CRDs.
    assert not by_kind(objects, "ClusterRole")
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            assert obj["metadata"]["namespace"] == "kontinue", obj["metadata"]


def test_cluster_wide_rbac_is_optional() -> None:
    objects = render({"rbac": {"clusterWide": True}})
    assert not by_kind(objects, "Role")
    roles = by_kind(objects, "ClusterRole")
    assert set(roles) == {"kontinue-manager"}
    binding = by_kind(objects, "ClusterRoleBinding")["kontinue-manager"]
    assert {s["name"] for s in binding["subjects"]} == {"kontinue-controller", "kontinue-worker"}
    # and then the controller and the workers serve every namespace
    for deployment in ("kontinue-controller", "kontinue-worker"):
        spec = by_kind(objects, "Deployment")[deployment]["spec"]["template"]["spec"]
        assert "--all-namespaces" in spec["containers"][0]["args"]
        spec = by_kind(render({}), "Deployment")[deployment]["spec"]["template"]["spec"]
        assert "--all-namespaces" not in spec["containers"][0]["args"]


def test_controller_runs_leader_elected_replicas() -> None:
    objects = render({"controller": {"replicas": 3, "leaderElection": {"leaseDuration": "20s"}}})
    controller = by_kind(objects, "Deployment")["kontinue-controller"]
    assert controller["spec"]["replicas"] == 3
    args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["--store", "kubernetes", "--namespace", "$(KONTINUE_NAMESPACE)"]
    assert "controller" in args
    # Leader election is always on with the Kubernetes store; the chart sets its Lease.
    assert args[args.index("--leader-lease") + 1] == "20s"


def test_worker_image_modules_group_and_concurrency_are_values() -> None:
    objects = render(VALUE_SETS["worker-image"])
    worker = by_kind(objects, "Deployment")["kontinue-worker"]
    assert worker["spec"]["replicas"] == 5
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/acme/orders-worker:1.4.2"
    args = container["args"]
    imports = [args[i + 1] for i, a in enumerate(args) if a == "--import"]
    assert imports == ["orders.functions", "/app/extra.py"]
    assert args[args.index("--group") + 1] == "gpu"
    assert args[args.index("--concurrency") + 1] == "3"
    assert worker["spec"]["template"]["metadata"]["labels"]["kontinue.cloud/worker-group"] == "gpu"
    # The controller keeps the kontinue image.
    controller = by_kind(objects, "Deployment")["kontinue-controller"]
    assert controller["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "ghcr.io/kontinue/kontinue:"
    )


def test_values_never_become_template_code() -> None:
    # A value holding template syntax or YAML is data: quoted, never evaluated or spliced.
    hostile = "{{ .Release.Name }}\n- --evil\nkind: Secret"
    objects = render({"worker": {"modules": [hostile], "group": "default"}})
    worker = by_kind(objects, "Deployment")["kontinue-worker"]
    args = worker["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--import") + 1] == hostile
    assert "--evil" not in args
    assert not by_kind(objects, "Secret")


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_non_root_read_only_with_limits_and_probes(case: str) -> None:
    objects = render(VALUE_SETS[case])
    found = containers(objects)
    assert found
    for name, pod, c in found:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert probe in c, (name, probe)
        if c["name"] != "server":
            assert c["args"][c["args"].index("--health-port") + 1] == "8081", name
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        # The only writable place is the /tmp emptyDir.
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], name


@pytest.mark.parametrize("mode", ["readonly", "readwrite", "header"])
def test_server_auth_mode_reaches_the_server(mode: str) -> None:
    server: dict[str, Any] = {"enabled": True, "auth": {"mode": mode}}
    if mode == "header":
        server["auth"]["policy"] = "p, alice, *, write\n"
    objects = render({"server": server})
    deployment = by_kind(objects, "Deployment")["kontinue-server"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--auth-mode") + 1] == mode
    service = by_kind(objects, "Service")["kontinue-server"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    role = by_kind(objects, "Role")["kontinue-server"]
    kontinue_rule = next(r for r in role["rules"] if r["apiGroups"] == ["kontinue.cloud"])
    # A read-only server cannot change anything, whatever its own checks do.
    if mode == "readonly":
        assert set(kontinue_rule["verbs"]) == {"get", "list", "watch"}
    else:
        assert "patch" in kontinue_rule["verbs"]
    if mode == "header":
        assert args[args.index("--auth-config") + 1] == "/etc/kontinue/policy.csv"
        policy = by_kind(objects, "ConfigMap")["kontinue-server-policy"]
        assert "p, alice, *, write" in policy["data"]["policy.csv"]


def test_server_is_off_by_default() -> None:
    objects = render({})
    assert "kontinue-server" not in by_kind(objects, "Deployment")
    assert not by_kind(objects, "Service")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"server": {"enabled": True, "auth": {"mode": "open"}}}, "mode"),
        ({"worker": {"concurrency": 0}}, "concurrency"),
        ({"worker": {"grup": "x"}}, "grup"),
        ({"controller": {"leaderElection": {"leaseDuration": "soon"}}}, "leaseDuration"),
        ({"server": {"enabled": True, "auth": {"mode": "header"}}}, "server.auth.policy"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(helm_python.HelmError) as info:
        render(values)
    assert needle in str(info.value)


def test_rendered_crds_are_the_generated_ones() -> None:
    from kontinue.api.crds import crd_manifests

    rendered = by_kind(render({}), "CustomResourceDefinition")
    generated = {m["metadata"]["name"]: m for m in crd_manifests().values()}
    assert rendered == generated


# --- on the test cluster --------------------------------------------------------------------


def _api(kubeconfig: Path) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def _apply(api_client: Any, obj: dict[str, Any], dry_run: bool = False) -> None:
    from kubernetes import dynamic
    from kubernetes.dynamic.exceptions import ConflictError

    dyn = dynamic.DynamicClient(api_client)
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    if resource.namespaced:
        kwargs["namespace"] = obj["metadata"]["namespace"]
    try:
        resource.create(body=obj, **kwargs)
    except ConflictError:
        current = resource.get(name=obj["metadata"]["name"], namespace=kwargs.get("namespace"))
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = current.metadata.resourceVersion
        resource.replace(body=obj, **kwargs)


@pytest.fixture
def scratch_namespace(kube_cluster: Path) -> Any:
    import uuid

    from kubernetes import client

    api_client = _api(kube_cluster)
    core = client.CoreV1Api(api_client)
    names: list[str] = []

    def make() -> str:
        name = f"chart-{uuid.uuid4().hex[:8]}"
        core.create_namespace({"metadata": {"name": name}})
        names.append(name)
        return name

    yield make
    for name in names:
        core.delete_namespace(name)
    api_client.close()


def _can(api_client: Any, user: str, verb: str, resource: str, namespace: str, group: str) -> bool:
    from kubernetes import client

    review = client.AuthorizationV1Api(api_client).create_subject_access_review(
        {
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts"],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource.split("/")[0],
                    "subresource": resource.split("/")[1] if "/" in resource else "",
                },
            }
        }
    )
    return bool(review.status.allowed)


def test_rendered_crds_and_rbac_apply_to_the_test_cluster(
    kube_cluster: Path, scratch_namespace: Any
) -> None:
    namespace = scratch_namespace()
    other = scratch_namespace()
    objects = render({"server": {"enabled": True}}, namespace=namespace)
    api_client = _api(kube_cluster)
    try:
        for obj in objects:
            if obj["kind"] in (
                "CustomResourceDefinition",
                "ServiceAccount",
                "Role",
                "RoleBinding",
            ):
                _apply(api_client, obj)
        # The rest is accepted by the 1.20 API server (server-side dry run: validated,
        # defaulted, admitted, not stored).
        for obj in objects:
            if obj["kind"] in ("Deployment", "Service", "ConfigMap"):
                _apply(api_client, obj, dry_run=True)
        worker = f"system:serviceaccount:{namespace}:kontinue-worker"
        controller = f"system:serviceaccount:{namespace}:kontinue-controller"
        server = f"system:serviceaccount:{namespace}:kontinue-server"
        group = "kontinue.cloud"
        assert _can(api_client, worker, "patch", "executions/status", namespace, group)
        assert _can(api_client, worker, "create", "jobs", namespace, "batch")
        assert _can(api_client, worker, "get", "pods/log", namespace, "")
        assert _can(api_client, controller, "update", "leases", namespace, "coordination.k8s.io")
        assert _can(api_client, controller, "watch", "suspensions", namespace, group)
        assert _can(api_client, server, "list", "executions", namespace, group)
        # Namespaced by default: nothing in another namespace; a read-only server writes nothing.
        assert not _can(api_client, worker, "patch", "executions/status", other, group)
        assert not _can(api_client, controller, "list", "executions", other, group)
        assert not _can(api_client, server, "patch", "executions", namespace, group)
        assert not _can(api_client, server, "get", "secrets", namespace, "")
    finally:
        api_client.close()
