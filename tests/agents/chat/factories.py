"""A store seeded with one incident about the hotel application's search and geo services: its
signal (a p99 metric value), a decision, and the action that decision chose (run on geo)."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane import (
    ActionKind,
    ActionRequest,
    Candidate,
    Decision,
    EscalationState,
    Evidence,
    Incident,
    IncidentState,
    ReplicasState,
    Severity,
    Signal,
    TargetKind,
    TargetRef,
    Tier,
)
from controlplane.store import ActionRecord, ActionStatus, Store, VerdictKind

NS = "hotel"
"""The testbed's hotel-reservation namespace (testbed/apps/hotel-reservation.yaml)."""


@dataclass(frozen=True)
class Seeded:
    incident: Incident
    signal: Signal
    decision: Decision
    action: ActionRecord


def deployment(name: str) -> TargetRef:
    return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=NS, name=name)


def seed(store: Store) -> Seeded:
    now = store.clock.now()
    signal = Signal(
        detector="anomaly",
        series=f"service/{NS}/search/p99_ms",
        service="search",
        namespace=NS,
        score=0.93,
        start=now - 120,
        evidence=[Evidence(name="p99_ms", value=812.0, baseline=120.0, unit="ms")],
    )
    incident = Incident(
        services=["search", "geo"],
        namespace=NS,
        severity=Severity.HIGH,
        signal_ids=[signal.id],
        opened_at=now - 100,
    )
    scale_geo = ActionRequest(
        kind=ActionKind.SCALE,
        target=deployment("geo"),
        desired=ReplicasState(replicas=2),
        reason="geo saturated: search waits on it",
        decided_by="rules",
        incident_id=incident.id,
        created_at=now - 60,
    )
    escalate = scale_geo.model_copy(
        update={"kind": ActionKind.ESCALATE, "desired": EscalationState(reason="ask")}
    )
    decision = Decision(
        incident_id=incident.id,
        agent="rules",
        policy="rules",
        tier=Tier.NONE,
        candidates=[
            Candidate(
                action=scale_geo, expected_effect="geo keeps up", risk=0.2, hypothesis_index=0
            ),
            Candidate(action=escalate, expected_effect="a person looks", risk=0.0),
        ],
        choice=0,
        confidence=0.9,
        at=now - 60,
    )
    with store.write() as tx:
        tx.signals.add(signal)
        tx.incidents.add(incident)
        tx.incidents.transition(
            incident.id,
            IncidentState.DIAGNOSING,
            "analysed: most likely deployment/hotel/geo (Dependency Problem)",
        )
        tx.decisions.add(decision)
        claim = tx.actions.claim(scale_geo.idempotency_key, scale_geo, None)
    store.set_verdict(claim.record.id, VerdictKind.ALLOWED, rule="approval", reason="unattended")
    store.mark_running(claim.record.id, None)
    action = store.record_result(claim.record.id, ActionStatus.SUCCEEDED, {"status": "applied"})
    return Seeded(incident, signal, decision, action)
