"""Views from a running testbed, scraped over HTTP, against the testbed's own model state.

One scenario per module (``scenario``): the hotel application under a constant 100 requests/s,
settled, served by the testbed's own app behind a request recorder, and collected every
``TICK_S`` simulated seconds by a :class:`Collector` with a scrape source and a Kubernetes
source; its :class:`ManualClock` advances in lockstep with ``cluster.step()``. After
``PHASE_TICKS`` healthy ticks three faults are injected (``scale-to-zero`` of recommendation,
``cpu-limit`` of profile, ``network-delay`` from rate to memcached-rate, ``crash-loop`` of user,
``node-selector`` of reservation) and as many ticks more
are collected. Beside every tick the test records the model's own figures (per-tick request
rates and error shares, the pods' CPU counters, the Istio counters) to compare over the window.

Tolerances: request rates 0.5% + 0.05 requests/s (the exposition truncates counters to whole
requests; ``lam`` is the model's per-tick rate, averaged over the window's ticks), CPU
0.1% (10 significant digits in the exposition), error ratios 0.005; latency quantiles exactly,
against the model's histogram counters truncated to whole requests as the exposition shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import pytest

from controlplane.clock import ManualClock
from controlplane.domain import SLO, SLOStatus
from telemetry import (
    ClusterView,
    Collector,
    KubeEvent,
    KubernetesSource,
    LogLines,
    ScrapeSource,
    ServiceView,
    ViewSLOReader,
)
from testbed import slo as testbed_slo
from testbed.app import SLOSpec, load_app
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.server import create_app
from testbed.traffic import BUCKETS_MS
from tests.testbed.api_helpers import settle

from .servers import ThreadedServer, recording

NS = "hotel"
TICK_S = 5
WINDOW_S = 60
PHASE_TICKS = 24
SLOS = [
    SLO(service="frontend", namespace=NS, latency_ms=500, error_ratio=0.01, window_s=120),
    SLO(service="geo", namespace=NS, latency_ms=100, error_ratio=0.01, window_s=120),
    SLO(service="rate", namespace=NS, latency_quantile=0.5, latency_ms=100, window_s=120),
]


@dataclass
class Mark:
    """The model at one collector tick: the last steps' rates and the cumulative counters."""

    lam: np.ndarray  # steps x components: requests/s into each service
    error: np.ndarray  # steps x components: share of them that failed
    snapshot: testbed_slo.Snapshot
    pod_cpu: dict[str, tuple[str, str, float]]  # pod -> (service, node, CPU seconds)
    node_cpu: dict[str, float]
    restarts: dict[str, tuple[str, int]]  # pod -> (service, container restarts)
    pending: dict[str, int]  # service -> Pending pods


def mark(cluster: Cluster, lam: list[np.ndarray], error: list[np.ndarray]) -> Mark:
    arrays = cluster.arrays
    pods = {
        p.name: (p.rs.deployment.name, p.node.name, float(arrays.cpu_total[p.slot]))
        for p in cluster.pods.values()
        if p.container == "running" and p.node and p.rs and p.rs.deployment
    }
    nodes = {n.name: float(arrays.node_cpu_total[n.index]) for n in cluster.node_list}
    owned = [p for p in cluster.pods.values() if p.rs and p.rs.deployment]
    restarts = {p.name: (p.rs.deployment.name, p.restarts) for p in owned}
    pending: dict[str, int] = {}
    for p in owned:
        if p.phase == "Pending":
            pending[p.rs.deployment.name] = pending.get(p.rs.deployment.name, 0) + 1
    snapshot = testbed_slo.Snapshot.take(cluster)
    return Mark(np.array(lam), np.array(error), snapshot, pods, nodes, restarts, pending)


@dataclass
class Truth:
    """The model's figures over the window that ends at a tick."""

    rps: dict[str, float]
    error: dict[str, float]
    quantiles: dict[str, dict[float, float]]
    cpu: dict[str, float]
    node_cpu: dict[str, float]
    node_pods_cpu: dict[str, float]
    restarts: dict[str, int]
    pending: dict[str, int]


def truth(cluster: Cluster, start: Mark, marks: list[Mark]) -> Truth:
    traffic, end = cluster.traffic, marks[-1]
    lam = np.concatenate([m.lam for m in marks])
    error = np.concatenate([m.error for m in marks])
    rps, errors, quantiles = {}, {}, {}
    for comp in traffic.components:
        i, name = comp.index, comp.name
        rps[name] = float(lam[:, i].mean())
        errors[name] = float((lam[:, i] * error[:, i]).sum() / max(lam[:, i].sum(), 1e-9))
        edges = [e.index for e in traffic.edges if e.dst == i]
        # the counters as the exposition renders them: whole requests per edge, code and bucket
        hist = np.floor(end.snapshot.hist[edges]) - np.floor(start.snapshot.hist[edges])
        requests = np.floor(end.snapshot.requests[edges]) - np.floor(start.snapshot.requests[edges])
        hist, total = hist.sum(axis=(0, 1)), float(requests.sum())
        quantiles[name] = {
            q: testbed_slo.histogram_quantile(q, BUCKETS_MS.tolist(), hist.tolist(), total)
            for q in (0.5, 0.95, 0.99)
        }
    cpu: dict[str, float] = {}
    pods_cpu: dict[str, float] = {}
    for pod, (service, node, used) in end.pod_cpu.items():
        share = (used - start.pod_cpu.get(pod, (service, node, 0.0))[2]) / WINDOW_S
        cpu[service] = cpu.get(service, 0.0) + share
        pods_cpu[node] = pods_cpu.get(node, 0.0) + share
    node_cpu = {n: (used - start.node_cpu[n]) / WINDOW_S for n, used in end.node_cpu.items()}
    restarts: dict[str, int] = {}
    for pod, (service, count) in end.restarts.items():
        before = start.restarts.get(pod, (service, 0))[1]
        restarts[service] = restarts.get(service, 0) + count - before
    return Truth(rps, errors, quantiles, cpu, node_cpu, pods_cpu, restarts, end.pending)


@dataclass
class Layout:
    """Where things stood at the end of a phase: replicas, pods' nodes and CPU limits."""

    replicas: dict[str, tuple[int, int]]  # service -> (desired, ready)
    nodes: dict[str, tuple[str, ...]]  # service -> nodes of its pods
    cpu_limits: dict[str, float]  # service -> summed CPU limits of its running pods
    node_pods: dict[str, int]

    @classmethod
    def of(cls, cluster: Cluster) -> Layout:
        deps = cluster.deployments.values()
        pods = [p for p in cluster.pods_in(NS) if p.rs and p.rs.deployment]
        nodes: dict[str, set[str]] = {}
        limits: dict[str, float] = {}
        for pod in pods:
            name = pod.rs.deployment.name
            if pod.node:
                nodes.setdefault(name, set()).add(pod.node.name)
            if pod.container == "running":
                limits[name] = limits.get(name, 0.0) + pod.template.cpu_limit
        return cls(
            {d.name: (d.replicas, d.status.get("readyReplicas", 0)) for d in deps},
            {name: tuple(sorted(n)) for name, n in nodes.items()},
            limits,
            {n.name: len(n.pods) for n in cluster.node_list},
        )


@dataclass
class Phase:
    view: ClusterView
    truth: Truth
    layout: Layout
    slo: dict[str, SLOStatus]
    slo_truth: dict[str, testbed_slo.SLOResult]
    events: list[KubeEvent] = field(default_factory=list)


@dataclass
class Scenario:
    cluster: Cluster
    healthy: Phase
    faulty: Phase
    requests: list[str]
    logs: list[LogLines]


class Lockstep:
    """Steps the cluster and the collector's clock together, marking the model at each tick."""

    def __init__(self, cluster: Cluster, collector: Collector, clock: ManualClock) -> None:
        self.cluster, self.collector, self.clock = cluster, collector, clock
        self.marks = [mark(cluster, [], [])]

    def run(self, ticks: int, reader: ViewSLOReader) -> Phase:
        events: list[KubeEvent] = []
        for _ in range(ticks):
            lam, error = [], []
            for _ in range(TICK_S):
                self.cluster.step()
                lam.append(self.cluster.traffic.lam.copy())
                error.append(self.cluster.traffic.error.copy())
            self.clock.advance(TICK_S)
            assert self.clock.now() == self.cluster.now
            self.marks.append(mark(self.cluster, lam, error))
            view = self.collector.tick()
            events += view.events
        n = WINDOW_S // TICK_S
        slo_truth = {
            slo.service: testbed_slo.evaluate(
                self.marks[-1 - int(slo.window_s) // TICK_S].snapshot,
                self.marks[-1].snapshot,
                self.cluster.traffic,
                SLOSpec(
                    service=slo.service,
                    latency_quantile=slo.latency_quantile,
                    latency_ms=slo.latency_ms,
                    error_ratio=slo.error_ratio,
                    window_s=slo.window_s,
                ),
                NS,
            )
            for slo in SLOS
        }
        return Phase(
            view,
            truth(self.cluster, self.marks[-1 - n], self.marks[-n:]),
            Layout.of(self.cluster),
            dict(reader.status()),
            slo_truth,
            events,
        )


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    cluster = Cluster(seed=5, load=Constant(100))
    cluster.advance(30)
    settle(cluster)
    requests: list[str] = []
    with (
        ThreadedServer(recording(create_app(cluster), requests)) as server,
        ScrapeSource(f"{server.url}/metrics", name="scrape") as scrape,
        closing(KubernetesSource(server.url)) as kube,
    ):
        clock = ManualClock(cluster.now)
        collector = Collector([scrape, kube], clock, rate_window_s=WINDOW_S)
        reader = ViewSLOReader(collector, SLOS)
        lockstep = Lockstep(cluster, collector, clock)
        healthy = lockstep.run(PHASE_TICKS, reader)
        engine = cluster.fault_engine
        engine.inject("scale-to-zero", {"service": "recommendation"}, namespace=NS)
        engine.inject("cpu-limit", {"service": "profile"}, namespace=NS, strength=0.05)
        engine.inject(
            "network-delay",
            {"source": "rate", "destination": "memcached-rate"},
            namespace=NS,
            strength=200,
        )
        engine.inject("crash-loop", {"service": "user"}, namespace=NS, strength=10)
        engine.inject("node-selector", {"service": "reservation"}, namespace=NS)
        faulty = lockstep.run(PHASE_TICKS, reader)
        logs = kube.pod_logs(NS, "frontend", tail_lines=5)
        yield Scenario(cluster, healthy, faulty, requests, logs)


def close(value: float, expected: float, rel: float, abs_: float) -> bool:
    return bool(abs(value - expected) <= rel * abs(expected) + abs_)


def test_service_views_match_the_model(scenario: Scenario) -> None:
    view, model, layout = scenario.healthy.view, scenario.healthy.truth, scenario.healthy.layout
    assert set(view.services) == {f"{NS}/{name}" for name in layout.replicas}
    for svc in view.services.values():
        name = svc.name
        assert close(svc.rps, model.rps[name], 0.01, 0.2), (name, svc.rps, model.rps[name])
        assert close(svc.error_ratio, model.error[name], 0, 0.005), name
        for q, got in ((0.5, svc.p50_ms), (0.95, svc.p95_ms), (0.99, svc.p99_ms)):
            assert close(got, model.quantiles[name][q], 1e-9, 1e-9), (name, q, got)
        assert close(svc.cpu_cores, model.cpu[name], 1e-3, 1e-6), (name, svc.cpu_cores)
        assert (svc.replicas, svc.ready_replicas) == layout.replicas[name]
        assert (svc.restarts, svc.pending_pods, svc.throttle_ratio) == (0, 0, 0)
        assert 0 < svc.memory_ratio < 1
        assert svc.nodes == layout.nodes[name]
        expected_ratio = model.cpu[name] / layout.cpu_limits[name]
        assert close(svc.cpu_ratio, expected_ratio, 1e-3, 1e-6), name


def test_node_views_match_the_model(scenario: Scenario) -> None:
    view, model = scenario.healthy.view, scenario.healthy.truth
    assert set(view.nodes) == set(scenario.cluster.nodes)
    for node in view.nodes.values():
        real = scenario.cluster.nodes[node.name]
        assert node.cpu_capacity == real.cpu
        assert close(node.cpu_cores, model.node_cpu[node.name], 1e-3, 1e-6), node.name
        assert close(node.cpu_ratio, node.cpu_cores / real.cpu, 1e-9, 0), node.name
        assert close(node.pods_cpu_cores, model.node_pods_cpu.get(node.name, 0), 1e-3, 1e-6)
        assert node.pods == scenario.healthy.layout.node_pods[node.name]
        assert (node.ready, node.unschedulable) == (1.0, False)
        assert node.zone == real.meta.labels["topology.kubernetes.io/zone"]


def test_the_call_graph_learned_from_edges_is_the_applications(scenario: Scenario) -> None:
    app = load_app()
    expected = {
        f"{NS}/{svc.name}": {f"{NS}/{call.service}" for call in svc.calls}
        for svc in app.services
        if svc.calls
    }
    assert scenario.healthy.view.call_graph() == expected
    entry = scenario.healthy.view.edges[f"{NS}/istio-ingressgateway>{app.entry}"]
    assert close(entry.rps, scenario.healthy.truth.rps[app.entry], 0.01, 0.2)


def test_injected_faults_show_in_the_views(scenario: Scenario) -> None:
    before, after = scenario.healthy.view, scenario.faulty.view

    def svc(view: ClusterView, name: str) -> ServiceView:
        return view.services[f"{NS}/{name}"]

    # scale-to-zero: no replicas, every call to it fails, its callers fail that share
    rec = svc(after, "recommendation")
    assert (rec.replicas, rec.ready_replicas, rec.cpu_cores, rec.nodes) == (0, 0, 0, ())
    assert rec.rps > 30 and rec.error_ratio == 1.0
    assert svc(after, "frontend").error_ratio > 0.35 > svc(before, "frontend").error_ratio
    # cpu-limit: the new pods run at their limit, throttled, and start failing requests
    profile = svc(after, "profile")
    assert profile.cpu_ratio > 0.95 and profile.throttle_ratio > 0.9
    assert profile.cpu_cores == pytest.approx(2 * 0.05, rel=0.05)
    assert svc(before, "profile").throttle_ratio == 0
    # network-delay: that edge, its caller and the caller's callers are 200 ms slower
    edge = f"{NS}/rate>memcached-rate"
    assert before.edges[edge].p99_ms < 50 and after.edges[edge].p99_ms > 200
    assert svc(after, "rate").p50_ms > 150 > svc(before, "rate").p50_ms
    assert svc(after, "search").p50_ms > 150
    # crash-loop: restarts over the window; node-selector: the new pod stays Pending
    model = scenario.faulty.truth
    assert svc(after, "user").restarts == model.restarts["user"] > 0
    assert (svc(after, "reservation").pending_pods, model.pending["reservation"]) == (1, 1)
    assert svc(after, "reservation").error_ratio == 1.0
    # the rest of the application looks as before
    assert svc(after, "geo").p99_ms == pytest.approx(svc(before, "geo").p99_ms, rel=0.3)
    assert svc(after, "geo").error_ratio == 0
    for name in ("recommendation", "profile", "geo", "user"):
        seen = svc(after, name)
        truncation = 2 / (seen.rps * WINDOW_S)  # a whole request per code series at each end
        assert close(seen.error_ratio, model.error[name], 0, 0.01 + truncation), name


def test_slo_reader_for_healthy_and_faulty_services(scenario: Scenario) -> None:
    healthy, faulty = scenario.healthy.slo, scenario.faulty.slo
    keys = {f"{NS}/frontend", f"{NS}/geo", f"{NS}/rate"}
    assert set(healthy) == set(faulty) == keys
    assert all(status.met for status in healthy.values())
    frontend = healthy[f"{NS}/frontend"]
    truth = scenario.healthy.slo_truth["frontend"]
    assert frontend.at == scenario.healthy.view.time
    assert close(frontend.latency_ms or 0, truth.latency_ms, 0.02, 0.5), (frontend, truth)
    assert frontend.error_ratio == truth.error_ratio == 0
    assert frontend.burn_rate == 0

    frontend = faulty[f"{NS}/frontend"]
    truth = scenario.faulty.slo_truth["frontend"]
    assert not frontend.met
    assert close(frontend.error_ratio or 0, truth.error_ratio, 0, 0.005), (frontend, truth)
    assert close(frontend.latency_ms or 0, truth.latency_ms, 0.02, 1), (frontend, truth)
    assert frontend.burn_rate == pytest.approx(truth.error_ratio / 0.01, rel=0.01)
    assert faulty[f"{NS}/geo"].met
    rate = faulty[f"{NS}/rate"]
    assert not rate.met and (rate.latency_ms or 0) > 100
    assert close(rate.latency_ms or 0, scenario.faulty.slo_truth["rate"].latency_ms, 0.02, 1)


def test_events_and_logs_through_the_kubernetes_source(scenario: Scenario) -> None:
    reasons = {(e.reason, e.kind, e.object_name) for e in scenario.faulty.events}
    assert ("ScalingReplicaSet", "Deployment", "recommendation") in reasons
    assert ("ScalingReplicaSet", "Deployment", "profile") in reasons
    assert all(
        e.last_seen and e.last_seen > scenario.healthy.view.time for e in scenario.faulty.events
    )
    assert len(scenario.faulty.events) == len({(e.uid, e.count) for e in scenario.faulty.events})
    assert len(scenario.logs) == 2 and all(log.error is None for log in scenario.logs)
    assert all(0 < len(log.lines) <= 5 for log in scenario.logs)
    assert {log.pod.rsplit("-", 2)[0] for log in scenario.logs} == {"frontend"}


def test_sources_never_read_ground_truth(scenario: Scenario) -> None:
    paths = [r.split("?")[0] for r in scenario.requests]
    assert "/metrics" in paths and "/api/v1/events" in paths
    assert any("/log" in p for p in paths)
    assert not [p for p in scenario.requests if p.startswith("/testbed") or "chaos-mesh.org" in p]
    assert scenario.cluster.faults, "faults were injected, and never asked for"
