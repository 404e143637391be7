"""Stale preconditions, missing targets and bad input: a clear error and nothing executed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actions import (
    CATALOGUE,
    VALIDATION_RULE,
    KubernetesBackend,
    Observed,
    ResultStatus,
    api_client,
    parse_request,
)
from actions.observed import NodeState
from controlplane import (
    ActionFailed,
    ActionKind,
    ActionRejected,
    ConfigError,
    PreconditionFailed,
    TargetKind,
    TargetRef,
    load_settings,
)
from testbed.cluster import Cluster
from testbed.runner import TestbedServer, free_port
from tests.testbed.api_helpers import NS, image_patch, settle

from .helpers import NOW, deployment, node, pod, request, service

LABEL = {"metadata": {"labels": {"touched": "yes"}}}


def first_pod(backend: KubernetesBackend, app: str) -> tuple[str, str]:
    item = backend.apis.core.list_namespaced_pod(NS, label_selector=f"app={app}").items[0]
    return item.metadata.name, item.metadata.uid


def case(backend: KubernetesBackend, kind: ActionKind) -> tuple[TargetRef, dict[str, Any]]:
    """A target and a desired state that differs from the cluster's, for each kind."""
    if kind is ActionKind.SCALE:
        return deployment("search"), {"type": "replicas", "replicas": 3}
    if kind is ActionKind.RESTART:
        return deployment("search"), {"type": "restart", "restarted_at": "2026-01-05T01:00:00Z"}
    if kind is ActionKind.ROLLBACK:
        return deployment("search"), {"type": "revision", "revision": 1}
    if kind is ActionKind.SET_RESOURCES:
        return deployment("search"), {"type": "resources", "container": "search", "cpu_limit": "2"}
    if kind is ActionKind.MOVE:
        return deployment("search"), {"type": "placement", "avoid_nodes": ["general-001"]}
    if kind in (ActionKind.CORDON, ActionKind.DRAIN):
        desired = (
            {"type": "drain"}
            if kind is ActionKind.DRAIN
            else {"type": "schedulable", "unschedulable": True}
        )
        return node("general-000"), desired
    if kind is ActionKind.REVERT_PORT:
        return service("search"), {"type": "service_port", "port": 8082, "target_port": "http"}
    name, uid = first_pod(backend, "search")
    return pod(name), {"type": "pod_deletion", "pod_uid": uid}


WRITING_KINDS = [
    ActionKind.SCALE,
    ActionKind.RESTART,
    ActionKind.ROLLBACK,
    ActionKind.SET_RESOURCES,
    ActionKind.MOVE,
    ActionKind.CORDON,
    ActionKind.DRAIN,
    ActionKind.REVERT_PORT,
    ActionKind.DELETE_POD,
]


def prepare(backend: KubernetesBackend, cluster: Cluster, kind: ActionKind) -> None:
    if kind is ActionKind.ROLLBACK:  # give search a revision 2 to roll back from
        backend.apis.apps.patch_namespaced_deployment(
            "search", NS, image_patch("search", "hotelreservation/search:v1.9.0")
        )
        settle(cluster)


def touch(backend: KubernetesBackend, target: TargetRef) -> None:
    """Someone else changes the target (a label), which moves its resourceVersion on."""
    core, apps = backend.apis.core, backend.apis.apps
    if target.kind is TargetKind.DEPLOYMENT:
        apps.patch_namespaced_deployment(target.name, NS, LABEL)
    elif target.kind is TargetKind.NODE:
        core.patch_node(target.name, LABEL)
    elif target.kind is TargetKind.SERVICE:
        core.patch_namespaced_service(target.name, NS, LABEL)
    else:
        core.patch_namespaced_pod(target.name, NS, LABEL)


@pytest.mark.parametrize("kind", WRITING_KINDS)
def test_a_stale_precondition_is_refused_before_any_call(
    backend: KubernetesBackend, cluster: Cluster, kind: ActionKind
) -> None:
    prepare(backend, cluster, kind)
    target, desired = case(backend, kind)
    req = request(kind, target, desired, precondition_resource_version="1")
    observed = backend.observe(target)
    version = cluster.rv
    with pytest.raises(PreconditionFailed, match="changed since the action was decided"):
        backend.apply(req, observed)
    assert cluster.rv == version


@pytest.mark.parametrize("kind", WRITING_KINDS)
def test_a_change_after_observing_gets_409_and_changes_nothing(
    backend: KubernetesBackend, cluster: Cluster, kind: ActionKind
) -> None:
    prepare(backend, cluster, kind)
    target, desired = case(backend, kind)
    observed = backend.observe(target)
    req = request(kind, target, desired, observed)
    touch(backend, target)
    version = cluster.rv
    with pytest.raises(PreconditionFailed, match="changed since it was observed"):
        backend.apply(req, observed)
    assert cluster.rv == version, "a refused write changed the cluster"
    fresh = backend.observe(target)
    assert fresh.labels.get("touched") == "yes"
    if kind is not ActionKind.DELETE_POD:
        assert not CATALOGUE[kind].is_satisfied(req, fresh)


@pytest.mark.parametrize(
    ("kind", "target", "desired"),
    [
        (ActionKind.SCALE, deployment("nope"), {"type": "replicas", "replicas": 2}),
        (ActionKind.ROLLBACK, deployment("nope"), {"type": "revision", "revision": 1}),
        (ActionKind.CORDON, node("nope"), {"type": "schedulable", "unschedulable": True}),
        (ActionKind.DRAIN, node("nope"), {"type": "drain"}),
        (
            ActionKind.REVERT_PORT,
            service("nope"),
            {"type": "service_port", "port": 80, "target_port": 8080},
        ),
    ],
)
def test_a_missing_target_is_a_clear_error(
    backend: KubernetesBackend,
    cluster: Cluster,
    kind: ActionKind,
    target: TargetRef,
    desired: dict[str, Any],
) -> None:
    observed = backend.observe(target)
    assert not observed.exists
    version = cluster.rv
    with pytest.raises(PreconditionFailed, match=f"{target} not found"):
        backend.apply(request(kind, target, desired), observed)
    assert cluster.rv == version


def test_a_target_deleted_after_observing_is_a_404_precondition_failure(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    target = service("search")
    observed = backend.observe(target)
    backend.apis.core.delete_namespaced_service("search", NS)
    req = request(
        ActionKind.REVERT_PORT,
        target,
        {"type": "service_port", "port": 8082, "target_port": "http"},
    )
    with pytest.raises(PreconditionFailed, match=r"not found \(404\)"):
        backend.apply(req, observed)


def test_deleting_a_pod_that_is_gone_is_already_satisfied(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    target = pod("search-gone-xxxxx")
    req = request(ActionKind.DELETE_POD, target, {"type": "pod_deletion", "pod_uid": "u-1"})
    version = cluster.rv
    assert backend.apply(req, backend.observe(target)).status is ResultStatus.ALREADY_SATISFIED
    assert cluster.rv == version


def test_a_pod_replaced_under_the_same_name_is_not_deleted(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    name, _ = first_pod(backend, "search")
    req = request(
        ActionKind.DELETE_POD, pod(name), {"type": "pod_deletion", "pod_uid": "another-uid"}
    )
    version = cluster.rv
    result = backend.apply(req, backend.observe(pod(name)))
    assert result.status is ResultStatus.ALREADY_SATISFIED
    assert cluster.rv == version
    assert backend.observe(pod(name)).exists


BASE = {"reason": "r", "decided_by": "tests", "created_at": NOW}
DEPLOYMENT = {"kind": "deployment", "namespace": NS, "name": "search"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "explode", "target": DEPLOYMENT, "desired": {"type": "none"}}, "kind"),
        (
            {
                "kind": "scale",
                "target": DEPLOYMENT,
                "desired": {"type": "replicas", "replicas": -1},
            },
            "replicas",
        ),
        (
            {
                "kind": "revert_port",
                "target": {"kind": "service", "namespace": NS, "name": "search"},
                "desired": {"type": "service_port", "port": 8082, "target_port": 70000},
            },
            "target_port",
        ),
        (
            {"kind": "scale", "target": DEPLOYMENT, "desired": {"type": "revision", "revision": 1}},
            "needs a ReplicasState",
        ),
        (
            {
                "kind": "cordon",
                "target": {"kind": "node", "name": "n"},
                "desired": {"type": "schedulable", "unschedulable": False},
            },
            "unschedulable=True",
        ),
        (
            {
                "kind": "scale",
                "target": {"kind": "node", "name": "n"},
                "desired": {"type": "replicas", "replicas": 1},
            },
            "cannot act on a node",
        ),
        (
            {
                "kind": "set_resources",
                "target": DEPLOYMENT,
                "desired": {"type": "resources", "container": "c", "cpu_limit": "lots"},
            },
            "cpu_limit",
        ),
        (
            {
                "kind": "scale",
                "target": {"kind": "deployment", "namespace": NS, "name": ""},
                "desired": {"type": "replicas", "replicas": 1},
            },
            "name",
        ),
    ],
)
def test_bad_input_is_rejected_with_the_field_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ActionRejected) as info:
        parse_request(BASE | data)
    assert info.value.rule == VALIDATION_RULE
    assert field in str(info.value)


def test_a_target_without_its_namespace_is_rejected_before_any_call(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    target = TargetRef(kind=TargetKind.DEPLOYMENT, name="search")
    req = request(ActionKind.SCALE, target, {"type": "replicas", "replicas": 3})
    version = cluster.rv
    with pytest.raises(ActionRejected, match="needs a namespace"):
        backend.apply(
            req, backend.observe(deployment("search")).model_copy(update={"target": target})
        )
    assert cluster.rv == version


def test_a_snapshot_of_another_target_is_rejected(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    # rate runs the 2 replicas asked of search: its snapshot must not pass for "satisfied"
    req = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 3})
    same = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 2})
    version = cluster.rv
    for r in (req, same):
        with pytest.raises(ActionRejected, match="but the request is for"):
            backend.apply(r, backend.observe(deployment("rate")))
    assert cluster.rv == version


def test_a_backend_from_settings_reaches_the_cluster(server: TestbedServer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: testbed, cluster: {{server: "{server.url}"}}}}]
users: [{{name: tests, user: {{}}}}]
contexts: [{{name: testbed, context: {{cluster: testbed, user: tests}}}}]
current-context: testbed
"""
    )
    for settings in (
        load_settings(kube_host=server.url),
        load_settings(kube_host=None, kubeconfig=str(kubeconfig)),
        load_settings(testbed_url=server.url, kube_host=None, kubeconfig=None),
    ):
        backend = KubernetesBackend.from_settings(settings)
        try:
            assert backend.apis.timeout_s == settings.http_timeout_seconds
            assert backend.observe(deployment("search")).exists
        finally:
            backend.close()


def test_an_unreachable_api_server_is_an_action_failure() -> None:
    backend = KubernetesBackend(api_client(host=f"http://127.0.0.1:{free_port()}"), timeout_s=2)
    with pytest.raises(ActionFailed, match="cannot observe"):
        backend.observe(deployment("search"))
    target = node("general-000")
    observed = Observed(target=target, exists=True, resource_version="5", node=NodeState())
    req = request(ActionKind.CORDON, target, {"type": "schedulable", "unschedulable": True})
    with pytest.raises(ActionFailed, match="cordon on node/general-000 failed") as info:
        backend.apply(req, observed)
    assert info.value.__cause__ is not None


def test_an_unreadable_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AIOPS_KUBECONFIG"):
        KubernetesBackend.from_settings(
            load_settings(kube_host=None, kubeconfig=str(tmp_path / "absent"))
        )
