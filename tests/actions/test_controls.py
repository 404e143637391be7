"""Operator controls set in the store stop the executor at its next guard: a pause (everywhere or
of a namespace), a silence or a maintenance window in force, an opt-out, a run-time dry run; each
refusal names its rule and control, and nothing reaches the cluster. Controls on other targets, a
maintenance window still ahead and lifted or expired controls stop nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actions import (
    Executor,
    GuardrailConfig,
    Guardrails,
    InMemoryActionHistory,
    KubernetesBackend,
    Observed,
    Rule,
    VerdictKind,
    parse_request,
)
from actions.observed import NodeState, Owner, PodOnNode, WorkloadSummary
from controlplane import ActionKind, ActionRequest, ManualClock
from controlplane.store import (
    ActionRecord,
    ActionStatus,
    Control,
    ControlKind,
    ControlState,
    Store,
    Transaction,
)
from testbed.cluster import Cluster
from tests.testbed.api_helpers import NS

from .helpers import NOW, deployment, node, pod, request, workload_of

SET = Callable[[Transaction, float], Control | list[Control]]


def scale(name: str, replicas: int, incident: str = "inc-1") -> ActionRequest:
    return request(
        ActionKind.SCALE,
        deployment(name),
        {"type": "replicas", "replicas": replicas},
        incident_id=incident,
    )


def submit(store: Store, backend: KubernetesBackend, req: ActionRequest) -> ActionRecord:
    return Executor(store, backend, Guardrails(), clock=store.clock).submit(req)


def refusal_event(store: Store, record: ActionRecord) -> dict[str, Any]:
    with store.read() as tx:
        events = tx.audit.events(subject_id=record.id)
    return events[-1].details


# --- each control stops the action ----------------------------------------------------------

STOPS: dict[str, tuple[SET, str]] = {
    "pause": (lambda tx, now: tx.controls.pause(None, by="alice", comment="freeze"), "pause"),
    "namespace-pause": (
        lambda tx, now: tx.controls.pause(NS, by="alice", comment="db migration"),
        "namespace_pause",
    ),
    "silence": (
        lambda tx, now: tx.controls.silence(
            "deployment/hotel/search", by="alice", comment="load test", ends_at=now + 600
        ),
        "silence",
    ),
    "silence-glob": (
        lambda tx, now: tx.controls.silence("*/hotel/*", by="alice", comment="hotel release"),
        "silence",
    ),
    "maintenance-now": (
        lambda tx, now: tx.controls.silence(
            "deployment/hotel/*",
            by="alice",
            comment="node upgrades",
            starts_at=now - 60,
            ends_at=now + 3600,
            maintenance=True,
        ),
        "silence",
    ),
    "opt-out": (
        lambda tx, now: tx.controls.opt_out(
            "deployment/hotel/search", by="alice", comment="hand-tuned"
        ),
        "opt_out",
    ),
}


@pytest.mark.parametrize(("kind", "rule"), [(k, v[1]) for k, v in STOPS.items()], ids=list(STOPS))
def test_a_control_in_force_refuses_the_action_by_its_rule(
    store: Store,
    shared_backend: KubernetesBackend,
    shared_cluster: Cluster,
    kind: str,
    rule: str,
) -> None:
    with store.write() as tx:
        control = STOPS[kind][0](tx, store.clock.now())
    assert isinstance(control, Control)
    version = shared_cluster.rv
    record = submit(store, shared_backend, scale("search", 3))
    assert record.status is ActionStatus.REFUSED, record
    assert record.refused_by == rule
    reason = record.verdict_reason or ""
    assert control.id in reason and control.comment in reason and "alice" in reason
    assert shared_cluster.rv == version, "a refused action reached the cluster"
    assert refusal_event(store, record)["rule"] == rule


def test_a_run_time_dry_run_records_a_dry_run(
    store: Store, shared_backend: KubernetesBackend, shared_cluster: Cluster
) -> None:
    with store.write() as tx:
        (control,) = tx.controls.set_dry_run(True, by="alice", comment="trying the new policy")
    version = shared_cluster.rv
    record = submit(store, shared_backend, scale("search", 3))
    assert record.status is ActionStatus.DRY_RUN and record.verdict == "dry_run"
    assert control.id in (record.verdict_reason or "")
    assert "would be allowed" in (record.verdict_reason or "")
    assert refusal_event(store, record)["rule"] == "dry_run"
    assert shared_cluster.rv == version


def test_a_maintenance_window_stops_actions_once_it_starts(
    store: Store, shared_backend: KubernetesBackend, shared_cluster: Cluster, clock: ManualClock
) -> None:
    with store.write() as tx:
        window = tx.controls.silence(
            "deployment/hotel/search",
            by="alice",
            comment="planned",
            starts_at=clock.now() + 600,
            ends_at=clock.now() + 4200,
            maintenance=True,
        )
    clock.advance(900)
    version = shared_cluster.rv
    record = submit(store, shared_backend, scale("search", 3))
    assert record.refused_by == "silence" and "maintenance window" in (record.verdict_reason or "")
    assert window.id in (record.verdict_reason or "")
    assert shared_cluster.rv == version


# --- and what does not stop it --------------------------------------------------------------

PASSES: dict[str, SET] = {
    "silence-elsewhere": lambda tx, now: tx.controls.silence(
        "deployment/hotel/geo", by="alice", comment="not this one"
    ),
    "maintenance-ahead": lambda tx, now: tx.controls.silence(
        "deployment/hotel/*",
        by="alice",
        comment="tonight",
        starts_at=now + 3600,
        ends_at=now + 7200,
        maintenance=True,
    ),
    "pause-elsewhere": lambda tx, now: tx.controls.pause(
        "payments", by="alice", comment="other team"
    ),
    "opt-out-elsewhere": lambda tx, now: tx.controls.opt_out(
        "deployment/hotel/geo", by="alice", comment="not this one"
    ),
    "pause-lifted": lambda tx, now: tx.controls.lift(
        tx.controls.pause(None, by="alice", comment="").id, by="bob"
    ),
    "silence-over": lambda tx, now: tx.controls.silence(
        "deployment/hotel/search", by="alice", comment="", starts_at=now - 600, ends_at=now + 1
    ),
    "dry-run-off": lambda tx, now: [
        *tx.controls.set_dry_run(True, by="alice", comment="trial"),
        *tx.controls.set_dry_run(False, by="bob"),
    ],
}


@pytest.mark.parametrize("kind", list(PASSES))
def test_controls_that_do_not_cover_the_action_let_it_run(
    store: Store, backend: KubernetesBackend, cluster: Cluster, clock: ManualClock, kind: str
) -> None:
    with store.write() as tx:
        PASSES[kind](tx, clock.now())
    clock.advance(2)
    record = submit(store, backend, scale("search", 3))
    assert record.status is ActionStatus.SUCCEEDED, (record.refused_by, record.verdict_reason)
    assert workload_of(backend, deployment("search")).replicas == 3


def test_lifting_a_pause_lets_the_next_decision_run(
    store: Store, backend: KubernetesBackend, cluster: Cluster
) -> None:
    with store.write() as tx:
        tx.controls.pause(NS, by="alice", comment="review")
    assert submit(store, backend, scale("search", 3)).refused_by == "namespace_pause"
    with store.write() as tx:
        assert len(tx.controls.resume(NS, by="alice")) == 1
    record = submit(store, backend, scale("search", 3, incident="inc-2"))
    assert record.status is ActionStatus.SUCCEEDED
    assert workload_of(backend, deployment("search")).replicas == 3


def test_a_pause_set_while_an_action_awaits_approval_holds_after_approval(
    store: Store, backend: KubernetesBackend, cluster: Cluster
) -> None:
    config = GuardrailConfig.model_validate(
        {"approval": {"unattended": [], "needs_approval": ["scale"]}}
    )
    executor = Executor(store, backend, Guardrails(config), clock=store.clock)
    waiting = executor.submit(scale("search", 3))
    assert waiting.status is ActionStatus.AWAITING_APPROVAL
    version = cluster.rv
    with store.write() as tx:
        tx.controls.pause(NS, by="alice", comment="incident review")
        (approval,) = tx.approvals.for_action(waiting.id)
        tx.approvals.decide(approval.id, "bob", approve=True)
    (settled,) = [r for r in executor.reconcile() if r.id == waiting.id]
    assert settled.status is ActionStatus.REFUSED and settled.refused_by == "namespace_pause"
    assert cluster.rv == version


# --- the silence rule on what an action disrupts ----------------------------------------------


def silenced(*patterns: str) -> ControlState:
    controls = [
        Control(
            id=f"s{i}",
            kind=ControlKind.SILENCE,
            target=pattern,
            comment="quiet please",
            starts_at=0,
            created_by="alice",
            created_at=0,
        )
        for i, pattern in enumerate(patterns)
    ]
    return ControlState.of(controls, NOW)


def evaluate(req: ActionRequest, observed: Observed, controls: ControlState) -> Any:
    return Guardrails().evaluate(req, observed, InMemoryActionHistory(), NOW, controls=controls)


def test_a_drain_is_silenced_by_what_it_would_evict() -> None:
    summary = WorkloadSummary(namespace="payments", name="api", replicas=4, available=4)
    owner = Owner(kind="ReplicaSet", name="api-1")
    pods = [
        PodOnNode(
            namespace="payments",
            name="api-1-x",
            uid="u1",
            ready=True,
            owner=owner,
            workload="payments/api",
        )
    ]
    observed = Observed(
        target=node("n1"), exists=True, node=NodeState(pods=pods), workloads=[summary]
    )
    drain = request(ActionKind.DRAIN, node("n1"), {"type": "drain"})
    for pattern in ("deployment/payments/api", "pod/payments/*", "*/pay*/*"):
        verdict = evaluate(drain, observed, silenced(pattern))
        assert verdict.rule is Rule.SILENCE and "payments" in verdict.reason, (pattern, verdict)
        assert "s0" in verdict.reason and "quiet please" in verdict.reason
    assert evaluate(drain, observed, silenced("deployment/hotel/*")).rule is Rule.APPROVAL
    assert evaluate(drain, observed, silenced("node/n*")).rule is Rule.SILENCE


def test_deleting_a_pod_of_a_silenced_deployment_is_refused(
    shared_backend: KubernetesBackend,
) -> None:
    item = shared_backend.apis.core.list_namespaced_pod(NS, label_selector="app=search").items[0]
    meta = item.metadata
    assert meta is not None and meta.name and meta.uid
    req = request(
        ActionKind.DELETE_POD, pod(meta.name), {"type": "pod_deletion", "pod_uid": meta.uid}
    )
    observed = shared_backend.observe(req.target)
    verdict = evaluate(req, observed, silenced("deployment/hotel/search"))
    assert (
        verdict.rule is Rule.SILENCE and "would disrupt deployment/hotel/search" in verdict.reason
    )
    assert evaluate(req, observed, silenced("deployment/hotel/geo")).rule is not Rule.SILENCE


def test_a_batch_with_a_silenced_step_is_refused(shared_backend: KubernetesBackend) -> None:
    before = {n: workload_of(shared_backend, deployment(n)).replicas for n in ("geo", "rate")}
    steps = [
        {"name": n, "desired": {"type": "replicas", "replicas": before[n] + 1}}
        for n in ("geo", "rate")
    ]
    req = parse_request(
        {
            "kind": "batch",
            "target": {"kind": "namespace", "name": NS},
            "desired": {"type": "batch", "steps": steps},
            "reason": "test",
            "decided_by": "tests",
            "created_at": NOW,
        }
    )
    observed = Observed(
        target=req.target,
        exists=True,
        steps=[shared_backend.observe(deployment(n)) for n in ("geo", "rate")],
    )
    verdict = evaluate(req, observed, silenced("deployment/hotel/rate"))
    assert verdict.rule is Rule.SILENCE and verdict.reason.startswith("step deployment/hotel/rate")
    dry = ControlState.of(
        [
            Control(
                id="d1",
                kind=ControlKind.DRY_RUN,
                starts_at=0,
                created_by="alice",
                created_at=0,
            )
        ],
        NOW,
    )
    assert evaluate(req, observed, dry).outcome is VerdictKind.DRY_RUN


def test_the_rules_keep_their_order(shared_backend: KubernetesBackend) -> None:
    req = scale("search", 30)  # beyond the default bounds as well
    observed = shared_backend.observe(req.target)
    pause = Control(
        id="p1", kind=ControlKind.PAUSE, namespace=NS, starts_at=0, created_by="a", created_at=0
    )
    opt_out = Control(
        id="o1",
        kind=ControlKind.OPT_OUT,
        target="deployment/hotel/search",
        starts_at=0,
        created_by="a",
        created_at=0,
    )
    silence = silenced("deployment/hotel/search").silences[0]
    order = [
        ([pause, opt_out, silence], Rule.NAMESPACE_PAUSE),
        ([opt_out, silence], Rule.OPT_OUT),
        ([silence], Rule.SILENCE),
        ([], Rule.REPLICA_BOUNDS),
    ]
    for controls, rule in order:
        assert evaluate(req, observed, ControlState.of(controls, NOW)).rule is rule
    assert list(Rule).index(Rule.SILENCE) == list(Rule).index(Rule.OPT_OUT) + 1
    paused = GuardrailConfig(paused=True)
    verdict = Guardrails(paused).evaluate(
        req, observed, InMemoryActionHistory(), NOW, controls=ControlState.of([pause], NOW)
    )
    assert verdict.rule is Rule.PAUSE and "p1" not in verdict.reason  # the config decided
