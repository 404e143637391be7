"""The testbed's Kubernetes API, driven with the official ``kubernetes`` client, unmodified.

Every test runs against a fresh seeded cluster (the hotel application, all pods Ready) served
over HTTP on 127.0.0.1; simulated time moves only when a test calls ``cluster.advance()``.
Assertions read what the system exposes: API objects, ``Status`` bodies, ``/metrics`` samples,
watch events, logs and events.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

import testbed.cluster
from testbed.cluster import Cluster
from testbed.runner import TestbedServer

from .api_helpers import (
    HASH_LABEL,
    NS,
    REVISION,
    REVISION_HISTORY,
    TRUTH_TOKEN,
    UNSCHEDULABLE_TAINT,
    advance_until,
    app_pods,
    by_revision,
    check_rollout,
    events,
    eviction,
    image_patch,
    is_ready,
    live,
    owned_replicasets,
    scrape,
    series,
    settle,
    status_body,
    value,
)

# ---------------------------------------------------------------------------------------------
# listing and reading


def test_list_pods_namespaced_and_in_all_namespaces(
    cluster: Cluster, core: client.CoreV1Api
) -> None:
    pods = core.list_namespaced_pod(NS)
    names = sorted(p.metadata.name for p in pods.items)
    assert names == sorted(name for (ns, name) in cluster.pods if ns == NS)
    assert len(names) == 16
    assert int(pods.metadata.resource_version) == cluster.rv
    for pod in pods.items:
        assert pod.metadata.namespace == NS
        assert pod.status.phase == "Running"
        assert is_ready(pod)
        (owner,) = pod.metadata.owner_references
        assert owner.kind == "ReplicaSet"
        assert pod.metadata.name.startswith(owner.name + "-")
    everywhere = core.list_pod_for_all_namespaces()
    assert sorted(p.metadata.name for p in everywhere.items) == names
    assert core.list_namespaced_pod("kube-system").items == []


def test_list_pods_by_label_selector(core: client.CoreV1Api) -> None:
    search = core.list_namespaced_pod(NS, label_selector="app=search").items
    assert len(search) == 2
    assert all(p.metadata.labels["app"] == "search" for p in search)
    both = core.list_namespaced_pod(NS, label_selector="app in (search, geo)").items
    assert sorted({p.metadata.labels["app"] for p in both}) == ["geo", "search"]
    assert len(both) == 3
    others = core.list_pod_for_all_namespaces(label_selector="app!=search,tier").items
    assert len(others) == 14
    assert all(p.metadata.labels["app"] != "search" for p in others)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, label_selector="app in (search")
    assert err.value.status == 400


def test_list_pods_by_field_selector(cluster: Cluster, core: client.CoreV1Api) -> None:
    seen: list[str] = []
    for node in sorted(cluster.nodes):
        pods = core.list_namespaced_pod(NS, field_selector=f"spec.nodeName={node}").items
        assert all(p.spec.node_name == node for p in pods)
        assert len(pods) == len(cluster.nodes[node].pods)
        seen += [p.metadata.name for p in pods]
    assert sorted(seen) == sorted(p.metadata.name for p in core.list_namespaced_pod(NS).items)
    some = core.list_namespaced_pod(NS).items[3].metadata.name
    (one,) = core.list_namespaced_pod(NS, field_selector=f"metadata.name={some}").items
    assert one.metadata.name == some
    running = core.list_namespaced_pod(NS, field_selector="status.phase!=Running").items
    assert running == []


def test_unsupported_field_selector_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, field_selector="spec.nodename=general-000")
    assert err.value.status == 400
    assert "field label not supported: spec.nodename" in status_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_event(NS, field_selector="involvedObject.bogus=x")
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        core.list_node(field_selector="status.phase=Running")
    assert err.value.status == 400


def test_list_pods_paginates_with_limit_and_continue(core: client.CoreV1Api) -> None:
    everything = [p.metadata.name for p in core.list_namespaced_pod(NS).items]
    first = core.list_namespaced_pod(NS, limit=5)
    assert len(first.items) == 5
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == len(everything) - 5
    collected = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    pages = 1
    while token:
        page = core.list_namespaced_pod(NS, limit=5, _continue=token)
        collected += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        pages += 1
    assert pages == 4
    assert collected == everything
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, limit=5, _continue="not a token!")
    assert err.value.status == 400


def test_get_and_list_nodes(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == [f"general-00{i}" for i in range(4)]
    node = core.read_node("general-001")
    assert node.status.capacity["cpu"] == "4"
    assert node.status.capacity["memory"] == "16Gi"
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "True"
    assert node.metadata.labels["topology.kubernetes.io/zone"] == "zone-b"
    assert not node.spec.unschedulable
    with pytest.raises(ApiException) as err:
        core.read_node("general-009")
    assert err.value.status == 404
    assert status_body(err.value)["reason"] == "NotFound"


def test_namespaces(core: client.CoreV1Api) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert names == {"default", "kube-system", NS}
    hotel = core.read_namespace(NS)
    assert hotel.status.phase == "Active"
    assert hotel.metadata.labels["kubernetes.io/metadata.name"] == NS


# ---------------------------------------------------------------------------------------------
# scaling


def test_scale_deployment_with_patch(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    scale = apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert apps.read_namespaced_deployment("search", NS).spec.replicas == 3
    before = scrape(server)
    labels = {"namespace": NS, "deployment": "search"}
    assert value(before, "kube_deployment_spec_replicas", **labels) == 3
    assert value(before, "kube_deployment_status_replicas_available", **labels) == 2

    advance_until(cluster, lambda: sum(is_ready(p) for p in app_pods(core, "search")) == 3)
    cluster.advance(1)
    assert len(app_pods(core, "search")) == 3
    assert apps.read_namespaced_deployment("search", NS).status.available_replicas == 3
    after = scrape(server)
    assert value(after, "kube_deployment_spec_replicas", **labels) == 3
    assert value(after, "kube_deployment_status_replicas_available", **labels) == 3
    assert apps.read_namespaced_deployment_scale("search", NS).status.replicas == 3


def test_scale_deployment_with_replace(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    scale = apps.read_namespaced_deployment_scale("rate", NS)
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=rate"
    scale.spec.replicas = 4
    replaced = apps.replace_namespaced_deployment_scale("rate", NS, scale)
    assert replaced.spec.replicas == 4

    advance_until(cluster, lambda: sum(is_ready(p) for p in app_pods(core, "rate")) == 4)
    samples = scrape(server)
    labels = {"namespace": NS, "deployment": "rate"}
    assert value(samples, "kube_deployment_spec_replicas", **labels) == 4
    assert value(samples, "kube_deployment_status_replicas_available", **labels) == 4

    down = client.V1Scale(
        metadata=client.V1ObjectMeta(name="rate", namespace=NS),
        spec=client.V1ScaleSpec(replicas=1),
    )
    apps.replace_namespaced_deployment_scale("rate", NS, down)
    advance_until(cluster, lambda: len(app_pods(core, "rate")) == 1)
    samples = scrape(server)
    assert value(samples, "kube_deployment_spec_replicas", **labels) == 1
    assert value(samples, "kube_deployment_status_replicas_available", **labels) == 1


def test_replace_deployment_with_the_object_read(
    cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    deployment = apps.read_namespaced_deployment("search", NS)
    generation = deployment.metadata.generation
    deployment.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment("search", NS, deployment)
    assert replaced.spec.replicas == 3
    assert replaced.metadata.generation == generation + 1
    advance_until(cluster, lambda: sum(is_ready(p) for p in app_pods(core, "search")) == 3)
    assert len(owned_replicasets(apps, "search")) == 1, "same template, same ReplicaSet"
    status = apps.read_namespaced_deployment("search", NS).status
    assert status.observed_generation == generation + 1
    assert status.updated_replicas == 3


# ---------------------------------------------------------------------------------------------
# deleting a pod


def test_deleted_pod_terminates_and_replacement_starts_after_start_delay(
    cluster: Cluster, core: client.CoreV1Api
) -> None:
    timing = cluster.timing
    fastest = (
        timing.scheduling_s
        + timing.image_present_s
        + timing.container_start_s
        + timing.readiness_initial_delay_s
    )
    slowest = fastest - timing.image_present_s + timing.image_pull_s
    victim = app_pods(core, "profile")[0].metadata.name
    deleted = core.delete_namespaced_pod(victim, NS)
    assert deleted.metadata.deletion_timestamp is not None
    pod = core.read_namespaced_pod(victim, NS)
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 30
    assert not is_ready(pod)

    deleted_at = cluster.now
    created_at: float | None = None
    ready_at: float | None = None
    while ready_at is None:
        cluster.advance(1)
        assert cluster.now - deleted_at <= slowest + 5, "replacement not Ready in time"
        pods = app_pods(core, "profile")
        new = [p for p in pods if p.metadata.name != victim and p.metadata.creation_timestamp]
        fresh = [p for p in new if p.metadata.creation_timestamp.timestamp() > deleted_at - 1]
        if not fresh:
            continue
        (replacement,) = fresh
        created_at = replacement.metadata.creation_timestamp.timestamp()
        if is_ready(replacement):
            ready_at = cluster.now
        else:
            assert replacement.status.phase in ("Pending", "Running")
    assert created_at is not None
    assert ready_at - created_at >= fastest, "Ready before the documented start delay"
    assert ready_at - created_at <= slowest + 2 * cluster.tick
    names = [p.metadata.name for p in app_pods(core, "profile")]
    assert victim not in names, "the deleted pod is gone once its container exited"
    assert len(names) == 2


def test_delete_with_zero_grace_removes_pod_at_once(
    cluster: Cluster, core: client.CoreV1Api
) -> None:
    first, second = (p.metadata.name for p in app_pods(core, "rate"))
    core.delete_namespaced_pod(first, NS, grace_period_seconds=0)
    core.delete_namespaced_pod(second, NS, body=client.V1DeleteOptions(grace_period_seconds=0))
    for name in (first, second):
        with pytest.raises(ApiException) as err:
            core.read_namespaced_pod(name, NS)
        assert err.value.status == 404


# ---------------------------------------------------------------------------------------------
# cordon


def test_cordon_keeps_new_pods_off_the_node_and_uncordon_reverses(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    node = "general-000"
    core.patch_node(node, {"spec": {"unschedulable": True}})
    cordoned = core.read_node(node)
    assert cordoned.spec.unschedulable is True
    taints = [(t.key, t.effect) for t in cordoned.spec.taints or []]
    assert (UNSCHEDULABLE_TAINT, "NoSchedule") in taints
    samples = scrape(server)
    assert value(samples, "kube_node_spec_unschedulable", node=node) == 1
    assert value(samples, "kube_node_spec_unschedulable", node="general-001") == 0
    assert value(samples, "kube_node_spec_taint", node=node, key=UNSCHEDULABLE_TAINT) == 1
    listed = core.list_node(field_selector="spec.unschedulable=true").items
    assert [n.metadata.name for n in listed] == [node]
    reasons = [e.reason for e in events(core, "default", **{"involvedObject.name": node})]
    assert "NodeNotSchedulable" in reasons

    before = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": 10}})
    advance_until(cluster, lambda: sum(is_ready(p) for p in app_pods(core, "search")) == 10)
    new = [p for p in core.list_namespaced_pod(NS).items if p.metadata.name not in before]
    assert len(new) == 8
    assert all(p.spec.node_name != node for p in new)

    # uncordon the way kubectl does: a patch that drops the field
    core.patch_node(
        node, {"spec": {"unschedulable": None}}, _content_type="application/merge-patch+json"
    )
    uncordoned = core.read_node(node)
    assert not uncordoned.spec.unschedulable
    assert UNSCHEDULABLE_TAINT not in [t.key for t in uncordoned.spec.taints or []]
    samples = scrape(server)
    assert value(samples, "kube_node_spec_unschedulable", node=node) == 0
    assert series(samples, "kube_node_spec_taint", node=node) == []

    before = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": 14}})
    advance_until(cluster, lambda: sum(is_ready(p) for p in app_pods(core, "search")) == 14)
    new = [p for p in core.list_namespaced_pod(NS).items if p.metadata.name not in before]
    assert any(p.spec.node_name == node for p in new), "the uncordoned node takes pods again"


# ---------------------------------------------------------------------------------------------
# eviction


def test_eviction_respects_the_disruption_budget(
    cluster: Cluster, core: client.CoreV1Api, policy: client.PolicyV1Api
) -> None:
    budget = policy.read_namespaced_pod_disruption_budget("frontend", NS)
    assert budget.spec.min_available == 1
    assert budget.status.disruptions_allowed == 1
    first, second = (p.metadata.name for p in app_pods(core, "frontend"))

    core.create_namespaced_pod_eviction(first, NS, eviction(first))
    assert core.read_namespaced_pod(first, NS).metadata.deletion_timestamp is not None
    budget = policy.read_namespaced_pod_disruption_budget("frontend", NS)
    assert budget.status.disruptions_allowed == 0
    assert first in (budget.status.disrupted_pods or {})

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction(second, NS, eviction(second))
    assert err.value.status == 429
    body = status_body(err.value)
    assert body["reason"] == "TooManyRequests"
    assert "disruption budget" in body["message"]
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert core.read_namespaced_pod(second, NS).metadata.deletion_timestamp is None

    # a pod no budget covers is evicted freely
    search = app_pods(core, "search")[0].metadata.name
    core.create_namespaced_pod_eviction(search, NS, eviction(search))
    assert core.read_namespaced_pod(search, NS).metadata.deletion_timestamp is not None

    # once the replacement is Ready the budget allows a disruption again
    advance_until(cluster, lambda: sum(is_ready(p) for p in live(app_pods(core, "frontend"))) == 2)
    assert policy.read_namespaced_pod_disruption_budget("frontend", NS).status.disruptions_allowed
    core.create_namespaced_pod_eviction(second, NS, eviction(second))
    assert core.read_namespaced_pod(second, NS).metadata.deletion_timestamp is not None


def test_eviction_of_unknown_pod_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("nope", NS, eviction("nope"))
    assert err.value.status == 404


# ---------------------------------------------------------------------------------------------
# rollouts


def test_image_rollout_respects_bounds_and_undo_reuses_the_old_replicaset(
    cluster: Cluster,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
) -> None:
    old_image = "hotelreservation/search:v1.8.3"
    new_image = "hotelreservation/search:v1.9.0"
    apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": 4}})
    settle(cluster)
    desired, max_surge, max_unavailable = 4, 1, 1  # 25 % of 4, rounded up and down
    strategy = apps.read_namespaced_deployment("search", NS).spec.strategy
    assert strategy.rolling_update.max_surge == "25%"
    assert strategy.rolling_update.max_unavailable == "25%"
    (original,) = owned_replicasets(apps, "search")
    assert original.metadata.annotations[REVISION] == "1"

    apps.patch_namespaced_deployment("search", NS, image_patch("search", new_image))
    check_rollout(cluster, core, "search", desired, max_surge, max_unavailable, new_image)
    revisions = by_revision(owned_replicasets(apps, "search"))
    assert sorted(revisions) == [1, 2]
    assert revisions[1].metadata.name == original.metadata.name
    assert revisions[2].spec.template.spec.containers[0].image == new_image
    assert revisions[2].spec.replicas == desired
    assert revisions[1].spec.replicas == 0
    new_hash = revisions[2].metadata.labels[HASH_LABEL]
    assert all(p.metadata.labels[HASH_LABEL] == new_hash for p in app_pods(core, "search"))
    assert apps.read_namespaced_deployment("search", NS).metadata.annotations[REVISION] == "2"

    # kubectl rollout undo: the previous revision's template, hash label removed, as a JSON patch
    deployment = apps.read_namespaced_deployment("search", NS)
    template = api_client.sanitize_for_serialization(revisions[1].spec.template)
    del template["metadata"]["labels"][HASH_LABEL]
    skip = {REVISION, REVISION_HISTORY, "deployment.kubernetes.io/desired-replicas"}
    annotations = {k: v for k, v in deployment.metadata.annotations.items() if k in skip}
    annotations |= {
        k: v for k, v in (revisions[1].metadata.annotations or {}).items() if k not in skip
    }
    apps.patch_namespaced_deployment(
        "search",
        NS,
        [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ],
    )
    cluster.advance(1)
    rss = owned_replicasets(apps, "search")
    assert len(rss) == 2, "the old ReplicaSet is reused, no third one is created"
    reused = next(rs for rs in rss if rs.metadata.name == original.metadata.name)
    assert reused.metadata.annotations[REVISION] == "3"
    assert reused.metadata.annotations[REVISION_HISTORY] == "1"
    check_rollout(cluster, core, "search", desired, max_surge, max_unavailable, old_image)
    old_hash = original.metadata.labels[HASH_LABEL]
    assert all(p.metadata.labels[HASH_LABEL] == old_hash for p in app_pods(core, "search"))
    assert sorted(by_revision(owned_replicasets(apps, "search"))) == [2, 3]
    assert apps.read_namespaced_deployment("search", NS).metadata.annotations[REVISION] == "3"


def test_rollout_restart_replaces_every_pod(
    cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    before = {p.metadata.name for p in app_pods(core, "profile")}
    stamp = datetime.fromtimestamp(cluster.now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    restart = "kubectl.kubernetes.io/restartedAt"
    apps.patch_namespaced_deployment(
        "profile",
        NS,
        {"spec": {"template": {"metadata": {"annotations": {restart: stamp}}}}},
    )
    cluster.advance(1)
    revisions = by_revision(owned_replicasets(apps, "profile"))
    assert sorted(revisions) == [1, 2]
    assert revisions[2].spec.template.metadata.annotations[restart] == stamp

    def replaced() -> bool:
        pods = app_pods(core, "profile")
        return (
            len(pods) == 2
            and all(is_ready(p) for p in pods)
            and not before & {p.metadata.name for p in pods}
        )

    advance_until(cluster, replaced)
    for pod in app_pods(core, "profile"):
        assert pod.metadata.annotations[restart] == stamp
        assert pod.metadata.labels[HASH_LABEL] == revisions[2].metadata.labels[HASH_LABEL]


# ---------------------------------------------------------------------------------------------
# services


def test_service_with_wrong_target_port_fails_requests_until_fixed(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api
) -> None:
    edge = {"source_workload": "search", "destination_workload": "geo"}

    def requests(code: str) -> float:
        return value(scrape(server), "istio_requests_total", **edge, response_code=code)

    cluster.advance(5)
    assert requests("503") == 0
    ok_before = requests("200")
    assert ok_before > 0

    svc = core.patch_namespaced_service(
        "geo", NS, {"spec": {"ports": [{"port": 8083, "targetPort": 9999}]}}
    )
    assert svc.spec.ports[0].target_port == 9999
    assert len(svc.spec.ports) == 1
    cluster.advance(10)
    assert all(is_ready(p) for p in app_pods(core, "geo")), "the pods themselves stay Ready"
    endpoints = core.read_namespaced_endpoints("geo", NS)
    assert endpoints.subsets[0].ports[0].port == 9999
    assert len(endpoints.subsets[0].addresses) == 1
    failed = requests("503")
    assert failed > 0
    cluster.advance(10)
    assert requests("503") > failed, "requests keep failing"

    core.patch_namespaced_service(
        "geo", NS, {"spec": {"ports": [{"port": 8083, "targetPort": 8083}]}}
    )
    cluster.advance(2)
    failed, ok = requests("503"), requests("200")
    cluster.advance(10)
    assert requests("503") == failed, "no more failures once the port is right"
    assert requests("200") > ok


# ---------------------------------------------------------------------------------------------
# watch


def test_watch_starts_with_existing_pods_as_added(core: client.CoreV1Api) -> None:
    expected = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    for event in w.stream(core.list_namespaced_pod, NS, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        assert isinstance(event["object"], client.V1Pod)
        if len(seen) == len(expected):
            w.stop()
    assert {t for t, _ in seen} == {"ADDED"}
    assert {name for _, name in seen} == expected


def test_watch_from_a_resource_version_sees_a_deletion(
    cluster: Cluster, core: client.CoreV1Api
) -> None:
    listed = core.list_namespaced_pod(NS)
    victim = listed.items[0].metadata.name
    core.delete_namespaced_pod(victim, NS)
    cluster.advance(10)

    w = watch.Watch()
    seen: list[tuple[str, client.V1Pod]] = []
    for event in w.stream(
        core.list_namespaced_pod,
        NS,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"]))
        if event["type"] == "DELETED" and event["object"].metadata.name == victim:
            w.stop()
    mine = [(t, pod) for t, pod in seen if pod.metadata.name == victim]
    kinds = [t for t, _ in mine]
    assert kinds[0] == "MODIFIED"
    assert mine[0][1].metadata.deletion_timestamp is not None
    assert kinds[-1] == "DELETED"
    assert "ADDED" not in kinds, "no replay of objects older than the resourceVersion"
    added = [pod.metadata.name for t, pod in seen if t == "ADDED"]
    assert len(added) == 1, "the replacement"
    versions = [int(pod.metadata.resource_version) for _, pod in seen]
    assert min(versions) > int(listed.metadata.resource_version)


def test_watch_streams_a_deletion_made_while_watching(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api
) -> None:
    listed = core.list_namespaced_pod(NS, label_selector="app=geo")
    (victim,) = (p.metadata.name for p in listed.items)
    errors: list[BaseException] = []

    def act() -> None:
        try:
            config = client.Configuration()
            config.host = server.url
            with client.ApiClient(config) as other:
                client.CoreV1Api(other).delete_namespaced_pod(victim, NS)
            cluster.advance(5)
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)

    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    actor = threading.Timer(0.3, act)
    actor.start()
    try:
        for event in w.stream(
            core.list_namespaced_pod,
            NS,
            label_selector="app=geo",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if seen[-1] == ("DELETED", victim):
                w.stop()
    finally:
        actor.join()
    assert errors == []
    assert ("MODIFIED", victim) in seen
    assert seen[-1] == ("DELETED", victim)
    assert any(t == "ADDED" and name != victim for t, name in seen), "its replacement"


@pytest.fixture
def short_watch_log(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(testbed.cluster, "WATCH_LOG_SIZE", 30)
    return 30


def test_watch_from_a_too_old_resource_version_is_gone(
    short_watch_log: int, cluster: Cluster, core: client.CoreV1Api
) -> None:
    old = core.list_namespaced_pod(NS).metadata.resource_version
    for pod in core.list_namespaced_pod(NS).items[:6]:
        core.delete_namespaced_pod(pod.metadata.name, NS)
    cluster.advance(20)

    raw = core.list_namespaced_pod(
        NS, watch=True, resource_version=old, timeout_seconds=2, _preload_content=False
    )
    try:
        lines = [line for line in raw.read().decode().splitlines() if line]
    finally:
        raw.release_conn()
    (line,) = lines
    event = json.loads(line)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"

    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(
            core.list_namespaced_pod, NS, resource_version=old, timeout_seconds=2
        ):
            pass
    assert err.value.status == 410

    # a fresh list's resourceVersion can be watched again
    fresh = core.list_namespaced_pod(NS).metadata.resource_version
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_pod, NS, resource_version=fresh, timeout_seconds=1)
    assert list(stream) == []


# ---------------------------------------------------------------------------------------------
# logs


def test_pod_log_tail_timestamps_and_limits(cluster: Cluster, core: client.CoreV1Api) -> None:
    cluster.advance(120)
    pod = app_pods(core, "frontend")[0].metadata.name
    full = core.read_namespaced_pod_log(pod, NS).splitlines()
    assert len(full) >= 5
    assert 'msg="starting frontend"' in full[0]
    assert core.read_namespaced_pod_log(pod, NS, tail_lines=2).splitlines() == full[-2:]
    stamped = core.read_namespaced_pod_log(pod, NS, timestamps=True).splitlines()
    assert len(stamped) == len(full)
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")
    for line, plain in zip(stamped, full, strict=True):
        match = pattern.match(line)
        assert match, line
        assert match.group(1) == plain
    assert len(core.read_namespaced_pod_log(pod, NS, limit_bytes=20)) <= 20
    recent = core.read_namespaced_pod_log(pod, NS, since_seconds=90).splitlines()
    assert 0 < len(recent) < len(full)


def test_previous_log_after_an_oom_kill(
    cluster: Cluster, server: TestbedServer, core: client.CoreV1Api
) -> None:
    name = app_pods(core, "search")[0].metadata.name
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(name, NS, previous=True)
    assert err.value.status == 400
    first_log = core.read_namespaced_pod_log(name, NS)

    pod = cluster.pods[(NS, name)]
    cluster.arrays.leak_rate[pod.slot] = 32 * 2**20  # bytes per second, past the 192Mi limit

    def killed() -> bool:
        status = core.read_namespaced_pod(name, NS).status.container_statuses[0]
        return status.last_state is not None and status.last_state.terminated is not None

    advance_until(cluster, killed, limit_s=30)
    cluster.arrays.leak_rate[pod.slot] = 0
    status = core.read_namespaced_pod(name, NS).status.container_statuses[0]
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.exit_code == 137
    assert status.state.waiting.reason == "CrashLoopBackOff"
    reasons = {e.reason for e in events(core, **{"involvedObject.name": name})}
    assert "BackOff" in reasons
    (oom,) = core.list_event_for_all_namespaces(field_selector="reason=OOMKilling").items
    assert oom.involved_object.kind == "Node"
    assert oom.involved_object.name == core.read_namespaced_pod(name, NS).spec.node_name
    assert "(search)" in oom.message

    advance_until(
        cluster,
        lambda: core.read_namespaced_pod(name, NS).status.container_statuses[0].restart_count == 1,
        limit_s=30,
    )
    previous = core.read_namespaced_pod_log(name, NS, previous=True)
    assert previous.startswith(first_log.splitlines()[0])
    advance_until(cluster, lambda: is_ready(core.read_namespaced_pod(name, NS)), limit_s=30)
    current = core.read_namespaced_pod_log(name, NS, timestamps=True).splitlines()
    prev_stamped = core.read_namespaced_pod_log(
        name, NS, previous=True, timestamps=True
    ).splitlines()
    assert 'msg="starting search"' in current[0]
    assert current[0].split()[0] > prev_stamped[-1].split()[0]
    samples = scrape(server)
    assert value(samples, "kube_pod_container_status_restarts_total", pod=name) == 1


def test_pod_log_errors(cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    pod = app_pods(core, "geo")[0].metadata.name
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(pod, NS, container="sidecar")
    assert err.value.status == 400
    assert "sidecar" in status_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("no-such-pod", NS)
    assert err.value.status == 404
    assert core.read_namespaced_pod_log(pod, NS, container="geo")

    apps.patch_namespaced_deployment_scale("geo", NS, {"spec": {"replicas": 2}})
    cluster.advance(2)
    (starting,) = [p for p in app_pods(core, "geo") if p.metadata.name != pod]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(starting.metadata.name, NS)
    assert err.value.status == 400
    assert "is waiting to start: ContainerCreating" in status_body(err.value)["message"]


# ---------------------------------------------------------------------------------------------
# events


def test_events_of_a_pod_and_its_deployment(cluster: Cluster, core: client.CoreV1Api) -> None:
    first = app_pods(core, "reservation")[0].metadata.name
    own = events(core, **{"involvedObject.name": first})
    assert own, "the pod has events"
    assert all(e.involved_object.name == first for e in own)
    reasons = [e.reason for e in own]
    assert {"Scheduled", "Pulled", "Created", "Started"} <= set(reasons)
    assert reasons.index("Scheduled") < reasons.index("Started")
    pulled = next(e for e in own if e.reason == "Pulled")
    assert ("Pulling" in reasons) == ("Successfully pulled" in pulled.message)
    everything = {e.reason for e in events(core)}
    assert "Pulling" in everything, "fresh nodes pull their images"

    core.delete_namespaced_pod(first, NS)
    cluster.advance(20)
    killing = [e.reason for e in events(core, **{"involvedObject.name": first})]
    assert "Killing" in killing
    replacement = app_pods(core, "reservation")[0].metadata.name
    assert replacement != first
    later = {e.reason for e in events(core, **{"involvedObject.name": replacement})}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= later

    scaled = events(core, **{"involvedObject.kind": "Deployment", "reason": "ScalingReplicaSet"})
    assert any(e.involved_object.name == "reservation" for e in scaled)
    assert all(e.source.component == "deployment-controller" for e in scaled)


def test_failed_scheduling_event_for_a_pod_that_fits_nowhere(
    cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    labels = {"app": "batch"}
    container = client.V1Container(
        name="batch",
        image="busybox:1.36",
        resources=client.V1ResourceRequirements(requests={"cpu": "8", "memory": "64Mi"}),
    )
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="batch", labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(NS, body)
    assert created.metadata.name == "batch"
    cluster.advance(5)
    (pod,) = app_pods(core, "batch")
    assert pod.status.phase == "Pending"
    scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    failed = events(
        core, **{"involvedObject.name": pod.metadata.name, "reason": "FailedScheduling"}
    )
    assert failed
    assert failed[0].type == "Warning"
    assert failed[0].message.startswith("0/4 nodes are available: 4 Insufficient cpu.")


def test_node_not_ready_after_the_monitor_grace_period(
    cluster: Cluster, core: client.CoreV1Api
) -> None:
    node = "general-001"
    on_node = core.list_namespaced_pod(NS, field_selector=f"spec.nodeName={node}").items
    assert on_node
    grace = cluster.timing.node_monitor_grace_s
    cluster.fail_node(node)
    cluster.advance(grace - 5)
    ready = next(c for c in core.read_node(node).status.conditions if c.type == "Ready")
    assert ready.status == "True", "still Ready within the grace period"
    cluster.advance(10)
    ready = next(c for c in core.read_node(node).status.conditions if c.type == "Ready")
    assert ready.status == "Unknown"
    node_events = events(core, "default", **{"involvedObject.name": node})
    assert "NodeNotReady" in [e.reason for e in node_events]
    taints = {(t.key, t.effect) for t in core.read_node(node).spec.taints}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
    pod = on_node[0].metadata.name
    assert not is_ready(core.read_namespaced_pod(pod, NS))
    pod_events = events(core, **{"involvedObject.name": pod, "reason": "NodeNotReady"})
    assert pod_events and pod_events[0].type == "Warning"


# ---------------------------------------------------------------------------------------------
# custom objects and the truth endpoint

CHAOS = ("chaos-mesh.org", "v1alpha1")
CHAOS_NAME = "geo-delay-q7x"


def network_chaos() -> dict[str, Any]:
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": {"name": CHAOS_NAME, "namespace": NS, "labels": {"team": "sre"}},
        "spec": {
            "action": "delay",
            "mode": "all",
            "selector": {"namespaces": [NS], "labelSelectors": {"app": "geo"}},
            "delay": {"latency": "200ms"},
            "duration": "5m",
        },
    }


def truth(server: TestbedServer, token: str | None = TRUTH_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{server.url}/testbed/truth", headers=headers, timeout=10)


def test_network_chaos_custom_object_lifecycle(
    cluster: Cluster, server: TestbedServer, custom: client.CustomObjectsApi
) -> None:
    created = custom.create_namespaced_custom_object(*CHAOS, NS, "networkchaos", network_chaos())
    assert created["kind"] == "NetworkChaos"
    assert created["metadata"]["uid"]
    assert created["metadata"]["resourceVersion"]

    listed = custom.list_namespaced_custom_object(*CHAOS, NS, "networkchaos")
    assert [o["metadata"]["name"] for o in listed["items"]] == [CHAOS_NAME]
    selected = custom.list_namespaced_custom_object(
        *CHAOS, NS, "networkchaos", label_selector="team=dba"
    )
    assert selected["items"] == []
    got = custom.get_namespaced_custom_object(*CHAOS, NS, "networkchaos", CHAOS_NAME)
    assert got["spec"]["delay"]["latency"] == "200ms"

    patched = custom.patch_namespaced_custom_object(
        *CHAOS, NS, "networkchaos", CHAOS_NAME, {"spec": {"delay": {"latency": "400ms"}}}
    )
    assert patched["spec"]["delay"]["latency"] == "400ms"
    assert patched["spec"]["action"] == "delay"
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(*CHAOS, NS, "networkchaos", network_chaos())
    assert err.value.status == 409

    answer = truth(server)
    assert answer.status_code == 200
    chaos = answer.json()["chaos"]
    assert [c["metadata"]["name"] for c in chaos] == [CHAOS_NAME]
    assert chaos[0]["spec"]["delay"]["latency"] == "400ms"

    cluster.advance(30)
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "chaos" not in text.lower()
    assert CHAOS_NAME not in text

    custom.delete_namespaced_custom_object(*CHAOS, NS, "networkchaos", CHAOS_NAME)
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(*CHAOS, NS, "networkchaos", CHAOS_NAME)
    assert err.value.status == 404
    assert truth(server).json()["chaos"] == []


def test_custom_object_of_the_wrong_kind_is_422(custom: client.CustomObjectsApi) -> None:
    body = network_chaos() | {"kind": "PodChaos"}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(*CHAOS, NS, "networkchaos", body)
    assert err.value.status == 422
    assert "kind" in status_body(err.value)["message"]


def test_truth_endpoint_requires_the_token(server: TestbedServer) -> None:
    assert truth(server, None).status_code == 401
    assert truth(server, "wrong-token").status_code == 403
    denied = truth(server, "wrong-token").json()
    assert denied["kind"] == "Status"
    assert "faults" not in denied
    answer = truth(server)
    assert answer.status_code == 200
    assert set(answer.json()) >= {"time", "faults", "chaos"}


def test_truth_endpoint_is_closed_without_a_configured_token(cluster: Cluster) -> None:
    with TestbedServer(cluster) as bare:
        assert truth(bare).status_code == 403


# ---------------------------------------------------------------------------------------------
# discovery


def test_discovery(api_client: client.ApiClient, server: TestbedServer) -> None:
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "policy", "chaos-mesh.org"} <= set(groups)
    assert groups["apps"].preferred_version.group_version == "apps/v1"

    core = client.CoreV1Api(api_client).get_api_resources()
    assert core.group_version == "v1"
    by_name = {r.name: r for r in core.resources}
    assert {"pods", "pods/log", "pods/eviction", "nodes", "services", "events"} <= set(by_name)
    assert by_name["pods"].namespaced and not by_name["nodes"].namespaced
    assert "watch" in by_name["pods"].verbs
    assert "po" in by_name["pods"].short_names

    apps = client.AppsV1Api(api_client).get_api_resources()
    names = {r.name for r in apps.resources}
    assert {"deployments", "deployments/scale", "replicasets"} <= names

    version = client.VersionApi(api_client).get_code()
    assert version.major == "1"
    assert version.git_version.startswith("v1.")

    chaos = httpx.get(f"{server.url}/apis/chaos-mesh.org/v1alpha1", timeout=10).json()
    assert "networkchaos" in {r["name"] for r in chaos["resources"]}
    assert httpx.get(f"{server.url}/apis/chaos-mesh.org/v1", timeout=10).status_code == 404
