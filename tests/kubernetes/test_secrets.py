"""Issue 9 item 6 on Kubernetes: a secret argument lives in a real `v1` Secret owned by its
Execution (the garbage collector deletes it with it); the Execution custom resource, read raw
from the API server, holds only `******` and the Secret's name; every CLI output is masked;
the function gets the value, on its first attempt and after `kontinue retry`."""

from __future__ import annotations

import base64
import json
import time

from kontinue.api import Execution
from kontinue.store import SECRET_ANNOTATION
from tests.kubernetes.conftest import Kube

SECRET = "k8s-hunter2-Sekr1t"

FNS = """
from pathlib import Path
from pydantic import BaseModel, SecretStr
import kontinue

class Args(BaseModel):
    user: str
    token: SecretStr

@kontinue.function("login-k8s")
def login(ktx: kontinue.ExecutionContext, args: Args) -> dict:
    token = args.token.get_secret_value()
    with Path("received").open("a") as fh:
        fh.write(token + "\\n")
    if ktx.attempts() == 0:
        raise RuntimeError("refused " + token)
    return {"length": len(token), "echo": token}
"""


def test_a_secret_argument_is_a_v1_secret_owned_by_its_execution(kube: Kube) -> None:
    (kube.tmp / "fns.py").write_text(FNS)
    first = kube.cli(
        "execute", "login-k8s", "--import", "fns.py", "--runner", "local", "--name", "f",
        "-a", "user=bob", "-a", f"token={SECRET}",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert SECRET not in first.stdout + first.stderr
    assert "refused ******" in first.stderr
    again = kube.cli("retry", "f", "--import", "fns.py", "--runner", "local")
    assert again.returncode == 0, again.stderr
    assert SECRET not in again.stdout + again.stderr
    assert (kube.tmp / "received").read_text().splitlines() == [SECRET, SECRET]

    raw = kube.store.get_raw(Execution, kube.namespace, "f")
    assert SECRET not in json.dumps(raw)
    assert raw["spec"]["arguments"] == {"user": "bob", "token": "******"}
    assert raw["status"]["result"] == {"length": len(SECRET), "echo": "******"}
    name = raw["metadata"]["annotations"][SECRET_ANNOTATION]
    secret = kube.store.core.read_namespaced_secret(name, kube.namespace)
    assert SECRET in base64.b64decode(secret.data["arguments"]).decode()
    owners = secret.metadata.owner_references
    assert [(o.kind, o.name, o.uid) for o in owners] == [("Execution", "f", raw["metadata"]["uid"])]
    for args in (("get", "f", "-o", "yaml"), ("get", "f", "-o", "json"), ("tree", "f")):
        shown = kube.cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert SECRET not in shown.stdout + shown.stderr
        assert "******" in shown.stdout or args[0] == "tree"

    deleted = kube.cli("delete", "f")  # the Kubernetes runner, on the cluster of --kubeconfig
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 60
    while True:
        names = [
            s.metadata.name for s in kube.store.core.list_namespaced_secret(kube.namespace).items
        ]
        if name not in names:
            break
        assert time.monotonic() < deadline, "the Secret outlived its Execution"
        time.sleep(0.5)


PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: secret-job}
params:
  type: object
  properties:
    token: {type: string, format: password}
    out: {type: string}
steps:
  - name: use
    script:
      image: alpine:3.20
      command: 'printf %s "{{ params.token }}" > "{{ params.out }}"; echo "got {{ params.token }}"'
"""


def test_a_script_job_reads_the_secret_from_a_secret_not_from_its_spec(kube: Kube) -> None:
    (kube.tmp / "p.yaml").write_text(PIPELINE)
    out = kube.tmp / "received-by-job"
    done = kube.cli("submit", "p.yaml", "--name", "sj", "-p", f"token={SECRET}", "-p", f"out={out}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert out.read_text() == SECRET  # the Job's process got the real value

    from kubernetes import client

    jobs = client.BatchV1Api(kube.store.api_client).list_namespaced_job(kube.namespace).items
    assert jobs, "the script ran as a Job"
    raw_ex = kube.store.get_raw(Execution, kube.namespace, "sj")
    for job in jobs:
        spec = client.ApiClient().sanitize_for_serialization(job.spec)
        assert SECRET not in json.dumps(spec)  # not in the Job, readable by whoever reads Jobs
        refs = [
            e["valueFrom"]["secretKeyRef"]
            for c in spec["template"]["spec"]["containers"]
            for e in c.get("env", [])
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        ]
        assert refs, spec["template"]["spec"]["containers"]
        secret = kube.store.core.read_namespaced_secret(refs[0]["name"], kube.namespace)
        assert base64.b64decode(secret.data[refs[0]["key"]]).decode() == SECRET
        owners = [(o.kind, o.name, o.uid) for o in secret.metadata.owner_references]
        assert owners == [("Execution", "sj", raw_ex["metadata"]["uid"])]
    logs = kube.cli("logs", "sj", "use")
    assert "got ******" in logs.stdout and SECRET not in logs.stdout + logs.stderr
