"""An empty store on the shared test cluster: the namespaces the suite uses, wiped."""

from __future__ import annotations

import time

from kontinue.api import API_GROUP, KINDS

__all__ = ["NAMESPACES", "wipe"]

NAMESPACES = ("default", "a", "b", "team-a", "team-b", "other", "elsewhere")
_created: set[str] = set()


def wipe(kubeconfig: str, namespaces: tuple[str, ...] = NAMESPACES) -> None:
    """Delete every kontinue resource and journal ConfigMap in `namespaces` (creating the
    namespaces that are missing), and wait until they are gone."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kontinue.store import connect_kubernetes
    from kontinue.store._kubejournal import JOURNAL_LABEL

    conn = connect_kubernetes(kubeconfig)
    try:
        core = client.CoreV1Api(conn.api_client)
        custom = client.CustomObjectsApi(conn.api_client)
        for ns in namespaces:
            if ns in _created:
                continue
            try:
                core.create_namespace({"metadata": {"name": ns}})
            except ApiException as exc:
                if exc.status != 409:
                    raise
            _created.add(ns)
        # the suite lists across namespaces too: leave nothing of kontinue's anywhere
        for cls in KINDS.values():
            found = custom.list_cluster_custom_object(API_GROUP, "v1alpha1", cls.PLURAL)
            elsewhere = {item["metadata"]["namespace"] for item in found["items"]}
            for ns in sorted(set(namespaces) | elsewhere):
                custom.delete_collection_namespaced_custom_object(
                    API_GROUP, "v1alpha1", ns, cls.PLURAL
                )
        for ns in namespaces:
            core.delete_collection_namespaced_config_map(ns, label_selector=JOURNAL_LABEL)
        deadline = time.monotonic() + 60
        for cls in KINDS.values():
            while custom.list_cluster_custom_object(API_GROUP, "v1alpha1", cls.PLURAL, limit=1)[
                "items"
            ]:
                assert time.monotonic() < deadline, f"{cls.PLURAL} stay"
                time.sleep(0.05)
    finally:
        conn.api_client.close()
