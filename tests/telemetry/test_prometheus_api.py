"""The PromQL source against a real Prometheus server scraping a testbed run in real time.

One observation window (``WINDOW_S`` wall seconds, ``WINDOW_S * SPEED`` simulated) is watched
three ways at once: by the simulation's own counters, by the scrape path (``ScrapeSource``
fetching ``/metrics`` every second) and by the PromQL path. Tolerances:

* **PromQL vs the model** (per simulated second, ``time_scale=SPEED``): requests/s into each
  service within 10% (0.3 rps for the services under 5 rps, whose integer counters move by a few
  requests a window); error ratio within 0.02 absolute; CPU cores within 15% (0.005 cores for
  the near idle); replicas, ready replicas, nodes' capacity and pods exactly.
* **PromQL vs scrape** (both per wall second): requests/s within 10% (3 rps under 50), error
  ratio within 0.02, CPU within 15% (0.05 cores), memory within 5%, p50 within 5% and p99
  within 10% (only over 50 rps: the p99 of the few dozen requests a quieter service gets in a
  window jumps between buckets); replicas, ready replicas, the services' nodes and every node's
  pods exactly. Measured on three seeds: requests/s 0.4%, CPU 0.4%, memory 1.2%, p99 of the busy
  services 1.7% apart, error ratios equal.
* **PromQL table vs ViewBuilder on the same Prometheus data** (the builder fed the raw series'
  ``rate()`` and gauges at the same instant): equal within 1e-6 relative, so the PromQL
  joins and quantiles mean what the scrape path's builder means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from telemetry import ClusterView, Frame, Sample, ScrapeSource, SeriesStore, Source, ViewBuilder
from telemetry.frame import group_by_name
from telemetry.sources import PrometheusSource

from .live import (
    LOAD_RPS,
    SPEED,
    WINDOW,
    WINDOW_S,
    Live,
    ModelRates,
    ModelState,
    live_testbed,
    model_rates,
)
from .prometheus_server import requires_prometheus

pytestmark = requires_prometheus


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with live_testbed() as running:
        yield running


def source(live: Live, time_scale: float = SPEED) -> PrometheusSource:
    return PrometheusSource(live.prometheus.url, rate_window=WINDOW, time_scale=time_scale)


@dataclass
class Observation:
    at: float
    model: ModelRates
    promql: ClusterView  # per simulated second
    promql_wall: ClusterView  # per wall second
    scrape: ClusterView  # per wall second


@pytest.fixture(scope="module")
def observed(live: Live) -> Observation:
    """One window watched by the model, the scrape path and the PromQL path."""
    cluster = live.cluster
    before = ModelState.take(cluster)
    with ScrapeSource(f"{live.testbed.url}/metrics") as scrape:
        start = time.time()
        while True:
            at = time.time()
            scraped = scrape.fetch(at, WINDOW_S)
            if at - start >= WINDOW_S:
                break
            time.sleep(max(0.0, 1.0 - (time.time() - at)))
    after = ModelState.take(cluster)
    with source(live) as prom, source(live, time_scale=1.0) as wall:
        return Observation(
            at, model_rates(cluster, before, after), prom.collect(at), wall.collect(at), scraped
        )


def test_views_match_the_testbed_model(live: Live, observed: Observation) -> None:
    cluster, view, model = live.cluster, observed.promql, observed.model
    assert set(view.services) == set(model.rps)
    for key, svc in view.services.items():
        want = model.rps[key]
        assert svc.rps == pytest.approx(want, rel=0.10, abs=0.3 if want < 5 else 0), key
        assert abs(svc.error_ratio - model.error_ratio[key]) <= 0.02, key
        assert svc.cpu_cores == pytest.approx(model.cpu_cores[key], rel=0.15, abs=0.005), key
        namespace, name = key.split("/")
        dep = cluster.deployments[(namespace, name)]
        assert svc.replicas == dep.replicas, key
        assert svc.ready_replicas == dep.status.get("readyReplicas", 0), key
        assert svc.pending_pods == 0 and svc.restarts == 0, key
        assert 0 < svc.cpu_ratio < 1 and 0 < svc.memory_ratio < 1, key
        assert svc.p50_ms <= svc.p95_ms <= svc.p99_ms, key
        assert svc.latency_buckets and math.isinf(svc.latency_buckets[-1][0]), key
        assert svc.latency_buckets[-1][1] == pytest.approx(svc.rps), key
    assert view.services["hotel/frontend"].rps == pytest.approx(LOAD_RPS, rel=0.1)

    pods_on: dict[str, int] = {}
    for pod in cluster.pods.values():
        if pod.node is not None:
            pods_on[pod.node.name] = pods_on.get(pod.node.name, 0) + 1
    assert set(view.nodes) == {n.name for n in cluster.node_list}
    for node in cluster.node_list:
        got = view.nodes[node.name]
        assert got.cpu_capacity == node.cpu and got.ready == 1.0 and not got.unschedulable
        assert got.pods == pods_on.get(node.name, 0)
        assert got.zone == node.meta.labels["topology.kubernetes.io/zone"]
        assert got.cpu_cores == pytest.approx(got.pods_cpu_cores, rel=0.05, abs=0.01)
    assert view.nodes.keys() >= {n for svc in view.services.values() for n in svc.nodes}

    assert view.call_graph()["hotel/search"] == {"hotel/geo", "hotel/rate"}
    entry = view.edges["hotel/istio-ingressgateway>frontend"]
    assert entry.rps == pytest.approx(view.services["hotel/frontend"].rps)


def test_the_scrape_and_promql_paths_agree(observed: Observation) -> None:
    promql, scrape = observed.promql_wall, observed.scrape
    assert promql.services.keys() == scrape.services.keys()
    for key, p in promql.services.items():
        s = scrape.services[key]
        assert p.rps == pytest.approx(s.rps, rel=0.10, abs=3.0 if s.rps < 50 else 0), key
        assert abs(p.error_ratio - s.error_ratio) <= 0.02, key
        assert p.cpu_cores == pytest.approx(s.cpu_cores, rel=0.15, abs=0.05), key
        assert p.p50_ms == pytest.approx(s.p50_ms, rel=0.05), key
        if s.rps >= 50:  # a p99 of a few dozen requests a window jumps between buckets
            assert p.p99_ms == pytest.approx(s.p99_ms, rel=0.10), key
        assert p.memory_bytes == pytest.approx(s.memory_bytes, rel=0.05), key
        assert (p.replicas, p.ready_replicas, p.nodes) == (s.replicas, s.ready_replicas, s.nodes)
    assert promql.edges.keys() == scrape.edges.keys()
    for key, pe in promql.edges.items():
        assert pe.rps == pytest.approx(scrape.edges[key].rps, rel=0.10, abs=3.0), key
    assert promql.nodes.keys() == scrape.nodes.keys()
    for name, pn in promql.nodes.items():
        sn = scrape.nodes[name]
        assert pn.cpu_cores == pytest.approx(sn.cpu_cores, rel=0.15, abs=0.05), name
        assert (pn.pods, pn.ready, pn.zone, pn.cpu_capacity) == (
            sn.pods,
            sn.ready,
            sn.zone,
            sn.cpu_capacity,
        )


def builder_view(url: str, at: float) -> ClusterView:
    """The scrape path's ViewBuilder over the raw series Prometheus holds at ``at``: counters'
    ``rate()``, gauges' instant values, identity gauges held over the window."""
    builder = ViewBuilder()

    def instant(expr: str, name: str) -> list[Sample]:
        answer = httpx.post(f"{url}/api/v1/query", data={"query": expr, "time": str(at)})
        assert answer.status_code == 200, answer.text
        return [
            Sample(name, {k: v for k, v in r["metric"].items() if k != "__name__"}, float(v))
            for r in answer.json()["data"]["result"]
            for v in [r["value"][1]]
        ]

    rates = [s for n in builder.counters for s in instant(f"rate({n}[{WINDOW}])", n)]
    gauges = [s for n in builder.gauges for s in instant(n, n)]
    held = [s for n in builder.held for s in instant(f"max_over_time({n}[{WINDOW}])", n)]
    frame = Frame(at, WINDOW_S, group_by_name(gauges), group_by_name(rates), group_by_name(held))
    return builder.build(frame)


def test_the_promql_table_means_what_the_view_builder_means(
    live: Live, observed: Observation
) -> None:
    ours, theirs = observed.promql_wall, builder_view(live.prometheus.url, observed.at)
    assert ours.series().keys() == theirs.series().keys()
    for name, value in ours.series().items():
        assert value == pytest.approx(theirs.series()[name], rel=1e-6, abs=1e-9, nan_ok=True), name
    for key, svc in ours.services.items():
        assert svc.nodes == theirs.services[key].nodes, key
        bounds, rates = zip(*svc.latency_buckets, strict=True)
        want_bounds, want_rates = zip(*theirs.services[key].latency_buckets, strict=True)
        assert bounds == want_bounds and rates == pytest.approx(want_rates, rel=1e-6), key
    for name, node in ours.nodes.items():
        assert (node.zone, node.unschedulable) == (theirs.nodes[name].zone, False), name


def test_backfill_returns_views_for_the_past_minutes(live: Live) -> None:
    span = 1.5 * WINDOW_S  # two and a half minutes of simulated time at SPEED 10
    live.wait_for_data(span)
    end = round(time.time(), 3)
    start = end - span
    with source(live) as prom:
        views = prom.backfill(start, end, step=1.0)
    times = [v.time for v in views]
    assert len(views) == pytest.approx(span + 1, abs=1)
    assert times == sorted(times) and start <= times[0] and times[-1] <= end
    warm = [v for v in views if v.time >= live.since + WINDOW_S]  # a full window of samples
    assert len(warm) >= span - WINDOW_S - 1
    for view in warm:
        frontend = view.services["hotel/frontend"]
        assert frontend.rps == pytest.approx(LOAD_RPS, rel=0.1)
        assert frontend.error_ratio <= 0.02 and frontend.replicas == 2
        assert 0 < frontend.p50_ms < frontend.p99_ms < 500
        assert len(view.nodes) == len(live.cluster.node_list)


def test_backfill_warms_the_store_the_collector_appends_to(live: Live) -> None:
    from controlplane.clock import SystemClock
    from telemetry import Collector

    live.wait_for_data(WINDOW_S)
    store = SeriesStore(points=120)
    end = time.time()
    with source(live) as prom:
        assert isinstance(prom, Source)
        added = prom.backfill_into(store, end - WINDOW_S, end, step=1.0, window_s=WINDOW_S)
        assert added >= WINDOW_S
        rps = store.window("service/hotel/frontend/rps", 2 * WINDOW_S)
        assert len(rps.values) == added
        assert rps.values[-1] == pytest.approx(LOAD_RPS, rel=0.1)
        assert store.names("hist/hotel/frontend/")
        time.sleep(0.01)
        collector = Collector([prom], SystemClock(), store, rate_window_s=WINDOW_S)
        view = collector.tick()
    assert view.sources["prometheus"].state == "ok"
    assert len(store.window("service/hotel/frontend/rps", 2 * WINDOW_S).values) == added + 1


def test_an_injected_fault_shows_in_the_views() -> None:
    with live_testbed(seed=11) as running, source(running) as prom:
        cluster = running.cluster
        running.wait_for_data(3)
        assert prom.collect().edges["hotel/search>geo"].error_ratio == 0
        with cluster.lock:
            cluster.fault_engine.inject("scale-to-zero", "geo")
        deadline = time.time() + 3 * WINDOW_S
        while True:
            view = prom.collect()
            geo, edge = view.services["hotel/geo"], view.edges["hotel/search>geo"]
            if geo.replicas == 0 and geo.ready_replicas == 0 and edge.error_ratio > 0.9:
                break
            assert time.time() < deadline, (geo, edge)
            time.sleep(1)
        assert geo.cpu_cores < 0.01 and not geo.nodes
        assert view.services["hotel/search"].error_ratio > 0.5  # every search needs geo
        assert view.services["hotel/frontend"].error_ratio > 0.2
        assert view.services["hotel/profile"].error_ratio < 0.02  # an untouched branch
