"""The control plane's mitigation vocabulary, done through the Kubernetes API the way kubectl does.

Each public action is one name of :data:`testbed.faults.MITIGATIONS` (``scale``, ``restart``,
``delete_pod``, ``rollback``, ``set_resources``, ``cordon``, ``uncordon``, ``drain``,
``revert_port``) against a cluster served over HTTP, with the official ``kubernetes`` client and
``/metrics``; nothing here touches a simulated cluster directly. What an operator reads before
acting (which pods are unready, which deployments read a Secret, how busy each deployment's CPU
is) is read the same way. Actions that must let time pass (a drain retrying evictions a
disruption budget refuses, CPU measured over an interval) take a ``wait`` callable; the tests pass
one that advances the simulated cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client import ApiException
from prometheus_client.parser import text_string_to_metric_families

Wait = Callable[[float], None]
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Kube:
    """Clients for one cluster's API server."""

    url: str
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api

    @classmethod
    def connect(cls, url: str) -> Kube:
        config = client.Configuration()
        config.host = url
        api = client.ApiClient(config)
        return cls(url, api, client.CoreV1Api(api), client.AppsV1Api(api))

    def close(self) -> None:
        self.api.close()

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        response = httpx.get(f"{self.url}/metrics", timeout=10)
        response.raise_for_status()
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        ]


# ---------------------------------------------------------------------- reading


def selector_of(kube: Kube, namespace: str, deployment: str) -> str:
    dep = kube.apps.read_namespaced_deployment(deployment, namespace)
    labels = dep.spec.selector.match_labels or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pods_of(kube: Kube, namespace: str, deployment: str) -> list[client.V1Pod]:
    """The deployment's pods that are not being deleted."""
    selector = selector_of(kube, namespace, deployment)
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def is_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def unready_pods(kube: Kube, namespace: str, deployment: str) -> list[str]:
    """Pods of the deployment that run but fail their readiness probe."""
    return [
        p.metadata.name
        for p in pods_of(kube, namespace, deployment)
        if p.status.phase == "Running" and not is_ready(p)
    ]


def secret_clients(kube: Kube, namespace: str, secret: str, exclude: str = "") -> list[str]:
    """Deployments whose containers read ``secret`` into their environment."""
    names = []
    for dep in kube.apps.list_namespaced_deployment(namespace).items:
        env = [e for c in dep.spec.template.spec.containers for e in c.env or []]
        refs = {
            e.value_from.secret_key_ref.name
            for e in env
            if e.value_from is not None and e.value_from.secret_key_ref is not None
        }
        if secret in refs and dep.metadata.name != exclude:
            names.append(dep.metadata.name)
    return sorted(names)


def cpu_by_pod(kube: Kube, namespace: str, wait: Wait, interval_s: float = 30) -> dict[str, float]:
    """Each pod's CPU use over ``interval_s`` as a share of its CPU limit (cAdvisor counters)."""

    def usage() -> tuple[dict[str, float], dict[str, float]]:
        used, limits = {}, {}
        for name, labels, value in kube.metrics():
            if labels.get("namespace") != namespace or "pod" not in labels:
                continue
            if name == "container_cpu_usage_seconds_total":
                used[labels["pod"]] = value
            elif name == "kube_pod_container_resource_limits" and labels["resource"] == "cpu":
                limits[labels["pod"]] = value
        return used, limits

    before, _ = usage()
    wait(interval_s)
    after, limits = usage()
    return {
        pod: (after[pod] - before[pod]) / interval_s / limits[pod]
        for pod in after
        if pod in before and limits.get(pod)
    }


def cpu_by_deployment(
    kube: Kube, namespace: str, wait: Wait, interval_s: float = 30
) -> dict[str, float]:
    """Mean CPU use of each deployment's pods over ``interval_s``, as a share of their limit."""
    per_pod = cpu_by_pod(kube, namespace, wait, interval_s)
    out = {}
    for dep in kube.apps.list_namespaced_deployment(namespace).items:
        shares = [
            per_pod[p.metadata.name]
            for p in pods_of(kube, namespace, dep.metadata.name)
            if p.metadata.name in per_pod
        ]
        if shares:
            out[dep.metadata.name] = sum(shares) / len(shares)
    return out


def requests_into(kube: Kube, namespace: str, service: str) -> float:
    """Calls into ``service`` so far, all callers and response codes (``istio_requests_total``)."""
    return sum(
        value
        for name, labels, value in kube.metrics()
        if name == "istio_requests_total"
        and labels.get("destination_workload") == service
        and labels.get("destination_workload_namespace") == namespace
    )


# ---------------------------------------------------------------------- actions


def scale(kube: Kube, namespace: str, deployment: str, replicas: int) -> None:
    """``kubectl scale``: patch the deployment's scale subresource."""
    kube.apps.patch_namespaced_deployment_scale(
        deployment, namespace, {"spec": {"replicas": replicas}}
    )


def scale_out(
    kube: Kube, namespace: str, utilisation: dict[str, float], target: float, growth: float = 1.0
) -> dict[str, int]:
    """Scale each deployment so that ``growth`` times its CPU use is ``target`` of its limits.

    The Horizontal Pod Autoscaler's rule, ``ceil(replicas * utilisation / target)``, with the
    utilisation multiplied by the growth expected; only deployments that need more replicas
    change. Returns the new replica counts.
    """
    changed = {}
    for name, share in sorted(utilisation.items()):
        replicas = kube.apps.read_namespaced_deployment_scale(name, namespace).spec.replicas
        wanted = math.ceil(replicas * share * growth / target - 1e-9)
        if wanted > replicas:
            scale(kube, namespace, name, wanted)
            changed[name] = wanted
    return changed


def restart(kube: Kube, namespace: str, deployment: str, at: str) -> None:
    """``kubectl rollout restart``: stamp the pod template with ``restartedAt``."""
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}
    kube.apps.patch_namespaced_deployment(deployment, namespace, patch)


def delete_pod(kube: Kube, namespace: str, pod: str) -> None:
    """``kubectl delete pod``: graceful deletion; the ReplicaSet replaces it."""
    kube.core.delete_namespaced_pod(pod, namespace)


def rollback(kube: Kube, namespace: str, deployment: str) -> int:
    """``kubectl rollout undo``: put the previous revision's pod template back.

    As kubectl does it: the ReplicaSets the deployment owns, the one with the highest revision
    below the current one, its template without ``pod-template-hash`` and its annotations,
    applied with a JSON patch. Returns the revision rolled back to.
    """
    dep = kube.apps.read_namespaced_deployment(deployment, namespace)
    current = int(dep.metadata.annotations[REVISION])
    owned = [
        rs
        for rs in kube.apps.list_namespaced_replica_set(namespace).items
        if any(o.uid == dep.metadata.uid and o.controller for o in rs.metadata.owner_references)
    ]
    older = [rs for rs in owned if int(rs.metadata.annotations[REVISION]) < current]
    if not older:
        raise LookupError(f"deployment {namespace}/{deployment} has no previous revision")
    previous = max(older, key=lambda rs: int(rs.metadata.annotations[REVISION]))
    template: dict[str, Any] = kube.api.sanitize_for_serialization(previous.spec.template)
    template["metadata"]["labels"].pop(HASH_LABEL, None)
    skip = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS}
    annotations = {k: v for k, v in dep.metadata.annotations.items() if k in skip}
    annotations |= {k: v for k, v in (previous.metadata.annotations or {}).items() if k not in skip}
    kube.apps.patch_namespaced_deployment(
        deployment,
        namespace,
        [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ],
    )
    return int(previous.metadata.annotations[REVISION])


def set_resources(
    kube: Kube,
    namespace: str,
    deployment: str,
    limits: dict[str, str],
    requests: dict[str, str] | None = None,
) -> None:
    """``kubectl set resources``: a strategic merge patch of the (first) container's resources."""
    dep = kube.apps.read_namespaced_deployment(deployment, namespace)
    name = dep.spec.template.spec.containers[0].name
    resources: dict[str, Any] = {"limits": limits}
    if requests:
        resources["requests"] = requests
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": name, "resources": resources}]}}}
    }
    kube.apps.patch_namespaced_deployment(deployment, namespace, patch)


def cordon(kube: Kube, node: str) -> None:
    kube.core.patch_node(node, {"spec": {"unschedulable": True}})


def uncordon(kube: Kube, node: str) -> None:
    kube.core.patch_node(node, {"spec": {"unschedulable": False}})


def cordoned_nodes(kube: Kube) -> list[str]:
    return sorted(n.metadata.name for n in kube.core.list_node().items if n.spec.unschedulable)


def drain(kube: Kube, node: str, wait: Wait, retry_s: float = 5, limit_s: float = 300) -> list[str]:
    """``kubectl drain``: cordon, then evict every pod on the node, retrying refused evictions.

    An eviction a PodDisruptionBudget refuses (429) is retried every ``retry_s`` seconds, as
    kubectl does, until ``limit_s``. Does not wait for the pods to be gone (on a node whose
    kubelet is down they stay Terminating; their replacements start elsewhere at once). Returns
    the evicted pods as ``namespace/name``.
    """
    cordon(kube, node)
    pods = kube.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    waiting = [(p.metadata.namespace, p.metadata.name) for p in pods]
    evicted: list[str] = []
    waited = 0.0
    while waiting:
        refused = []
        for ns, name in waiting:
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
            try:
                kube.core.create_namespaced_pod_eviction(name, ns, body)
            except ApiException as exc:
                if exc.status == 404:  # already gone
                    continue
                if exc.status != 429:
                    raise
                refused.append((ns, name))
                continue
            evicted.append(f"{ns}/{name}")
        waiting = refused
        if waiting:
            if waited >= limit_s:
                raise TimeoutError(f"evictions still refused after {limit_s} s: {waiting}")
            wait(retry_s)
            waited += retry_s
    return evicted


def revert_port(kube: Kube, namespace: str, service: str) -> int:
    """Point the Service's (first) port back at the port its pods' container listens on."""
    svc = kube.core.read_namespaced_service(service, namespace)
    port = svc.spec.ports[0]
    selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    declared = [cp for p in pods for c in p.spec.containers for cp in c.ports or []]
    named = [cp for cp in declared if port.name and cp.name == port.name]
    container_port = int((named or declared)[0].container_port)
    kube.core.patch_namespaced_service(
        service,
        namespace,
        {"spec": {"ports": [{"port": port.port, "targetPort": container_port}]}},
    )
    return container_port


__all__ = [
    "Kube",
    "cordon",
    "cordoned_nodes",
    "cpu_by_deployment",
    "cpu_by_pod",
    "delete_pod",
    "drain",
    "is_ready",
    "pods_of",
    "requests_into",
    "restart",
    "revert_port",
    "rollback",
    "scale",
    "scale_out",
    "secret_clients",
    "set_resources",
    "uncordon",
    "unready_pods",
]
