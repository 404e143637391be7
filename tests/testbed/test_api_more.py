"""Behaviours an operator relies on: quarantining a pod by relabelling it, eviction with a grace
period, watching Service endpoints, NoExecute taints, and hung containers."""

from __future__ import annotations

from kubernetes import client, watch

from testbed import kubelet
from testbed.cluster import Cluster

from .api_helpers import app_pods, eviction, is_ready, live


def test_relabelled_pod_is_released_and_replaced(core: client.CoreV1Api, cluster: Cluster) -> None:
    (geo,) = live(app_pods(core, "geo"))
    core.patch_namespaced_pod(
        geo.metadata.name, "hotel", {"metadata": {"labels": {"app": "quarantine"}}}
    )
    released = core.read_namespaced_pod(geo.metadata.name, "hotel")
    assert (
        "ownerReferences" not in released.to_dict()["metadata"]
        or not released.metadata.owner_references
    )
    cluster.advance(20)
    replacements = [p for p in live(app_pods(core, "geo")) if p.metadata.name != geo.metadata.name]
    assert len(replacements) == 1 and is_ready(replacements[0])
    # the quarantined pod keeps running, outside the Service, for an operator to inspect
    kept = core.read_namespaced_pod(geo.metadata.name, "hotel")
    assert kept.status.phase == "Running"
    endpoints = core.read_namespaced_endpoints("geo", "hotel")
    ips = [a.ip for s in endpoints.subsets for a in s.addresses or []]
    assert kept.status.pod_ip not in ips and replacements[0].status.pod_ip in ips


def test_eviction_honours_the_grace_period(core: client.CoreV1Api, cluster: Cluster) -> None:
    (geo,) = live(app_pods(core, "geo"))
    body = eviction(geo.metadata.name)
    body.delete_options = client.V1DeleteOptions(grace_period_seconds=0)
    core.create_namespaced_pod_eviction(geo.metadata.name, "hotel", body)
    names = [p.metadata.name for p in core.list_namespaced_pod("hotel").items]
    assert geo.metadata.name not in names  # grace 0: gone at once, not Terminating


def test_endpoints_watch_sees_a_pod_leave(core: client.CoreV1Api, cluster: Cluster) -> None:
    start = core.list_namespaced_endpoints("hotel").metadata.resource_version
    (geo,) = live(app_pods(core, "geo"))
    core.delete_namespaced_pod(geo.metadata.name, "hotel")
    cluster.advance(2)
    seen: list[tuple[str, int]] = []
    for event in watch.Watch().stream(
        core.list_namespaced_endpoints, "hotel", resource_version=start, timeout_seconds=1
    ):
        obj = event["object"]
        if obj.metadata.name == "geo":
            ready = sum(len(s.addresses or []) for s in obj.subsets or [])
            seen.append((event["type"], ready))
    assert ("MODIFIED", 0) in seen


def test_noexecute_taint_evicts_pods_that_do_not_tolerate_it(
    core: client.CoreV1Api, cluster: Cluster
) -> None:
    node = live(app_pods(core, "geo"))[0].spec.node_name
    victims = [
        p.metadata.name
        for p in core.list_namespaced_pod("hotel", field_selector=f"spec.nodeName={node}").items
    ]
    assert victims
    core.patch_node(
        node, {"spec": {"taints": [{"key": "maintenance", "value": "disk", "effect": "NoExecute"}]}}
    )
    assert core.read_node(node).spec.taints[0].time_added is not None
    cluster.advance(1)
    for name in victims:
        pod = core.read_namespaced_pod(name, "hotel")
        assert pod.metadata.deletion_timestamp is not None
    reasons = {
        e.reason
        for e in core.list_namespaced_event(
            "hotel", field_selector=f"involvedObject.name={victims[0]}"
        ).items
    }
    assert "TaintManagerEviction" in reasons


def test_hung_container_times_out_callers_then_fails_readiness(cluster: Cluster) -> None:
    geo = next(p for p in cluster.pods.values() if p.meta.labels["app"] == "geo")
    search = cluster.traffic.index[("hotel", "search")]
    kubelet.hang(cluster, geo)
    cluster.advance(5)
    assert geo.ready  # the probe has not failed yet
    edge = cluster.traffic.edge_between("hotel", "search", "geo")
    assert cluster.traffic.edge_fail[edge, 3] > 0.9  # 504: timeouts at the caller
    cluster.advance(cluster.timing.readiness_failure_s)
    assert not geo.ready and geo.container == "running"
    assert cluster.traffic.error[search] > 0.9  # no endpoint left for geo
    kubelet.unhang(cluster, geo)
    cluster.advance(cluster.timing.readiness_failure_s)
    assert geo.ready and cluster.traffic.error[search] < 0.01
