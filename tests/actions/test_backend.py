"""Every action and its inverse against a running testbed, through the official client.

Each test applies an action, checks the cluster changed as intended (through the API, as an
operator would see it), replays the same request (already satisfied, nothing sent), applies the
inverse computed from the state before, and checks the cluster is back.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from actions import CATALOGUE, ActionResult, KubernetesBackend, ResultStatus
from actions.observed import rolled_by_drain
from controlplane import ActionKind, ActionRequest
from testbed.cluster import Cluster
from tests.testbed.api_helpers import NS, REVISION, REVISION_HISTORY, image_patch, is_ready, settle

from .helpers import (
    ClusterClock,
    deployment,
    node,
    pod,
    pods_of,
    request,
    service,
    workload_of,
)


def apply_and_replay(
    backend: KubernetesBackend, cluster: Cluster, req: ActionRequest
) -> tuple[ActionResult, ActionRequest | None]:
    """Apply ``req`` (decided on a fresh observation), then replay it: the replay sends nothing.
    Returns the result and the inverse computed from the state before."""
    before = backend.observe(req.target)
    inverse = CATALOGUE[req.kind].inverse(req, before)
    result = backend.apply(req, before)
    assert result.status is ResultStatus.APPLIED, result.message
    version = cluster.rv
    replay = backend.apply(req, backend.observe(req.target))
    assert replay.status is ResultStatus.ALREADY_SATISFIED
    assert cluster.rv == version, "a replay changed the cluster"
    return result, inverse


def live_pods(backend: KubernetesBackend, app: str) -> list[client.V1Pod]:
    pods = backend.apis.core.list_namespaced_pod(NS, label_selector=f"app={app}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def test_scale_and_back(backend: KubernetesBackend, cluster: Cluster) -> None:
    target = deployment("search")
    before = backend.observe(target)
    req = request(ActionKind.SCALE, target, {"type": "replicas", "replicas": 4}, before)
    result, inverse = apply_and_replay(backend, cluster, req)
    assert result.resource_version != before.resource_version
    settle(cluster)
    assert len([p for p in live_pods(backend, "search") if is_ready(p)]) == 4

    assert inverse is not None and inverse.kind is ActionKind.SCALE
    assert inverse.desired.model_dump() == {"type": "replicas", "replicas": 2}
    now = backend.observe(target)  # status updates moved resourceVersion on: decide afresh
    undo = inverse.model_copy(update={"precondition_resource_version": now.resource_version})
    assert backend.apply(undo, now).status is ResultStatus.APPLIED
    settle(cluster)
    assert len(live_pods(backend, "search")) == 2
    assert backend.apply(undo, backend.observe(target)).status is ResultStatus.ALREADY_SATISFIED


def test_restart_rolls_every_pod_and_has_no_inverse(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    target = deployment("frontend")
    old = {p.metadata.name for p in live_pods(backend, "frontend")}
    at = "2026-01-05T00:10:00Z"
    req = request(ActionKind.RESTART, target, {"type": "restart", "restarted_at": at})
    _, inverse = apply_and_replay(backend, cluster, req)
    assert inverse is None
    dep = backend.apis.apps.read_namespaced_deployment("frontend", NS)
    assert dep.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == at
    settle(cluster)
    new = {p.metadata.name for p in live_pods(backend, "frontend")}
    assert len(new) == 2 and not new & old
    assert workload_of(backend, target).revision == 2


def test_delete_pod_is_replaced_and_has_no_inverse(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    victim = live_pods(backend, "search")[0]
    target = pod(victim.metadata.name)
    req = request(
        ActionKind.DELETE_POD, target, {"type": "pod_deletion", "pod_uid": victim.metadata.uid}
    )
    _, inverse = apply_and_replay(backend, cluster, req)
    assert inverse is None
    settle(cluster)
    names = {p.metadata.name for p in live_pods(backend, "search")}
    assert victim.metadata.name not in names and len(names) == 2
    gone = backend.observe(target)
    assert not gone.exists
    assert backend.apply(req, gone).status is ResultStatus.ALREADY_SATISFIED


def image_of(backend: KubernetesBackend, name: str) -> str:
    dep = backend.apis.apps.read_namespaced_deployment(name, NS)
    return str(dep.spec.template.spec.containers[0].image)


def test_rollback_to_a_revision_and_back(backend: KubernetesBackend, cluster: Cluster) -> None:
    apps = backend.apis.apps
    apps.patch_namespaced_deployment(
        "profile", NS, image_patch("profile", "hotelreservation/profile:v1.9.0")
    )
    settle(cluster)
    target = deployment("profile")
    assert workload_of(backend, target).revision == 2

    req = request(ActionKind.ROLLBACK, target, {"type": "revision", "revision": 1})
    _, inverse = apply_and_replay(backend, cluster, req)
    assert image_of(backend, "profile") == "hotelreservation/profile:v1.8.3"
    settle(cluster)
    dep = apps.read_namespaced_deployment("profile", NS)
    assert dep.metadata.annotations[REVISION] == "3"  # kubectl's renumbering: 1 became 3
    rs = [
        r
        for r in apps.list_namespaced_replica_set(NS).items
        if r.metadata.annotations.get(REVISION) == "3"
    ]
    assert rs[0].metadata.annotations[REVISION_HISTORY] == "1"
    assert "pod-template-hash" not in (dep.spec.template.metadata.labels or {})
    # replaying after the renumbering is still satisfied: revision 1's template is current
    assert backend.apply(req, backend.observe(target)).status is ResultStatus.ALREADY_SATISFIED
    assert all(p.spec.containers[0].image.endswith("v1.8.3") for p in live_pods(backend, "profile"))

    assert inverse is not None and inverse.desired.model_dump() == {
        "type": "revision",
        "revision": 2,
    }
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.APPLIED
    assert image_of(backend, "profile") == "hotelreservation/profile:v1.9.0"
    settle(cluster)
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.ALREADY_SATISFIED


def test_set_resources_and_back(backend: KubernetesBackend, cluster: Cluster) -> None:
    target = deployment("rate")
    desired = {
        "type": "resources",
        "container": "rate",
        "cpu_limit": "1500m",
        "memory_request": "96Mi",
    }
    _, inverse = apply_and_replay(
        backend, cluster, request(ActionKind.SET_RESOURCES, target, desired)
    )
    resources = (
        backend.apis.apps.read_namespaced_deployment("rate", NS)
        .spec.template.spec.containers[0]
        .resources
    )
    assert resources.limits == {"cpu": "1500m", "memory": "192Mi"}
    assert resources.requests == {"cpu": "250m", "memory": "96Mi"}
    settle(cluster)
    assert all(
        p.spec.containers[0].resources.limits["cpu"] == "1500m" for p in live_pods(backend, "rate")
    )
    assert inverse is not None
    assert inverse.desired.model_dump(exclude_none=True) == {
        "type": "resources",
        "container": "rate",
        "cpu_limit": "500m",
        "memory_request": "64Mi",
    }
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.APPLIED
    resources = (
        backend.apis.apps.read_namespaced_deployment("rate", NS)
        .spec.template.spec.containers[0]
        .resources
    )
    assert resources.limits == {"cpu": "500m", "memory": "192Mi"}
    assert resources.requests == {"cpu": "250m", "memory": "64Mi"}


@pytest.mark.parametrize("kind", [ActionKind.CORDON, ActionKind.UNCORDON])
def test_cordon_uncordon_and_back(
    backend: KubernetesBackend, cluster: Cluster, kind: ActionKind
) -> None:
    target = node("general-003")
    if kind is ActionKind.UNCORDON:
        backend.apis.core.patch_node("general-003", {"spec": {"unschedulable": True}})
    req = request(kind, target, {"type": "schedulable", "unschedulable": kind is ActionKind.CORDON})
    _, inverse = apply_and_replay(backend, cluster, req)
    assert bool(backend.apis.core.read_node("general-003").spec.unschedulable) is (
        kind is ActionKind.CORDON
    )
    assert inverse is not None and inverse.kind is not kind
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.APPLIED
    assert bool(backend.apis.core.read_node("general-003").spec.unschedulable) is (
        kind is ActionKind.UNCORDON
    )


def test_uncordon_of_a_schedulable_node_is_already_satisfied(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    target = node("general-003")
    req = request(ActionKind.UNCORDON, target, {"type": "schedulable", "unschedulable": False})
    observed = backend.observe(target)
    version = cluster.rv
    assert backend.apply(req, observed).status is ResultStatus.ALREADY_SATISFIED
    assert CATALOGUE[req.kind].inverse(req, observed) is None
    assert cluster.rv == version


def pods_on(backend: KubernetesBackend, name: str) -> list[client.V1Pod]:
    pods = backend.apis.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={name}"
    ).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def test_drain_respects_a_disruption_budget_and_uncordons_back(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    """A budget that allows no disruption keeps its pod on the node: partial, never forced."""
    policy = client.PolicyV1Api(backend.apis.api)
    budget = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="rate-strict"),
        spec=client.V1PodDisruptionBudgetSpec(
            min_available=2, selector=client.V1LabelSelector(match_labels={"app": "rate"})
        ),
    )
    policy.create_namespaced_pod_disruption_budget(NS, budget)
    cluster.advance(1)
    target = node("general-000")
    before = backend.observe(target)
    rate = [p.name for p in pods_of(before) if p.workload == "hotel/rate"]
    assert len(rate) == 1
    req = request(ActionKind.DRAIN, target, {"type": "drain"}, before)

    # Deployments whose only available pods are here are rolled, not evicted
    rolled = [p.name for p in pods_of(before) if p.workload in rolled_by_drain(before)]
    result = backend.apply(req, before)
    assert result.status is ResultStatus.PARTIAL
    assert result.remaining == [f"{NS}/{rate[0]}"]
    assert len(result.evicted) == len(pods_of(before)) - 1 - len(rolled)
    assert "rate-strict" in result.message
    assert backend.apis.core.read_node("general-000").spec.unschedulable
    # the back-off moved the simulation on: the rolled pods may already be replaced elsewhere
    left = {p.metadata.name for p in pods_on(backend, "general-000")}
    assert set(rate) <= left <= set(rate + rolled)
    assert isinstance(backend.clock, ClusterClock)
    assert backend.clock.slept == [5, 10, 20]

    policy.delete_namespaced_pod_disruption_budget("rate-strict", NS)
    cluster.advance(1)
    replay = backend.apply(req, backend.observe(target))  # cordoned already: no precondition use
    assert replay.status is ResultStatus.APPLIED and replay.evicted == [f"{NS}/{rate[0]}"]
    settle(cluster)  # the rolled Deployments' new pods are up elsewhere; their old ones went
    assert pods_on(backend, "general-000") == []
    assert backend.apply(req, backend.observe(target)).status is ResultStatus.ALREADY_SATISFIED

    inverse = CATALOGUE[req.kind].inverse(req, before)
    assert inverse is not None and inverse.kind is ActionKind.UNCORDON
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.APPLIED
    assert not backend.apis.core.read_node("general-000").spec.unschedulable


def test_drain_retries_an_eviction_until_the_budget_allows_it(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    """frontend's budget (minAvailable 1 of 2) refuses the second frontend pod's eviction until
    the replacement of the first is Ready; the drain backs off on its clock and then succeeds."""
    clock = backend.clock
    assert isinstance(clock, ClusterClock)
    first = backend.apply(
        request(ActionKind.DRAIN, node("general-000"), {"type": "drain"}),
        backend.observe(node("general-000")),
    )
    assert first.status is ResultStatus.APPLIED and clock.slept == []
    target = node("general-001")
    observed = backend.observe(target)
    assert any(p.workload == "hotel/frontend" for p in pods_of(observed))
    result = backend.apply(request(ActionKind.DRAIN, target, {"type": "drain"}), observed)
    assert result.status is ResultStatus.APPLIED, result.message
    assert clock.slept, "the second frontend eviction should have been refused at first"
    assert pods_on(backend, "general-001") == []
    ready = [p for p in live_pods(backend, "frontend") if is_ready(p)]
    assert len(ready) >= 1


def test_move_avoids_nodes_and_moves_back(backend: KubernetesBackend, cluster: Cluster) -> None:
    target = deployment("search")
    on = {p.spec.node_name for p in live_pods(backend, "search")}
    avoid = sorted(on)[:1]
    desired = {
        "type": "placement",
        "node_selector": {"testbed.aiops.dev/pool": "general"},
        "avoid_nodes": avoid,
    }
    _, inverse = apply_and_replay(backend, cluster, request(ActionKind.MOVE, target, desired))
    settle(cluster)
    assert not {p.spec.node_name for p in live_pods(backend, "search")} & set(avoid)
    spec = backend.apis.apps.read_namespaced_deployment("search", NS).spec.template.spec
    assert spec.node_selector == {"testbed.aiops.dev/pool": "general"}
    observed = backend.observe(target)
    assert observed.workload is not None and observed.workload.avoid_nodes == avoid

    assert inverse is not None
    assert inverse.desired.model_dump() == {
        "type": "placement",
        "node_selector": {},
        "avoid_nodes": [],
    }
    assert backend.apply(inverse, observed).status is ResultStatus.APPLIED
    spec = backend.apis.apps.read_namespaced_deployment("search", NS).spec.template.spec
    assert not spec.node_selector
    after = backend.observe(target).workload
    assert after is not None and after.avoid_nodes == [] and after.node_selector == {}
    # the pod anti-affinity the application set is untouched
    assert spec.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution


def test_revert_port_and_back(backend: KubernetesBackend, cluster: Cluster) -> None:
    target = service("frontend")
    desired = {"type": "service_port", "port": 5000, "target_port": "http"}
    _, inverse = apply_and_replay(
        backend, cluster, request(ActionKind.REVERT_PORT, target, desired)
    )
    port = backend.apis.core.read_namespaced_service("frontend", NS).spec.ports[0]
    assert port.target_port == "http"
    assert inverse is not None
    assert inverse.desired.model_dump() == {
        "type": "service_port",
        "port": 5000,
        "target_port": 5000,
    }
    assert backend.apply(inverse, backend.observe(target)).status is ResultStatus.APPLIED
    assert (
        backend.apis.core.read_namespaced_service("frontend", NS).spec.ports[0].target_port == 5000
    )


@pytest.mark.parametrize(
    ("kind", "desired", "status"),
    [
        (ActionKind.NOOP, {"type": "none"}, ResultStatus.NOTHING_TO_DO),
        (ActionKind.ESCALATE, {"type": "escalation", "reason": "unclear"}, ResultStatus.ESCALATED),
    ],
)
def test_noop_and_escalate_make_no_cluster_call(
    backend: KubernetesBackend,
    cluster: Cluster,
    kind: ActionKind,
    desired: dict[str, str],
    status: ResultStatus,
) -> None:
    target = deployment("frontend")
    req = request(kind, target, desired)
    observed = backend.observe(target)
    version = cluster.rv
    assert backend.apply(req, observed).status is status
    assert CATALOGUE[kind].inverse(req, observed) is None
    assert cluster.rv == version
