"""The catalogue on its own: every kind has a spec, preconditions refuse what they should, and
inverses are computed from the state before. Snapshots are built by hand here; the backend
tests build them from a running testbed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from actions import CATALOGUE, VALIDATION_RULE, Observed, Risk, get_spec
from actions.docs import catalogue_markdown
from actions.k8s_client import Apis
from actions.k8s_observe import _autoscalers
from actions.observed import (
    Autoscaler,
    ContainerResources,
    NodeInfo,
    NodeState,
    Owner,
    PodOnNode,
    Revision,
    WorkloadState,
)
from controlplane import (
    ACTION_DESIRED_STATES,
    ActionKind,
    ActionRejected,
    PreconditionFailed,
)

from .helpers import deployment, node, request

ROOT = Path(__file__).resolve().parents[2]


def workload(**fields: Any) -> Observed:
    state = {
        "replicas": 2,
        "template_hash": "h2",
        "revision": 2,
        "revisions": [
            Revision(number=1, replicaset="web-1", template_hash="h1"),
            Revision(number=2, replicaset="web-2", template_hash="h2"),
        ],
        "containers": [
            ContainerResources(
                name="web", cpu_request="250m", cpu_limit="500m", memory_limit="256Mi"
            )
        ],
        "nodes": [
            NodeInfo(name="a", labels={"zone": "z1"}),
            NodeInfo(name="b", labels={"zone": "z2"}),
        ],
    }
    extra = {k: fields.pop(k) for k in list(fields) if k in {"controller"}}
    return Observed(
        target=deployment("web"),
        exists=True,
        resource_version="10",
        workload=WorkloadState(**(state | fields)),
        **extra,
    )


def test_every_kind_has_a_spec_of_its_kind() -> None:
    assert set(CATALOGUE) == set(ActionKind)
    for kind, spec in CATALOGUE.items():
        assert spec.kind is kind
        assert spec.desired_type is ACTION_DESIRED_STATES[kind]
        assert spec.description and spec.inverse_doc
        assert (spec.risk is Risk.NONE) is (not spec.changes_cluster)
        assert get_spec(kind.value) is spec


def test_an_unknown_kind_is_rejected() -> None:
    with pytest.raises(ActionRejected, match="unknown action kind 'explode'") as info:
        get_spec("explode")
    assert info.value.rule == VALIDATION_RULE


def test_scale_refuses_a_deployment_an_autoscaler_manages() -> None:
    observed = workload(autoscalers=[Autoscaler(name="web", min_replicas=2, max_replicas=8)])
    req = request(ActionKind.SCALE, deployment("web"), {"type": "replicas", "replicas": 5})
    with pytest.raises(
        PreconditionFailed, match="HorizontalPodAutoscaler web manages the replicas"
    ):
        CATALOGUE[req.kind].validate(req, observed)
    CATALOGUE[req.kind].validate(req, workload())  # without the autoscaler: fine


def test_workload_actions_refuse_a_deployment_another_controller_owns() -> None:
    observed = workload(controller=Owner(kind="Rollout", name="web"))
    req = request(ActionKind.RESTART, deployment("web"), {"type": "restart", "restarted_at": "t"})
    with pytest.raises(PreconditionFailed, match="controlled by Rollout web"):
        CATALOGUE[req.kind].validate(req, observed)


def test_rollback_needs_a_revision_in_the_history() -> None:
    spec = CATALOGUE[ActionKind.ROLLBACK]
    missing = request(ActionKind.ROLLBACK, deployment("web"), {"type": "revision", "revision": 7})
    with pytest.raises(PreconditionFailed, match=r"revision 7 is not in .*revisions: 1, 2"):
        spec.validate(missing, workload())
    current = request(ActionKind.ROLLBACK, deployment("web"), {"type": "revision", "revision": 2})
    assert spec.is_satisfied(current, workload())
    assert spec.inverse(current, workload()) is None
    back = request(ActionKind.ROLLBACK, deployment("web"), {"type": "revision", "revision": 1})
    spec.validate(back, workload())
    inverse = spec.inverse(back, workload())
    assert inverse is not None and inverse.desired.model_dump() == {
        "type": "revision",
        "revision": 2,
    }
    assert inverse.idempotency_key != back.idempotency_key


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (
            {"container": "sidecar", "cpu_limit": "1"},
            "container 'sidecar' is not in the pod template",
        ),
        (
            {"container": "web", "cpu_request": "750m"},
            "cpu request 750m would exceed its limit 500m",
        ),
        (
            {"container": "web", "memory_request": "1Gi"},
            "memory request 1Gi would exceed its limit 256Mi",
        ),
    ],
)
def test_set_resources_preconditions(desired: dict[str, str], message: str) -> None:
    req = request(ActionKind.SET_RESOURCES, deployment("web"), {"type": "resources", **desired})
    with pytest.raises(PreconditionFailed, match=message):
        CATALOGUE[req.kind].validate(req, workload())


def test_set_resources_compares_quantities_by_value() -> None:
    spec = CATALOGUE[ActionKind.SET_RESOURCES]
    req = request(
        ActionKind.SET_RESOURCES,
        deployment("web"),
        {"type": "resources", "container": "web", "cpu_limit": "0.5"},
    )
    assert spec.is_satisfied(req, workload())  # 0.5 == 500m


def test_set_resources_has_no_inverse_when_a_value_was_unset() -> None:
    spec = CATALOGUE[ActionKind.SET_RESOURCES]
    unset = request(
        ActionKind.SET_RESOURCES,
        deployment("web"),
        {"type": "resources", "container": "web", "memory_request": "64Mi"},
    )
    assert spec.inverse(unset, workload()) is None
    known = request(
        ActionKind.SET_RESOURCES,
        deployment("web"),
        {"type": "resources", "container": "web", "cpu_limit": "1"},
    )
    inverse = spec.inverse(known, workload())
    assert inverse is not None and inverse.desired.model_dump(exclude_none=True) == {
        "type": "resources",
        "container": "web",
        "cpu_limit": "500m",
    }


def test_move_needs_a_node_left_to_run_on() -> None:
    spec = CATALOGUE[ActionKind.MOVE]
    nowhere = request(
        ActionKind.MOVE,
        deployment("web"),
        {"type": "placement", "node_selector": {"zone": "z1"}, "avoid_nodes": ["a"]},
    )
    with pytest.raises(PreconditionFailed, match="no schedulable node matches"):
        spec.validate(nowhere, workload())
    fine = request(
        ActionKind.MOVE,
        deployment("web"),
        {"type": "placement", "node_selector": {"zone": "z2"}, "avoid_nodes": ["a"]},
    )
    spec.validate(fine, workload())


def test_a_request_of_another_kind_is_rejected_by_a_spec() -> None:
    req = request(ActionKind.SCALE, deployment("web"), {"type": "replicas", "replicas": 1})
    with pytest.raises(ActionRejected, match="the restart spec cannot handle a scale request"):
        CATALOGUE[ActionKind.RESTART].validate(req, workload())


class FakeAutoscaling:
    """An autoscaling/v2 API that serves two HPAs, or none (404) when ``served`` is false."""

    def __init__(self, served: bool) -> None:
        self.served = served

    def list_namespaced_horizontal_pod_autoscaler(self, namespace: str, **_: Any) -> Any:
        if not self.served:
            raise client.ApiException(status=404, reason="Not Found")

        def hpa(name: str, target: str) -> client.V2HorizontalPodAutoscaler:
            return client.V2HorizontalPodAutoscaler(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V2HorizontalPodAutoscalerSpec(
                    min_replicas=2,
                    max_replicas=6,
                    scale_target_ref=client.V2CrossVersionObjectReference(
                        api_version="apps/v1", kind="Deployment", name=target
                    ),
                ),
            )

        return client.V2HorizontalPodAutoscalerList(
            items=[hpa("web-hpa", "web"), hpa("api-hpa", "api")]
        )


@pytest.mark.parametrize("served", [True, False])
def test_autoscalers_targeting_the_deployment_are_found(served: bool) -> None:
    api = client.ApiClient()
    autoscaling: Any = FakeAutoscaling(served)
    apis = Apis(api, client.CoreV1Api(api), client.AppsV1Api(api), autoscaling, 1.0)
    found = _autoscalers(apis, "ns", "web")
    assert found == ([Autoscaler(name="web-hpa", min_replicas=2, max_replicas=6)] if served else [])


def test_the_docs_catalogue_matches_the_specs() -> None:
    text = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- action-catalogue[^\n]*-->\n(.*?)\n<!-- /action-catalogue -->", text, re.S
    )
    assert match, "docs/actions.md lost its catalogue markers"
    assert match.group(1).strip() == catalogue_markdown().strip()


def test_drain_leaves_daemon_and_mirror_pods_and_refuses_bare_ones() -> None:
    def on_node(name: str, **fields: Any) -> PodOnNode:
        return PodOnNode(namespace="ns", name=name, uid=name, **fields)

    replicated = on_node("web", owner=Owner(kind="ReplicaSet", name="web-1"))
    daemon = on_node("agent", owner=Owner(kind="DaemonSet", name="agent"))
    mirror = on_node("static", mirror=True)
    state = NodeState(unschedulable=True, pods=[daemon, mirror])
    observed = Observed(target=node("n1"), exists=True, resource_version="3", node=state)
    spec = CATALOGUE[ActionKind.DRAIN]
    req = request(ActionKind.DRAIN, node("n1"), {"type": "drain"})
    assert spec.is_satisfied(req, observed)  # only pods a drain leaves
    busy = observed.model_copy(update={"node": NodeState(pods=[daemon, replicated])})
    assert not spec.is_satisfied(req, busy)
    spec.validate(req, busy)
    bare = observed.model_copy(update={"node": NodeState(pods=[replicated, on_node("bare")])})
    with pytest.raises(PreconditionFailed, match=r"without a controller .* ns/bare"):
        spec.validate(req, bare)
