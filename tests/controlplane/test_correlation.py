"""Correlation: signals into incidents, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import pytest

from controlplane.clock import ManualClock
from controlplane.correlation import Correlator, severity_for
from controlplane.domain import (
    SLO,
    IncidentState,
    Severity,
    Signal,
    SignalKind,
    SLOStatus,
)
from controlplane.store import Store
from controlplane.topology import StaticTopology, Topology

from ..databases import Database

T0 = 1_000_000.0

# frontend -> search -> geo, frontend -> reservation; reservation and user share mongodb-users.
# Placement: pool-1 hosts ten services with no call edges between them; others spread out.
NODE_SERVICES = [f"svc-{i}" for i in range(10)]
TOPOLOGY = StaticTopology(
    calls={
        "frontend": {"search", "reservation"},
        "search": {"geo"},
        "reservation": {"mongodb-users"},
        "user": {"mongodb-users"},
    },
    placement={
        **{name: {"pool-1"} for name in NODE_SERVICES},
        "frontend": {"pool-2"},
        "search": {"pool-2"},
        "geo": {"pool-3"},
        "reservation": {"pool-3"},
        "user": {"pool-4"},
        "mongodb-users": {"pool-5"},
        "rate": {"pool-6"},
        "profile": {"pool-7"},
    },
)


def svc(name: str, at: float = T0, metric: str = "p99_ms", **kw: Any) -> Signal:
    namespace = kw.pop("namespace", "hotel")
    return Signal(
        detector=kw.pop("detector", "ensemble"),
        series=f"service/{namespace}/{name}/{metric}",
        service=name,
        namespace=namespace,
        score=kw.pop("score", 0.9),
        start=at,
        **kw,
    )


def node(name: str, at: float = T0, metric: str = "ready") -> Signal:
    return Signal(
        detector="ensemble", series=f"node/-/{name}/{metric}", node=name, score=0.99, start=at
    )


@pytest.fixture
def correlator(store: Store) -> Correlator:
    return Correlator(store, TOPOLOGY)


def incidents(store: Store, **kw: Any) -> list[Any]:
    with store.read() as tx:
        return tx.incidents.find(**kw)


def unresolved(store: Store) -> list[Any]:
    with store.read() as tx:
        return tx.incidents.unresolved()


def test_topology_is_a_topology() -> None:
    assert isinstance(TOPOLOGY, Topology)
    assert TOPOLOGY.neighbours("search") == {"frontend", "geo"}
    assert TOPOLOGY.dependencies("user") == {"mongodb-users"}
    assert TOPOLOGY.dependencies("search") == set()  # geo has one caller: not shared


def test_same_service_joins_one_incident(store: Store, correlator: Correlator) -> None:
    result = correlator.ingest([svc("geo"), svc("geo", T0 + 30, metric="error_ratio")])
    (incident,) = incidents(store)
    assert result.opened == [incident.id]
    assert incident.services == ["geo"] and len(incident.signal_ids) == 2
    later = correlator.ingest([svc("geo", T0 + 3000, metric="cpu_ratio")])
    assert later.opened == [] and later.assignments == {
        s: incident.id for s in later.assignments
    }, "an unresolved incident keeps its own service past the window"


def test_call_graph_neighbour_joins(store: Store, correlator: Correlator) -> None:
    correlator.ingest([svc("geo")])
    correlator.ingest([svc("search", T0 + 60), svc("frontend", T0 + 90)])
    (incident,) = incidents(store)
    assert incident.services == ["geo", "search", "frontend"]


def test_neighbour_outside_the_window_opens_another(store: Store, correlator: Correlator) -> None:
    correlator.ingest([svc("geo")])
    correlator.ingest([svc("search", T0 + 601)])
    assert len(incidents(store)) == 2


def test_shared_database_joins_its_callers(store: Store, correlator: Correlator) -> None:
    correlator.ingest([svc("user"), svc("reservation", T0 + 20)])
    (incident,) = incidents(store)
    assert incident.services == ["user", "reservation"]


def test_signal_on_a_node_joins_the_incident_of_a_service_there(
    store: Store, correlator: Correlator
) -> None:
    correlator.ingest([svc("geo")])
    correlator.ingest([node("pool-3", T0 + 10)])
    correlator.ingest([svc("reservation", T0 + 20)])  # runs on pool-3, now implicated
    (incident,) = incidents(store)
    assert incident.nodes == ["pool-3"]
    assert incident.services == ["geo", "reservation"]


def test_node_failure_in_one_tick_is_one_incident(store: Store, correlator: Correlator) -> None:
    signals = [svc(name, T0 + i) for i, name in enumerate(NODE_SERVICES)]
    signals += [node("pool-1", T0 + 12), node("pool-1", T0 + 12, metric="cpu_ratio")]
    result = correlator.ingest(signals)
    (incident,) = incidents(store)
    assert result.opened == [incident.id] and result.merged == {}
    assert sorted(incident.services) == sorted(NODE_SERVICES)
    assert incident.nodes == ["pool-1"]
    assert len(incident.signal_ids) == 12


def test_node_failure_seen_over_several_ticks_ends_in_one_incident(
    store: Store, correlator: Correlator
) -> None:
    for i, name in enumerate(NODE_SERVICES):  # services first, one tick each, unrelated
        correlator.ingest([svc(name, T0 + 5 * i)])
    assert len(unresolved(store)) == 10
    result = correlator.ingest([node("pool-1", T0 + 60)])
    (survivor,) = unresolved(store)
    assert len(result.merged) == 9 and set(result.merged.values()) == {survivor.id}
    assert sorted(survivor.services) == sorted(NODE_SERVICES)
    assert len(survivor.signal_ids) == 11
    with store.read() as tx:
        for absorbed in result.merged:
            assert tx.incidents.merged_into(absorbed) == survivor.id
            gone = tx.incidents.require(absorbed)
            assert gone.state is IncidentState.RESOLVED and gone.signal_ids == []
            assert gone.timeline[-1].summary.endswith(f"merged into {survivor.id}")


def test_unrelated_services_on_different_nodes_are_two_incidents(
    store: Store, correlator: Correlator
) -> None:
    result = correlator.ingest([svc("rate"), svc("profile", T0 + 5)])
    assert len(result.opened) == 2
    assert sorted(i.services[0] for i in incidents(store)) == ["profile", "rate"]


def test_same_name_in_another_namespace_is_another_incident(
    store: Store, correlator: Correlator
) -> None:
    correlator.ingest([svc("rate"), svc("rate", namespace="shop")])
    assert sorted(i.namespace for i in incidents(store)) == ["hotel", "shop"]


def test_no_topology_joins_only_the_same_target(store: Store) -> None:
    plain = Correlator(store)
    plain.ingest([svc("geo"), svc("search"), svc("geo", metric="rps"), node("pool-3")])
    assert sorted(len(i.signal_ids) for i in incidents(store)) == [1, 1, 2]


def test_duplicates_are_counted_not_stored_twice(store: Store, correlator: Correlator) -> None:
    first = svc("geo")
    again = svc("geo", T0 + 30, score=0.97)  # same detector and series, a new sighting
    result = correlator.ingest([first, again])
    result2 = correlator.ingest([svc("geo", T0 + 60)])
    assert result.duplicates == 1 and result2.duplicates == 1
    (incident,) = incidents(store)
    assert incident.signal_ids == [first.id]
    assert [e.kind for e in incident.timeline] == ["opened", "signal"]
    with store.read() as tx:
        assert tx.signals.occurrences(first.id) == 3
        assert tx.signals.get(again.id) is None


def test_a_replayed_batch_changes_nothing(store: Store, correlator: Correlator) -> None:
    batch = [svc("geo"), svc("search", T0 + 1)]
    correlator.ingest(batch)
    before = incidents(store)
    result = correlator.ingest(batch)
    assert result.replayed == 2 and result.assignments == {} and result.opened == []
    assert incidents(store) == before
    with store.read() as tx:
        assert tx.signals.occurrences(batch[0].id) == 1


def test_duplicate_after_its_window_is_a_new_signal(store: Store) -> None:
    correlator = Correlator(store, TOPOLOGY, duplicate_window_s=60)
    first, late = svc("geo"), svc("geo", T0 + 61)
    result = correlator.ingest([first, late])
    assert result.duplicates == 0
    (incident,) = incidents(store)
    assert incident.signal_ids == [first.id, late.id]


def status(service: str, met: bool, burn: float) -> SLOStatus:
    return SLOStatus(service=service, met=met, burn_rate=burn, at=T0)


@pytest.mark.parametrize(
    ("signals", "statuses", "expected"),
    [
        ([svc("geo")], {}, Severity.MEDIUM),
        ([svc("geo")], {"geo": status("geo", True, 2.0)}, Severity.MEDIUM),
        ([svc("geo")], {"geo": status("geo", False, 3.0)}, Severity.HIGH),
        ([svc("geo")], {"geo": status("geo", False, 20.0)}, Severity.CRITICAL),
        ([svc("geo", kind=SignalKind.CAPACITY)], {}, Severity.LOW),
        ([svc("geo", kind=SignalKind.CAPACITY)], {"geo": status("geo", False, 1)}, Severity.HIGH),
        ([svc("geo")], {"rate": status("rate", False, 50.0)}, Severity.MEDIUM),
    ],
    ids=["no-slo", "met", "violated", "fast-burn", "capacity", "capacity-violated", "other-svc"],
)
def test_severity_follows_slo_impact(
    store: Store,
    correlator: Correlator,
    signals: list[Signal],
    statuses: dict[str, SLOStatus],
    expected: Severity,
) -> None:
    correlator.ingest(signals, statuses)
    (incident,) = incidents(store)
    assert incident.severity is expected


def test_fast_burn_threshold_comes_from_the_slo() -> None:
    strict = {"geo": SLO(service="geo", latency_ms=100, burn_rate_fast=2.0, burn_rate_slow=1.0)}
    assert severity_for(["geo"], False, {"geo": status("geo", False, 3.0)}) is Severity.HIGH
    assert severity_for(["geo"], False, {"geo": status("geo", False, 3.0)}, strict) is (
        Severity.CRITICAL
    )


def test_severity_rises_later_with_a_timeline_entry(store: Store, correlator: Correlator) -> None:
    correlator.ingest(
        [svc("geo", metric="cpu_ratio", detector="capacity", kind=SignalKind.CAPACITY)]
    )
    assert incidents(store)[0].severity is Severity.LOW
    correlator.ingest([svc("geo", T0 + 10)])
    assert incidents(store)[0].severity is Severity.MEDIUM
    result = correlator.ingest([], {"geo": status("geo", False, 30.0)})
    (incident,) = incidents(store)
    assert result.escalated == {incident.id: Severity.CRITICAL}
    assert incident.severity is Severity.CRITICAL
    assert [e.summary for e in incident.timeline if e.kind == "severity"] == [
        "low -> medium: not only capacity",
        "medium -> critical: SLO impact",
    ]
    correlator.ingest([], {"geo": status("geo", True, 0.0)})
    assert incidents(store)[0].severity is Severity.CRITICAL, "severity never drops by itself"
    with store.read() as tx:
        events = tx.audit.events(kind="incident.severity")
    assert [e.details["to"] for e in events] == ["medium", "critical"]


def test_recurrence_reopens_the_resolved_incident(store: Store, correlator: Correlator) -> None:
    correlator.ingest([svc("geo")])
    (incident,) = incidents(store)
    with store.write() as tx:
        tx.incidents.transition(incident.id, IncidentState.RESOLVED, "recovered", at=T0 + 100)
    result = correlator.ingest([svc("geo", T0 + 900, metric="error_ratio")])
    assert result.reopened == [incident.id] and result.opened == []
    (again,) = incidents(store)
    assert again.id == incident.id
    assert again.state is IncidentState.OPEN and again.resolved_at is None
    assert [e.kind for e in again.timeline] == [
        "opened",
        "signal",
        "transition",
        "reopened",
        "signal",
    ]
    with store.read() as tx:
        (event,) = tx.audit.events(kind="incident.reopened")
    assert event.subject_id == incident.id and event.details["to"] == "open"
    assert event.actor == "correlator"


def test_recurrence_after_the_reopen_window_is_a_new_incident(
    store: Store, correlator: Correlator
) -> None:
    correlator.ingest([svc("geo")])
    (incident,) = incidents(store)
    with store.write() as tx:
        tx.incidents.transition(incident.id, IncidentState.RESOLVED, "recovered", at=T0 + 100)
    result = correlator.ingest([svc("geo", T0 + 100 + 1801)])
    assert result.reopened == [] and len(result.opened) == 1
    assert len(incidents(store)) == 2


def test_an_incident_being_mitigated_is_not_absorbed(store: Store, correlator: Correlator) -> None:
    correlator.ingest([svc("geo")])
    correlator.ingest([svc("frontend", T0 + 1)])
    older, newer = sorted(incidents(store), key=lambda i: i.opened_at)
    with store.write() as tx:
        tx.incidents.transition(newer.id, IncidentState.MITIGATING, "scaling", at=T0 + 2)
    result = correlator.ingest([svc("search", T0 + 3)])  # neighbour of both
    assert result.merged == {}
    assert set(result.assignments.values()) == {older.id}
    assert {i.state for i in incidents(store)} == {IncidentState.OPEN, IncidentState.MITIGATING}


def test_opening_is_audited_and_on_the_timeline(store: Store, correlator: Correlator) -> None:
    first = svc("geo")
    correlator.ingest([first])
    (incident,) = incidents(store)
    assert incident.timeline[0].kind == "opened" and incident.timeline[0].ref_id == first.id
    assert incident.opened_at == T0
    with store.read() as tx:
        (event,) = tx.audit.events(kind="incident.opened")
    assert event.subject_id == incident.id and event.actor == "correlator"


class Exploding(StaticTopology):
    """A topology that fails on one service, to break a batch half-way."""

    def neighbours(self, service: str) -> AbstractSet[str]:
        if service == "boom":
            raise RuntimeError("topology lookup failed")
        return super().neighbours(service)


def test_a_failed_batch_leaves_neither_rows_nor_stale_memory(store: Store) -> None:
    correlator = Correlator(store, Exploding(calls={"frontend": {"geo"}}))
    correlator.ingest([svc("geo")])
    lost = svc("frontend", T0 + 10)  # joins geo's incident as a neighbour, then the batch fails
    with pytest.raises(RuntimeError):
        correlator.ingest([lost, svc("boom", T0 + 11)])
    correlator.ingest([svc("geo", T0 + 20, metric="error_ratio")])
    (incident,) = incidents(store)
    assert incident.services == ["geo"], "the rolled-back join must not come back"
    assert len(incident.signal_ids) == 2 and lost.id not in incident.signal_ids
    assert incident.updated_at == T0 + 20
    correlator.ingest([lost])  # the lost signal can still come in
    assert incidents(store)[0].services == ["geo", "frontend"]


def test_changes_by_other_writers_are_seen_between_batches(
    store: Store, correlator: Correlator, database: Database, clock: ManualClock
) -> None:
    correlator.ingest([svc("geo")])
    (incident,) = incidents(store)
    other = Store(database.engine(), clock=clock)  # another process: an agent
    try:
        with other.write() as tx:
            tx.incidents.transition(incident.id, IncidentState.RESOLVED, "fixed", at=T0 + 50)
    finally:
        other.close()
    result = correlator.ingest([svc("geo", T0 + 60, metric="rps")])
    assert result.reopened == [incident.id]


def test_bad_windows_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="window_s"):
        Correlator(store, window_s=0)


def test_after_a_batch_the_working_set_remembers_exactly_what_was_stored(
    store: Store, correlator: Correlator
) -> None:
    """Otherwise every tick would re-index every incident (correct, but slow)."""
    for i, name in enumerate(NODE_SERVICES[:3]):
        correlator.ingest([svc(name, T0 + i)])
    correlator.ingest(
        [node("pool-1", T0 + 10), svc("geo", T0 + 11), svc("geo", T0 + 12)],
        {"geo": status("geo", False, 30.0)},
    )
    remembered = correlator._working._persisted
    with store.read() as tx:
        stored = {snap.id: snap for snap in tx.incidents.candidates(reopen_since=0.0)}
    assert remembered and set(remembered) <= set(stored)
    for incident_id, snap in remembered.items():
        assert stored[incident_id] == snap
