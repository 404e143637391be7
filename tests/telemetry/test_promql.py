"""The PromQL table and the view assembly, without a server (the live tests run the queries)."""

from __future__ import annotations

import math

import pytest

from telemetry.sources import PrometheusSource
from telemetry.sources.prometheus_api import duration
from telemetry.sources.promql import QUERIES, assemble

NS = "shop"


def test_the_table_names_each_query_once_and_renders_the_window() -> None:
    names = [q.name for q in QUERIES]
    assert len(names) == len(set(names))
    for query in QUERIES:
        expr = query.render("90s")
        assert "{w}" not in expr and expr.count("(") == expr.count(")"), query.name
        assert ("[90s]" in expr) == ("[{w}]" in query.expr), query.name
    per_second = {q.name for q in QUERIES if q.per_second}
    assert {"svc_rps", "svc_cpu", "edge_rps", "node_cpu", "node_pods_cpu"} <= per_second
    assert not per_second & {"svc_restarts", "svc_p99", "svc_memory", "node_capacity"}


def test_pods_reach_their_deployment_through_the_owner_chain() -> None:
    cpu = next(q for q in QUERIES if q.name == "svc_cpu").render("1m")
    assert "kube_pod_owner" in cpu and "kube_replicaset_owner" in cpu
    assert "* on (namespace, pod) group_left (deployment)" in cpu
    assert "* on (namespace, replicaset) group_left (deployment)" in cpu


def answers() -> dict[str, dict[tuple[str, ...], float]]:
    svc, dep, edge = (NS, "cart"), (NS, "cart"), (NS, "front", "cart")
    return {
        "svc_rps": {svc: 200.0, (NS, "orphan"): 10.0},
        "svc_errors": {svc: 20.0},
        "svc_p50": {svc: 5.0},
        "svc_p95": {svc: 9.0},
        "svc_p99": {svc: 12.0, (NS, "orphan"): math.nan},
        "svc_buckets": {(*svc, "+Inf"): 200.0, (*svc, "10"): 190.0},
        "svc_cpu": {dep: 4.0},
        "svc_cpu_limit": {dep: 2.0},
        "svc_throttled": {dep: 1.0},
        "svc_periods": {dep: 4.0},
        "svc_memory": {dep: 100.0},
        "svc_memory_limit": {dep: 400.0},
        "svc_restarts": {dep: 3.0},
        "svc_pending": {dep: 1.0},
        "svc_replicas": {dep: 3.0, (NS, "idle"): 1.0},
        "svc_ready": {dep: 2.0, (NS, "idle"): 1.0},
        "svc_nodes": {(*dep, "n2"): 1.0, (*dep, "n1"): 1.0},
        "edge_rps": {edge: 200.0},
        "edge_errors": {edge: 20.0},
        "edge_p99": {edge: 12.0},
        "node_info": {("n1",): 1.0, ("n2",): 1.0},
        "node_capacity": {("n1",): 4.0, ("n2",): 8.0},
        "node_cpu": {("n1",): 20.0},
        "node_pods_cpu": {("n1",): 10.0},
        "node_memory": {("n1",): 1e9},
        "node_ready": {("n1",): 1.0, ("n2",): 0.0},
        "node_unschedulable": {("n2",): 1.0},
        "node_pods": {("n1",): 3.0, ("n2",): 1.0},
        "node_zone": {("n1", "", "zone-old"): 1.0, ("n2", "zone-b", ""): 1.0},
    }


def test_assemble_builds_the_views_and_scales_rates_to_simulated_seconds() -> None:
    view = assemble(1000.0, answers(), time_scale=10.0)
    assert view.time == 1000.0
    assert set(view.services) == {"shop/cart", "shop/orphan", "shop/idle"}
    cart = view.services["shop/cart"]
    assert (cart.rps, cart.error_ratio) == (20.0, 0.1)
    assert (cart.p50_ms, cart.p95_ms, cart.p99_ms) == (5.0, 9.0, 12.0)
    assert cart.latency_buckets == ((10.0, 19.0), (math.inf, 20.0))
    assert (cart.cpu_cores, cart.cpu_ratio, cart.throttle_ratio) == (0.4, 0.2, 0.25)
    assert (cart.memory_bytes, cart.memory_ratio) == (100.0, 0.25)
    assert (cart.restarts, cart.pending_pods) == (3.0, 1.0)  # counts over the window
    assert (cart.replicas, cart.ready_replicas, cart.nodes) == (3.0, 2.0, ("n1", "n2"))
    idle = view.services["shop/idle"]
    assert idle.rps == 0 and math.isnan(idle.p99_ms) and idle.cpu_ratio == 0
    assert view.services["shop/orphan"].replicas == 0  # an Istio destination, no Deployment
    edge = view.edges["shop/front>cart"]
    assert (edge.rps, edge.error_ratio, edge.p99_ms) == (20.0, 0.1, 12.0)
    n1, n2 = view.nodes["n1"], view.nodes["n2"]
    assert (n1.cpu_cores, n1.cpu_ratio, n1.pods_cpu_cores) == (2.0, 0.5, 1.0)
    assert (n1.zone, n2.zone) == ("zone-old", "zone-b")
    assert n2.ready == 0 and n2.unschedulable and not n1.unschedulable
    assert math.isnan(n2.cpu_cores) and math.isnan(n2.cpu_ratio)  # no root cgroup: no data


def test_nothing_known_is_an_empty_view() -> None:
    view = assemble(5.0, {})
    assert (view.services, view.nodes, view.edges) == ({}, {}, {})


def test_durations_are_whole_milliseconds() -> None:
    assert duration(60) == "60000ms"
    assert duration(0.25) == "250ms"
    with pytest.raises(ValueError):
        duration(0)


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        PrometheusSource("http://127.0.0.1:9", time_scale=0)
