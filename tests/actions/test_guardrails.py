"""Every guardrail refuses (naming its rule, with the cluster unchanged) and allows, on snapshots
observed from a running testbed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from actions import (
    GuardrailConfig,
    Guardrails,
    InMemoryActionHistory,
    KubernetesBackend,
    Observed,
    ResultStatus,
    Rule,
    Verdict,
    VerdictKind,
    load_guardrail_config,
)
from actions.observed import NodeState, Owner, PodOnNode, PodState, WorkloadSummary
from controlplane import ActionKind, ActionRequest, ConfigError
from testbed.cluster import Cluster
from tests.testbed.api_helpers import NS

from .helpers import NOW, deployment, guarded, node, pod, request, service, workload_of

ROOT = Path(__file__).resolve().parents[2]

SCALE_UP = {"type": "replicas", "replicas": 3}


def config(**fields: Any) -> GuardrailConfig:
    return GuardrailConfig.model_validate(fields)


def refused(
    backend: KubernetesBackend,
    cluster: Cluster,
    settings: GuardrailConfig,
    req: ActionRequest,
    rule: Rule,
    history: InMemoryActionHistory | None = None,
) -> Verdict:
    """Run ``req`` through the guardrails as the executor would; it must be refused by ``rule``
    and leave the cluster as it was."""
    version = cluster.rv
    verdict, result = guarded(backend, Guardrails(settings), req, history)
    assert verdict.rule is rule, verdict
    assert verdict.outcome is VerdictKind.REFUSED
    assert result is None
    assert cluster.rv == version, "a refused action changed the cluster"
    return verdict


def verdict(
    backend: KubernetesBackend,
    settings: GuardrailConfig,
    req: ActionRequest,
    history: InMemoryActionHistory | None = None,
    now: float = NOW,
) -> Verdict:
    observed = backend.observe(req.target)
    return Guardrails(settings).evaluate(req, observed, history or InMemoryActionHistory(), now)


def allowed(verdict: Verdict) -> bool:
    return verdict.outcome is VerdictKind.ALLOWED and verdict.rule is Rule.APPROVAL


def search_pod(backend: KubernetesBackend, app: str = "search") -> ActionRequest:
    item = backend.apis.core.list_namespaced_pod(NS, label_selector=f"app={app}").items[0]
    desired = {"type": "pod_deletion", "pod_uid": item.metadata.uid}
    return request(ActionKind.DELETE_POD, pod(item.metadata.name), desired)


# -- configuration -------------------------------------------------------------------------------


def test_the_example_file_holds_the_documented_defaults() -> None:
    example = load_guardrail_config(ROOT / "actions" / "guardrails.example.yaml")
    assert example == load_guardrail_config(None) == GuardrailConfig()
    assert example.protected_namespaces == ["kube-system", "kube-public", "kube-node-lease"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("paused: [", "not valid YAML"),
        ("pasued: true", "pasued: Extra inputs are not permitted"),
        ("replicas: {default: {min: 5, max: 2}}", "min 5 exceeds max 2"),
        ("approval: {unattended: [drain], needs_approval: [drain]}", "both unattended and needing"),
        ("approval: {unattended: [explode]}", "approval.unattended.0"),
        ("max_disruption: 0", "max_disruption"),
    ],
)
def test_an_invalid_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GuardrailConfig.from_yaml(text)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read guardrail config"):
        load_guardrail_config(tmp_path / "absent.yaml")


# -- the rules -----------------------------------------------------------------------------------


def test_no_cluster_change_passes_even_when_paused(shared_backend: KubernetesBackend) -> None:
    req = request(ActionKind.ESCALATE, deployment("search"), {"type": "escalation", "reason": "?"})
    result = verdict(shared_backend, config(paused=True), req)
    assert result.outcome is VerdictKind.ALLOWED and result.rule is Rule.NO_CLUSTER_CHANGE


def test_an_already_satisfied_request_passes(shared_backend: KubernetesBackend) -> None:
    req = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 2})
    result = verdict(shared_backend, config(paused=True), req)
    assert result.outcome is VerdictKind.ALLOWED and result.rule is Rule.ALREADY_SATISFIED


def test_pause(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    refused(shared_backend, shared_cluster, config(paused=True), req, Rule.PAUSE)
    assert allowed(verdict(shared_backend, config(paused=False), req))


def test_namespace_pause(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    paused = config(paused_namespaces=[NS])
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    refused(shared_backend, shared_cluster, paused, req, Rule.NAMESPACE_PAUSE)
    drain = request(ActionKind.DRAIN, node("general-000"), {"type": "drain"})
    refused(shared_backend, shared_cluster, paused, drain, Rule.NAMESPACE_PAUSE)
    cordon = request(
        ActionKind.CORDON, node("general-000"), {"type": "schedulable", "unschedulable": True}
    )
    assert allowed(verdict(shared_backend, paused, cordon))  # evicts nothing in the namespace
    assert allowed(verdict(shared_backend, config(paused_namespaces=["other"]), req))


def test_protected_namespace(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    protected = config(protected_namespaces=[NS])
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    reason = refused(shared_backend, shared_cluster, protected, req, Rule.PROTECTED_NAMESPACE)
    assert "hotel" in reason.reason
    drain = request(ActionKind.DRAIN, node("general-000"), {"type": "drain"})
    refused(shared_backend, shared_cluster, protected, drain, Rule.PROTECTED_NAMESPACE)
    assert allowed(verdict(shared_backend, GuardrailConfig(), req))


def test_opt_out_by_list(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    settings = config(opt_out={"targets": ["deployment/hotel/search"]})
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    refused(shared_backend, shared_cluster, settings, req, Rule.OPT_OUT)
    # the Deployment a pod belongs to opted out: the pod is not deleted either
    refused(shared_backend, shared_cluster, settings, search_pod(shared_backend), Rule.OPT_OUT)
    other = request(ActionKind.SCALE, deployment("rate"), SCALE_UP)
    assert allowed(verdict(shared_backend, settings, other))


def test_opt_out_by_annotation(backend: KubernetesBackend, cluster: Cluster) -> None:
    annotation = {"metadata": {"annotations": {"aiops.io/opt-out": "true"}}}
    backend.apis.apps.patch_namespaced_deployment("frontend", NS, annotation)
    req = request(
        ActionKind.RESTART, deployment("frontend"), {"type": "restart", "restarted_at": "t1"}
    )
    reason = refused(backend, cluster, GuardrailConfig(), req, Rule.OPT_OUT)
    assert "deployment/hotel/frontend opted out" in reason.reason
    # a drain that would evict one of its pods is refused too
    frontend_node = (
        backend.apis.core.list_namespaced_pod(NS, label_selector="app=frontend")
        .items[0]
        .spec.node_name
    )
    drain = request(ActionKind.DRAIN, node(frontend_node), {"type": "drain"})
    reason = refused(backend, cluster, GuardrailConfig(), drain, Rule.OPT_OUT)
    assert "would disrupt deployment/hotel/frontend" in reason.reason
    other = request(
        ActionKind.RESTART, deployment("search"), {"type": "restart", "restarted_at": "t1"}
    )
    assert allowed(verdict(backend, GuardrailConfig(), other))


def test_replica_bounds(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    too_many = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 25})
    reason = refused(
        shared_backend, shared_cluster, GuardrailConfig(), too_many, Rule.REPLICA_BOUNDS
    )
    assert "outside the bounds 0..20" in reason.reason
    bounded = config(replicas={"services": {"hotel/search": {"min": 2, "max": 4}}})
    for replicas in (1, 5):
        req = request(
            ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": replicas}
        )
        refused(shared_backend, shared_cluster, bounded, req, Rule.REPLICA_BOUNDS)
    req = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 4})
    assert allowed(verdict(shared_backend, bounded, req))


def test_serving_to_zero(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    req = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 0})
    reason = refused(shared_backend, shared_cluster, GuardrailConfig(), req, Rule.SERVING_TO_ZERO)
    assert "serves Service(s) search" in reason.reason
    assert allowed(verdict(shared_backend, config(never_scale_serving_to_zero=False), req))


def test_a_deployment_no_service_selects_may_go_to_zero(backend: KubernetesBackend) -> None:
    backend.apis.core.delete_namespaced_service("search", NS)
    req = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 0})
    assert allowed(verdict(backend, GuardrailConfig(), req))


def test_max_disruption(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    only_pod = search_pod(shared_backend, "geo")  # geo runs one replica
    reason = refused(
        shared_backend, shared_cluster, GuardrailConfig(), only_pod, Rule.MAX_DISRUPTION
    )
    assert "0 of 1 pods available" in reason.reason
    # general-002 holds the only pods of geo, recommendation and mongodb-users: the careful drain
    # rolls them (new pods elsewhere first) instead of evicting, so only approval stands
    drain = request(ActionKind.DRAIN, node("general-002"), {"type": "drain"})
    assert verdict(shared_backend, GuardrailConfig(), drain).rule is Rule.APPROVAL
    one_of_two = search_pod(shared_backend)
    assert allowed(verdict(shared_backend, GuardrailConfig(), one_of_two))  # 50% <= 50%
    refused(
        shared_backend, shared_cluster, config(max_disruption=0.4), one_of_two, Rule.MAX_DISRUPTION
    )
    # a rolling restart of two replicas takes none down at once (maxUnavailable rounds to 0)
    restart = request(
        ActionKind.RESTART, deployment("geo"), {"type": "restart", "restarted_at": "t"}
    )
    assert allowed(verdict(shared_backend, GuardrailConfig(), restart))


def test_a_drain_evicting_most_of_a_deployment_is_refused() -> None:
    """Three of four available pods on the node: not rolled (one is elsewhere), so evicted, and
    75% down at once is more than the 50% allowed."""
    summary = WorkloadSummary(namespace=NS, name="cart", replicas=4, available=4)
    owner = Owner(kind="ReplicaSet", name="cart-1")
    pods = [
        PodOnNode(
            namespace=NS,
            name=f"cart-{i}",
            uid=f"u{i}",
            ready=True,
            owner=owner,
            workload="hotel/cart",
        )
        for i in range(3)
    ]
    observed = Observed(
        target=node("n1"), exists=True, node=NodeState(pods=pods), workloads=[summary]
    )
    req = request(ActionKind.DRAIN, node("n1"), {"type": "drain"})
    result = Guardrails().evaluate(req, observed, InMemoryActionHistory(), NOW)
    assert result.rule is Rule.MAX_DISRUPTION and "1 of 4 pods available" in result.reason


def test_deleting_an_unready_pod_disrupts_nothing() -> None:
    summary = WorkloadSummary(namespace=NS, name="geo", replicas=1, available=0)
    req = request(ActionKind.DELETE_POD, pod("geo-1"), {"type": "pod_deletion", "pod_uid": "u"})
    observed = Observed(
        target=pod("geo-1"),
        exists=True,
        pod=PodState(uid="u", ready=False, workload="hotel/geo"),
        workloads=[summary],
    )
    result = Guardrails().evaluate(req, observed, InMemoryActionHistory(), NOW)
    assert result.outcome is VerdictKind.ALLOWED
    ready = observed.model_copy(update={"pod": PodState(uid="u", ready=True, workload="hotel/geo")})
    summary_up = summary.model_copy(update={"available": 1})
    ready = ready.model_copy(update={"workloads": [summary_up]})
    assert (
        Guardrails().evaluate(req, ready, InMemoryActionHistory(), NOW).rule is Rule.MAX_DISRUPTION
    )


def test_cooldown(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    history = InMemoryActionHistory()
    history.record(deployment("search"), NOW - 100)
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    reason = refused(shared_backend, shared_cluster, GuardrailConfig(), req, Rule.COOLDOWN, history)
    assert "100 s ago; cooldown is 300 s" in reason.reason
    # a pod's Deployment was just acted on: its pods wait too
    refused(
        shared_backend,
        shared_cluster,
        GuardrailConfig(),
        search_pod(shared_backend),
        Rule.COOLDOWN,
        history,
    )
    assert allowed(verdict(shared_backend, GuardrailConfig(), req, history, now=NOW + 250))
    assert allowed(verdict(shared_backend, config(cooldown_seconds=60), req, history))


def test_rate_limit(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    limited = config(rate_limit={"max_actions": 2, "window_seconds": 600})
    history = InMemoryActionHistory()
    history.record(deployment("rate"), NOW - 700)
    history.record(deployment("geo"), NOW - 500)
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    assert allowed(verdict(shared_backend, limited, req, history))  # one in the window
    history.record(node("general-001"), NOW - 10)
    reason = refused(shared_backend, shared_cluster, limited, req, Rule.RATE_LIMIT, history)
    assert "2 actions in the last 600 s (limit 2)" in reason.reason


def test_dry_run(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    dry = config(dry_run=True)
    version = shared_cluster.rv
    scale = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    result, applied = guarded(shared_backend, Guardrails(dry), scale)
    assert result.outcome is VerdictKind.DRY_RUN and result.rule is Rule.DRY_RUN
    assert "would be allowed" in result.reason
    assert applied is None and shared_cluster.rv == version
    resources = request(
        ActionKind.SET_RESOURCES,
        deployment("search"),
        {"type": "resources", "container": "search", "cpu_limit": "2"},
    )
    assert "would need a person's approval" in verdict(shared_backend, dry, resources).reason
    # refusals still win over a dry run
    too_many = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 50})
    assert verdict(shared_backend, dry, too_many).rule is Rule.REPLICA_BOUNDS
    assert allowed(verdict(shared_backend, GuardrailConfig(), scale))


def test_approval(shared_backend: KubernetesBackend, shared_cluster: Cluster) -> None:
    resources = request(
        ActionKind.SET_RESOURCES,
        deployment("search"),
        {"type": "resources", "container": "search", "cpu_limit": "2"},
    )
    version = shared_cluster.rv
    result, applied = guarded(shared_backend, Guardrails(), resources)
    assert result.outcome is VerdictKind.NEEDS_APPROVAL and result.rule is Rule.APPROVAL
    assert applied is None and shared_cluster.rv == version
    drain = request(ActionKind.DRAIN, node("general-003"), {"type": "drain"})
    tolerant = config(max_disruption=1.0)  # every node holds single-replica pods here
    assert verdict(shared_backend, tolerant, drain).outcome is VerdictKind.NEEDS_APPROVAL
    trusting = config(
        max_disruption=1.0,
        approval={"unattended": ["scale", "set_resources"], "needs_approval": []},
    )
    assert allowed(verdict(shared_backend, trusting, resources))
    assert (
        verdict(shared_backend, trusting, drain).outcome is VerdictKind.NEEDS_APPROVAL
    )  # unlisted
    port = request(
        ActionKind.REVERT_PORT,
        service("search"),
        {"type": "service_port", "port": 8082, "target_port": "http"},
    )
    assert verdict(shared_backend, GuardrailConfig(), port).outcome is VerdictKind.NEEDS_APPROVAL


def test_an_allowed_action_runs_and_starts_its_cooldown(
    backend: KubernetesBackend, cluster: Cluster
) -> None:
    history = InMemoryActionHistory()
    req = request(ActionKind.SCALE, deployment("search"), SCALE_UP)
    result, applied = guarded(backend, Guardrails(), req, history)
    assert allowed(result) and applied is not None and applied.status is ResultStatus.APPLIED
    assert workload_of(backend, req.target).replicas == 3
    history.record(req.target, NOW)
    again = request(ActionKind.SCALE, deployment("search"), {"type": "replicas", "replicas": 4})
    refused(backend, cluster, GuardrailConfig(), again, Rule.COOLDOWN, history)
    assert workload_of(backend, req.target).replicas == 3


def test_the_docs_name_every_config_key() -> None:
    text = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    keys = []
    for name, field in GuardrailConfig.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            keys += [f"{name}.{sub}" for sub in nested.model_fields]
        else:
            keys.append(name)
    missing = [k for k in keys if f"| `{k}` |" not in text]
    assert not missing, f"docs/actions.md does not document {missing}"
    assert len(keys) >= 15
