"""The rules on hand-built telemetry (tests/agents/synthetic.py): each cause is told from the
others by the evidence docs/analysis.md names, and gets its remedies."""

from __future__ import annotations

import pytest

from agents.analysis import AnalysisConfig, Analyzer, Cause, Facts, analyse, size_replicas
from controlplane import ActionKind, ReplicasState, TargetKind
from telemetry import ClusterView

from .synthetic import NS, History, event


def warmed() -> History:
    history = History()
    history.run(80)  # 20 minutes of health
    return history


def cause_of(evidence: list[object]) -> str:
    return next(str(e.value) for e in evidence if getattr(e, "name", "") == "cause")


def test_no_signals_no_hypotheses() -> None:
    history = warmed()
    analysis = analyse([], history.context())
    assert analysis.hypotheses == [] and analysis.candidates == [] and analysis.top is None


def test_a_datastore_scaled_to_zero_is_scaled_back() -> None:
    history = warmed()
    scaled = event(
        history.time + 5,
        "Deployment",
        "db",
        "ScalingReplicaSet",
        "Scaled down replica set db-7f9c to 0 from 1",
        "e1",
    )

    def down(view: ClusterView) -> None:
        db = view.services[f"{NS}/db"]
        db.replicas = db.ready_replicas = 0.0
        db.error_ratio, db.cpu_cores, db.nodes = 1.0, 0.0, ()
        for key in ("api", "worker"):
            view.services[f"{NS}/{key}"].error_ratio = 1.0
            view.edges[f"{NS}/{key}>db"].error_ratio = 1.0
        view.services[f"{NS}/web"].error_ratio = 1.0

    history.tick(down, [scaled])
    for series in (
        "service/shop/db/error_ratio",
        "edge/shop/api>db/error_ratio",
        "service/shop/web/error_ratio",
    ):
        history.signal(series, 1.0, 0.0)
    history.run(4, down)
    analysis = analyse(history.signals, history.context())
    top = analysis.hypotheses[0]
    assert (top.target.kind, top.target.name) == (TargetKind.SERVICE, "db")
    assert cause_of(top.evidence) == Cause.SCALED_DOWN
    assert (top.label.system_level, top.label.fault_type) == ("Virtualization", "Operation Error")
    first = analysis.candidates[0]
    assert first.action.kind is ActionKind.SCALE and first.hypothesis_index == 0
    assert first.action.desired == ReplicasState(replicas=1)
    assert first.action.target.kind is TargetKind.DEPLOYMENT
    assert analysis.candidates[-1].action.kind is ActionKind.ESCALATE


def test_a_slow_call_to_a_healthy_datastore_blames_the_callers_network() -> None:
    history = warmed()

    def slow(view: ClusterView) -> None:
        view.edges[f"{NS}/api>db"].p99_ms = 400.0
        for key in ("api", "web"):
            view.services[f"{NS}/{key}"].p99_ms = 420.0
        view.services[f"{NS}/db"].p99_ms = 300.0  # as callers see it: the slow edge weighs in

    history.tick(slow)
    for series in (
        "edge/shop/api>db/p99_ms",
        "service/shop/api/p99_ms",
        "service/shop/db/p99_ms",
        "service/shop/web/p99_ms",
    ):
        history.signal(series, 400.0, 10.0)
    history.run(4, slow)
    top = analyse(history.signals, history.context()).hypotheses[0]
    assert (top.target.name, cause_of(top.evidence)) == ("api", Cause.NETWORK)
    assert top.label.fault_type == "Network/Storage Issue"


def test_a_node_not_ready_outranks_the_services_it_hosts() -> None:
    history = warmed()

    def down(view: ClusterView) -> None:
        view.nodes["n2"].ready = 0.0
        for key in ("worker", "db"):
            view.services[f"{NS}/{key}"].error_ratio = 1.0
        view.edges[f"{NS}/api>db"].error_ratio = 1.0
        view.services[f"{NS}/api"].error_ratio = 1.0

    history.tick(down)
    history.signal("node/-/n2/ready", 0.0, 1.0)
    history.signal("service/shop/db/error_ratio", 1.0, 0.0)
    history.run(3, down)
    analysis = analyse(history.signals, history.context())
    top = analysis.hypotheses[0]
    assert (top.target.kind, top.target.name) == (TargetKind.NODE, "n2")
    assert top.label.system_level == "Hardware"
    assert analysis.candidates[0].action.kind is ActionKind.DRAIN


def test_cpu_outside_the_pods_is_a_noisy_neighbour() -> None:
    history = warmed()

    def noisy(view: ClusterView) -> None:
        view.nodes["n1"].cpu_cores, view.nodes["n1"].cpu_ratio = 4.0, 1.0
        for key in ("api", "web"):
            view.services[f"{NS}/{key}"].p99_ms = 300.0

    history.tick(noisy)
    history.signal("service/shop/api/p99_ms", 300.0, 10.0)
    history.run(3, noisy)
    top = analyse(history.signals, history.context()).hypotheses[0]
    assert (top.target.name, cause_of(top.evidence)) == ("n1", Cause.NOISY_NEIGHBOUR)


def test_scale_outs_are_sized_from_demand_and_capped() -> None:
    history = warmed()

    def busy(view: ClusterView) -> None:
        api = view.services[f"{NS}/api"]
        api.rps, api.cpu_cores, api.cpu_ratio = 180.0, 0.2, 1.0  # three times the requests

    history.run(4, busy)
    history.signal("service/shop/api/p99_ms", 300.0, 10.0)
    facts = Facts(history.signals, history.context())
    # 0.2 cores for 60 rps before: 180 rps need 0.6 cores; at 60 % of a 1-core pod: 1 pod...
    assert size_replicas(facts, f"{NS}/api", current=1) == 2  # ... but always one more
    config = AnalysisConfig(target_utilisation=0.2, max_replicas=3)
    facts = Facts(history.signals, history.context())
    facts.config = config
    assert size_replicas(facts, f"{NS}/api", current=1) == 3  # 0.6 / 0.2 = 3, the cap


def test_the_analyzer_learns_every_tick_and_needs_a_view() -> None:
    history = warmed()
    analyzer = Analyzer(history.store)
    with pytest.raises(ValueError):
        analyzer.analyse([])
    assert history.view is not None
    analyzer.observe(history.view)
    assert analyzer.topology.callers("db") == {"api", "worker"}
    assert analyzer.analyse([]).hypotheses == []
