"""Incidents, signals, timeline and decisions in the store: round trips and the state machine."""

from __future__ import annotations

import pytest

from controlplane.clock import ManualClock
from controlplane.domain import (
    INCIDENT_TRANSITIONS,
    ActionKind,
    ActionRequest,
    Candidate,
    Decision,
    Evidence,
    Incident,
    IncidentState,
    ReplicasState,
    Severity,
    Signal,
    SignalKind,
    TargetKind,
    TargetRef,
    Tier,
    TimelineEntry,
)
from controlplane.exceptions import IllegalTransition, RecordNotFound, StoreError
from controlplane.store import Store

S = IncidentState


def make_signal(**overrides: object) -> Signal:
    values: dict[str, object] = {
        "detector": "ensemble",
        "series": "service/hotel/geo/p99_ms",
        "service": "geo",
        "namespace": "hotel",
        "score": 0.93,
        "start": 1_000_000.0,
        "kind": SignalKind.ANOMALY,
        "evidence": [Evidence(name="p99_ms", value=812.5, baseline=40.0, unit="ms")],
    }
    values.update(overrides)
    return Signal.model_validate(values)


def stored_incident(store: Store, **overrides: object) -> Incident:
    signal = make_signal()
    values: dict[str, object] = {
        "services": ["geo"],
        "nodes": ["pool-001"],
        "namespace": "hotel",
        "severity": Severity.HIGH,
        "signal_ids": [signal.id],
        "timeline": [TimelineEntry(at=1_000_000.0, kind="opened", summary="opened on geo")],
        "opened_at": 1_000_000.0,
    }
    values.update(overrides)
    incident = Incident.model_validate(values)
    with store.write() as tx:
        tx.signals.add(signal)
        return tx.incidents.add(incident)


def test_incident_round_trip(store: Store) -> None:
    incident = stored_incident(store)
    with store.read() as tx:
        loaded = tx.incidents.get(incident.id)
        signals = tx.signals.for_incident(incident.id)
    assert loaded == incident
    assert loaded is not None and loaded.signal_ids == [signals[0].id]
    assert signals[0] == make_signal(id=signals[0].id)


def test_signal_round_trip_and_occurrences(store: Store) -> None:
    signal = make_signal(node="pool-002", kind=SignalKind.CAPACITY, evidence=[])
    with store.write() as tx:
        tx.signals.add(signal)
    with store.read() as tx:
        assert tx.signals.get(signal.id) == signal
        assert tx.signals.occurrences(signal.id) == 1
        assert tx.signals.get("missing") is None
        assert tx.signals.occurrences("missing") == 0


def test_find_filters_by_state_and_service(store: Store) -> None:
    first = stored_incident(store, opened_at=1_000_000.0)
    second = stored_incident(store, services=["rate"], opened_at=1_000_100.0, signal_ids=[])
    with store.write() as tx:
        tx.incidents.transition(second.id, S.RESOLVED, "fixed")
    with store.read() as tx:
        assert [i.id for i in tx.incidents.find()] == [second.id, first.id]
        assert [i.id for i in tx.incidents.find(states=[S.OPEN])] == [first.id]
        assert [i.id for i in tx.incidents.find(service="rate")] == [second.id]
        assert [i.id for i in tx.incidents.unresolved()] == [first.id]
        assert len(tx.incidents.find(limit=1)) == 1


def test_full_lifecycle_records_timeline_and_audit(store: Store, clock: ManualClock) -> None:
    incident = stored_incident(store)
    path = [S.DIAGNOSING, S.MITIGATING, S.VERIFYING, S.RESOLVED, S.OPEN]
    for state in path:
        clock.advance(10)
        with store.write() as tx:
            moved = tx.incidents.transition(incident.id, state, f"to {state}")
        assert moved.state is state
        assert moved.updated_at == clock.now()
    assert moved.resolved_at is None
    transitions = [e for e in moved.timeline if e.kind == "transition"]
    assert [e.summary for e in transitions] == [
        "open -> diagnosing: to diagnosing",
        "diagnosing -> mitigating: to mitigating",
        "mitigating -> verifying: to verifying",
        "verifying -> resolved: to resolved",
        "resolved -> open: to open",
    ]
    with store.read() as tx:
        events = tx.audit.events(subject_id=incident.id, kind="incident.transition")
    assert [(e.details["from"], e.details["to"]) for e in events] == [
        ("open", "diagnosing"),
        ("diagnosing", "mitigating"),
        ("mitigating", "verifying"),
        ("verifying", "resolved"),
        ("resolved", "open"),
    ]


def test_resolving_stamps_resolved_at(store: Store, clock: ManualClock) -> None:
    incident = stored_incident(store)
    clock.advance(42)
    with store.write() as tx:
        resolved = tx.incidents.transition(incident.id, S.RESOLVED, "recovered")
    assert resolved.resolved_at == clock.now()


@pytest.mark.parametrize("start", [s for s in S if s is not S.RESOLVED and s is not S.NEEDS_HUMAN])
def test_needs_human_from_every_unresolved_state(store: Store, start: IncidentState) -> None:
    incident = stored_incident(store, state=start)
    with store.write() as tx:
        assert tx.incidents.transition(incident.id, S.NEEDS_HUMAN, "stuck").state is S.NEEDS_HUMAN


ILLEGAL = [
    (current, target)
    for current in S
    for target in S
    if target not in INCIDENT_TRANSITIONS[current] and target is not current
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transitions_raise_and_write_nothing(
    store: Store, current: IncidentState, target: IncidentState
) -> None:
    incident = stored_incident(store, state=current)
    with pytest.raises(IllegalTransition) as caught, store.write() as tx:
        tx.incidents.transition(incident.id, target, "nope")
    assert caught.value.current == current and caught.value.target == target
    assert f"illegal transition {current} -> {target}" in str(caught.value)
    with store.read() as tx:
        assert tx.incidents.require(incident.id) == incident
        assert tx.audit.events(kind="incident.transition") == []


def test_missing_incident_is_record_not_found(store: Store) -> None:
    with pytest.raises(RecordNotFound, match="no incident with id 'nope'"), store.write() as tx:
        tx.incidents.transition("nope", S.RESOLVED, "x")
    with store.read() as tx:
        assert tx.incidents.get("nope") is None


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.signals.add(make_signal(id="s1"))
        raise RuntimeError("crash in the middle")
    with store.read() as tx:
        assert tx.signals.get("s1") is None


def test_linking_an_unknown_signal_is_a_store_error(store: Store) -> None:
    incident = Incident(opened_at=1.0, signal_ids=["ghost"])
    with pytest.raises(StoreError), store.write() as tx:
        tx.incidents.add(incident)


def test_severity_change_and_timeline_entries(store: Store) -> None:
    incident = stored_incident(store, severity=Severity.MEDIUM)
    with store.write() as tx:
        tx.incidents.set_severity(incident.id, Severity.CRITICAL, "fast burn", at=5.0)
        tx.incidents.append_timeline(incident.id, "note", "operator looked", ref_id="op")
    with store.read() as tx:
        loaded = tx.incidents.require(incident.id)
        (event,) = tx.audit.events(kind="incident.severity")
    assert loaded.severity is Severity.CRITICAL
    assert [e.kind for e in loaded.timeline] == ["opened", "severity", "note"]
    assert loaded.timeline[1].summary == "medium -> critical: fast burn"
    assert loaded.timeline[1].at == 5.0
    assert event.details == {"from": "medium", "to": "critical", "reason": "fast burn"}


def make_decision(incident_id: str) -> Decision:
    action = ActionRequest(
        kind=ActionKind.SCALE,
        target=TargetRef(kind=TargetKind.DEPLOYMENT, name="geo", namespace="hotel"),
        desired=ReplicasState(replicas=4),
        reason="latency",
        decided_by="local",
        incident_id=incident_id,
        created_at=1_000_010.0,
    )
    return Decision(
        incident_id=incident_id,
        agent="remediation",
        policy="hybrid",
        tier=Tier.LOCAL,
        model="qwen2.5-1.5b",
        candidates=[Candidate(action=action, expected_effect="p99 down", risk=0.2, cost=0.5)],
        choice=0,
        confidence=0.81,
        prompt_tokens=900,
        output_tokens=12,
        latency_s=0.4,
        cost_usd=0.0,
        escalation_reason=None,
        at=1_000_010.0,
    )


def test_decision_round_trip_adds_timeline_and_audit(store: Store) -> None:
    incident = stored_incident(store)
    decision = make_decision(incident.id)
    with store.write() as tx:
        tx.decisions.add(decision)
    with store.read() as tx:
        assert tx.decisions.get(decision.id) == decision
        assert tx.decisions.for_incident(incident.id) == [decision]
        timeline = tx.incidents.require(incident.id).timeline
        (event,) = tx.audit.events(kind="decision.recorded")
    assert timeline[-1].kind == "decision" and timeline[-1].ref_id == decision.id
    assert "scale deployment/hotel/geo" in timeline[-1].summary
    assert event.details["decision"] == decision.id


def test_decision_for_unknown_incident_is_refused(store: Store) -> None:
    with pytest.raises(RecordNotFound), store.write() as tx:
        tx.decisions.add(make_decision("ghost"))


def test_merges_apply_in_order_and_move_signals(store: Store) -> None:
    a, b, c = (stored_incident(store, opened_at=t) for t in (3.0, 2.0, 1.0))
    with store.write() as tx:
        tx.incidents.merge_many([(b.id, a.id, 10.0), (c.id, b.id, 11.0)], actor="tester")
    with store.read() as tx:
        survivor = tx.incidents.require(c.id)
        assert tx.incidents.merged_into(a.id) == b.id
        assert tx.incidents.merged_into(b.id) == c.id
        gone = tx.incidents.require(a.id)
        events = tx.audit.events(kind="incident.merged")
    assert sorted(survivor.signal_ids) == sorted(a.signal_ids + b.signal_ids + c.signal_ids)
    assert gone.state is S.RESOLVED and gone.resolved_at == 10.0 and gone.signal_ids == []
    assert gone.timeline[-1].summary == f"open -> resolved: merged into {b.id}"
    assert [e.subject_id for e in events] == [a.id, b.id]
    assert {e.actor for e in events} == {"tester"}


def test_an_incident_being_mitigated_cannot_be_merged_away(store: Store) -> None:
    busy = stored_incident(store, state=S.MITIGATING)
    other = stored_incident(store)
    with pytest.raises(IllegalTransition, match="mitigating -> resolved"), store.write() as tx:
        tx.incidents.merge(other.id, busy.id)
    with store.read() as tx:
        assert tx.incidents.merged_into(busy.id) is None
