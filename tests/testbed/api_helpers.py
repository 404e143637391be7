"""Helpers for the API tests: reading ``/metrics``, ``Status`` bodies, pods, ReplicaSets and events
through the official ``kubernetes`` client, and advancing the simulated cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client import ApiException
from prometheus_client.parser import text_string_to_metric_families

from testbed.cluster import Cluster
from testbed.runner import TestbedServer

TRUTH_TOKEN = "truth-token-for-tests"
SETTLE_LIMIT_S = 180
NS = "hotel"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
Sample = tuple[str, dict[str, str], float]


def scrape(server: TestbedServer) -> list[Sample]:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def series(samples: list[Sample], name: str, **labels: str) -> list[float]:
    return [
        value
        for n, have, value in samples
        if n == name and all(have.get(k) == v for k, v in labels.items())
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The single sample of ``name`` with ``labels`` (0 when the series is absent)."""
    found = series(samples, name, **labels)
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
    return found[0] if found else 0.0


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status"
    assert body["code"] == exc.status
    return body


def is_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def app_pods(core: client.CoreV1Api, app: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(NS, label_selector=f"app={app}").items)


def live(pods: list[client.V1Pod]) -> list[client.V1Pod]:
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def owned_replicasets(apps: client.AppsV1Api, deployment: str) -> list[client.V1ReplicaSet]:
    dep = apps.read_namespaced_deployment(deployment, NS)
    return [
        rs
        for rs in apps.list_namespaced_replica_set(NS).items
        if any(
            o.uid == dep.metadata.uid and o.controller for o in rs.metadata.owner_references or []
        )
    ]


def by_revision(rss: list[client.V1ReplicaSet]) -> dict[int, client.V1ReplicaSet]:
    return {int(rs.metadata.annotations[REVISION]): rs for rs in rss}


def advance_until(
    cluster: Cluster, done: Callable[[], bool], limit_s: int = 120, step_s: float = 1
) -> float:
    """Advance tick by tick until ``done()``; return the simulated seconds it took."""
    start = cluster.now
    while not done():
        assert cluster.now - start < limit_s, f"condition not met within {limit_s} s"
        cluster.advance(step_s)
    return cluster.now - start


def events(
    core: client.CoreV1Api, namespace: str = NS, **selector: str
) -> list[client.CoreV1Event]:
    fields = ",".join(f"{k}={v}" for k, v in selector.items())
    return list(core.list_namespaced_event(namespace, field_selector=fields or None).items)


def image_patch(container: str, image: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def check_rollout(
    cluster: Cluster,
    core: client.CoreV1Api,
    app: str,
    desired: int,
    max_surge: int,
    max_unavailable: int,
    image: str,
    limit_s: int = 120,
) -> None:
    """Advance until every pod of ``app`` runs ``image``, checking the rolling-update bounds
    at every tick: never fewer than ``desired - max_unavailable`` available pods, never more
    than ``desired + max_surge`` pods (terminating pods excluded, as the controller does)."""
    for _ in range(limit_s):
        everything = app_pods(core, app)
        pods = live(everything)
        available = sum(is_ready(p) for p in pods)
        assert len(pods) <= desired + max_surge, f"{len(pods)} pods at {cluster.elapsed} s"
        assert available >= desired - max_unavailable, f"{available} available"
        if (
            len(everything) == desired
            and available == desired
            and all(p.spec.containers[0].image == image for p in everything)
        ):
            return
        cluster.advance(1)
    raise AssertionError(f"rollout of {app} to {image} did not finish in {limit_s} s")


def eviction(name: str) -> client.V1Eviction:
    return client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=NS))


def settle(cluster: Cluster, limit_s: float = SETTLE_LIMIT_S) -> None:
    """Advance until every Deployment has all its replicas available and nothing else runs."""
    for _ in range(int(limit_s)):
        cluster.advance(1)
        pods = list(cluster.pods.values())
        done = all(
            d.status.get("availableReplicas") == d.replicas == d.status.get("replicas")
            for d in cluster.deployments.values()
        )
        if done and all(p.ready and not p.deleting for p in pods) and not cluster.pending:
            return
    raise AssertionError(f"the cluster did not settle within {limit_s} simulated seconds")
