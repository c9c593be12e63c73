"""Functions running scripts, pods and jobs, for the jobs tests (imported by worker processes)."""

from __future__ import annotations

from typing import Any

import kontinue


@kontinue.function("script")
def script(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    result = kontinue.run_script(
        ktx,
        kontinue.ScriptOptions(
            name="run", image="alpine:3.20", command=args["command"], env=args.get("env", {})
        ),
    )
    return {
        "succeeded": result.succeeded(),
        "exitCode": result.exit_code,
        "phase": result.phase,
        "message": result.message,
        "logs": result.logs(ktx),
        "summary": "" if result.succeeded() else result.log_error_summary(ktx),
    }


@kontinue.function("pod")
def pod(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    from kontinue.runners import V1Container, V1EnvVar, V1PodSpec

    spec = V1PodSpec(
        restart_policy="Never",
        containers=[
            V1Container(
                name="main",
                image="busybox",
                command=["/bin/sh", "-c"],
                args=[args["command"]],
                env=[V1EnvVar(name="GREETING", value="hi")],
            )
        ],
    )
    result = kontinue.run_pod(ktx, kontinue.PodOptions(spec=spec))
    pod = result.pod  # the reference's *corev1.Pod: a V1Pod model, on the local runner too
    (main,) = pod.status.container_statuses
    return {
        "succeeded": result.succeeded(),
        "logs": result.logs(ktx),
        "pod": [type(pod).__name__, pod.kind, pod.status.phase, main.name],
        "exit": main.state.terminated.exit_code,
        "job-name": pod.metadata.labels["job-name"] == result.job,
    }


@kontinue.function("job")
def job(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "backoffLimit": args.get("backoffLimit", 0),
        "activeDeadlineSeconds": args.get("deadline"),
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["/bin/sh", "-c", args["command"]],
                    }
                ],
            }
        },
    }
    if spec["activeDeadlineSeconds"] is None:
        del spec["activeDeadlineSeconds"]
    result = kontinue.run_job(ktx, kontinue.JobOptions(spec=spec))
    return {
        "succeeded": result.succeeded(),
        "succeededPods": result.succeeded_pods,
        "failedPods": result.failed_pods,
        "message": result.message,
        "pods": [p.pod.metadata.name for p in result.pods],
    }
