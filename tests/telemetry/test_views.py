"""The ViewBuilder on hand-made frames: the mapping rules of docs (owners, limits, Istio)."""

from __future__ import annotations

import math

import pytest

from telemetry import Frame, Sample, ViewBuilder
from telemetry.frame import group_by_name

WINDOW_S = 60.0


def s(name: str, value: float, **labels: str) -> Sample:
    return Sample(name, labels, value)


def pod(ns: str, name: str, node: str, rs: str) -> list[Sample]:
    ids = {"namespace": ns, "pod": name}
    return [
        s("kube_pod_owner", 1, **ids, owner_kind="ReplicaSet", owner_name=rs),
        s("kube_pod_info", 1, **ids, node=node),
        s("kube_pod_status_phase", 0, **ids, phase="Pending"),
        s("kube_pod_status_phase", 1, **ids, phase="Running"),
    ]


def container(ns: str, pod: str, node: str, **values: float) -> list[Sample]:
    ids = {"namespace": ns, "pod": pod, "container": "app", "node": node}
    return [s(name, v, **ids) for name, v in values.items()]


def gauges() -> list[Sample]:
    return [
        s("kube_deployment_spec_replicas", 3, namespace="shop", deployment="cart"),
        s("kube_deployment_status_replicas_ready", 2, namespace="shop", deployment="cart"),
        s(
            "kube_replicaset_owner",
            1,
            namespace="shop",
            replicaset="cart-1",
            owner_kind="Deployment",
            owner_name="cart",
        ),
        *pod("shop", "cart-1-a", "n1", "cart-1"),
        *pod("shop", "cart-1-b", "n2", "cart-1"),
        s(
            "kube_pod_owner",
            1,
            namespace="shop",
            pod="cart-1-c",
            owner_kind="ReplicaSet",
            owner_name="cart-1",
        ),
        s("kube_pod_status_phase", 1, namespace="shop", pod="cart-1-c", phase="Pending"),
        s(
            "kube_pod_container_resource_limits",
            0.5,
            namespace="shop",
            pod="cart-1-a",
            container="app",
            resource="cpu",
        ),
        s(
            "kube_pod_container_resource_requests",
            0.25,
            namespace="shop",
            pod="cart-1-b",
            container="app",
            resource="cpu",
        ),
        s(
            "kube_pod_container_resource_limits",
            100,
            namespace="shop",
            pod="cart-1-a",
            container="app",
            resource="memory",
        ),
        s(
            "kube_pod_container_resource_limits",
            100,
            namespace="shop",
            pod="cart-1-b",
            container="app",
            resource="memory",
        ),
        *container("shop", "cart-1-a", "n1", container_memory_working_set_bytes=30),
        *container("shop", "cart-1-b", "n2", container_memory_working_set_bytes=20),
        # real cAdvisor's pod-level and pause-container cgroups are not containers of the pod
        s(
            "container_memory_working_set_bytes",
            999,
            namespace="shop",
            pod="cart-1-a",
            container="",
            node="n1",
        ),
        s(
            "container_memory_working_set_bytes",
            999,
            namespace="shop",
            pod="cart-1-a",
            container="POD",
            node="n1",
        ),
        s("container_memory_working_set_bytes", 4000, id="/", node="n1"),
        s("kube_node_info", 1, node="n1"),
        s("kube_node_info", 1, node="n2"),
        s("machine_cpu_cores", 4, node="n1"),
        s("kube_node_status_capacity", 8, node="n2", resource="cpu", unit="core"),
        s("kube_node_status_condition", 1, node="n1", condition="Ready", status="true"),
        s("kube_node_status_condition", 0, node="n2", condition="Ready", status="true"),
        s("kube_node_spec_unschedulable", 1, node="n2"),
        s("kube_node_labels", 1, node="n1", label_topology_kubernetes_io_zone="zone-a"),
    ]


def istio(src: str, dst: str, code: str, rate: float, reporter: str = "source") -> Sample:
    return s(
        "istio_requests_total",
        rate,
        reporter=reporter,
        source_workload=src,
        destination_workload=dst,
        destination_workload_namespace="shop",
        response_code=code,
    )


def bucket(src: str, dst: str, le: str, rate: float, reporter: str = "source") -> Sample:
    return s(
        "istio_request_duration_milliseconds_bucket",
        rate,
        reporter=reporter,
        source_workload=src,
        destination_workload=dst,
        destination_workload_namespace="shop",
        response_code="200",
        le=le,
    )


def rates() -> list[Sample]:
    return [
        *container("shop", "cart-1-a", "n1", container_cpu_usage_seconds_total=0.25),
        *container("shop", "cart-1-b", "n2", container_cpu_usage_seconds_total=0.05),
        *container("shop", "cart-1-a", "n1", container_cpu_cfs_periods_total=10),
        *container("shop", "cart-1-b", "n2", container_cpu_cfs_periods_total=10),
        *container("shop", "cart-1-a", "n1", container_cpu_cfs_throttled_periods_total=5),
        s("container_cpu_usage_seconds_total", 1.0, id="/", node="n1"),
        s(
            "kube_pod_container_status_restarts_total",
            2 / WINDOW_S,
            namespace="shop",
            pod="cart-1-b",
            container="app",
        ),
        istio("web", "cart", "200", 8),
        istio("web", "cart", "503", 1.5),
        istio("api", "cart", "500", 0.5),
        istio("web", "cart", "200", 1000, reporter="destination"),  # the callee's own report
        istio("cart", "db", "200", 4),
        bucket("web", "cart", "10", 4),
        bucket("web", "cart", "100", 8),
        bucket("web", "cart", "+Inf", 10),
        bucket("web", "cart", "10", 1000, reporter="destination"),
    ]


def frame(with_rates: bool = True) -> Frame:
    return Frame(
        1000.0,
        WINDOW_S if with_rates else 0.0,
        group_by_name(gauges()),
        group_by_name(rates()) if with_rates else {},
    )


def test_service_view_from_the_mapping_rules() -> None:
    view = ViewBuilder().build(frame())
    cart = view.services["shop/cart"]
    assert (cart.replicas, cart.ready_replicas, cart.pending_pods) == (3, 2, 1)
    assert cart.nodes == ("n1", "n2")
    assert cart.cpu_cores == pytest.approx(0.30)
    assert cart.cpu_ratio == pytest.approx(0.30 / (0.5 + 0.25))  # limit, else request
    assert cart.throttle_ratio == pytest.approx(5 / 20)
    assert (cart.memory_bytes, cart.memory_ratio) == (50, pytest.approx(50 / 200))
    assert cart.restarts == pytest.approx(2)
    assert cart.rps == pytest.approx(10)  # all callers, source-reported only
    assert cart.error_ratio == pytest.approx(0.2)
    # 10 requests/s: 4 under 10 ms, 8 under 100 ms; median rank 5 in (10, 100]
    assert cart.p50_ms == pytest.approx(10 + 90 * (5 - 4) / 4)
    assert cart.p99_ms == 100  # rank 9.9 in +Inf: the highest finite bound
    assert cart.latency_buckets == ((10.0, 4.0), (100.0, 8.0), (math.inf, 10.0))


def test_istio_destinations_without_a_deployment_are_services_and_edges_have_callers() -> None:
    view = ViewBuilder().build(frame())
    db = view.services["shop/db"]
    assert (db.rps, db.replicas, db.cpu_cores) == (4, 0, 0)
    assert math.isnan(db.p99_ms)  # no histogram: no latency
    assert set(view.edges) == {"shop/web>cart", "shop/api>cart", "shop/cart>db"}
    assert view.edges["shop/api>cart"].error_ratio == 1.0
    assert view.edges["shop/web>cart"].error_ratio == pytest.approx(1.5 / 9.5)
    assert view.call_graph() == {
        "shop/web": {"shop/cart"},
        "shop/api": {"shop/cart"},
        "shop/cart": {"shop/db"},
    }


def test_node_views() -> None:
    nodes = ViewBuilder().build(frame()).nodes
    n1, n2 = nodes["n1"], nodes["n2"]
    assert (n1.cpu_capacity, n1.cpu_cores, n1.cpu_ratio) == (4, 1.0, 0.25)
    assert n1.pods_cpu_cores == pytest.approx(0.25)
    assert (n1.memory_bytes, n1.pods, n1.ready, n1.unschedulable, n1.zone) == (
        4000,
        1,
        1,
        False,
        "zone-a",
    )
    assert n2.cpu_capacity == 8
    assert math.isnan(n2.cpu_cores), "no root cgroup series (kubelet down): no data"
    assert (n2.pods_cpu_cores, n2.memory_bytes, n2.ready, n2.unschedulable) == (
        pytest.approx(0.05),
        20,
        0,
        True,
    )


def test_a_frame_without_rates_has_no_rate_figures() -> None:
    view = ViewBuilder().build(frame(with_rates=False))
    cart = view.services["shop/cart"]
    assert all(math.isnan(v) for v in (cart.rps, cart.error_ratio, cart.cpu_cores, cart.restarts))
    assert (cart.replicas, cart.memory_bytes) == (3, 50)
    assert view.edges == {}
    assert math.isnan(view.nodes["n1"].cpu_cores)


def test_held_gauges_attribute_the_usage_of_pods_gone_during_the_window() -> None:
    current = [g for g in gauges() if g.labels.get("pod") != "cart-1-b"]
    held = group_by_name(g for g in gauges() if g.name in ViewBuilder.held)
    f = Frame(1000.0, WINDOW_S, group_by_name(current), group_by_name(rates()), held)
    cart = ViewBuilder().build(f).services["shop/cart"]
    assert cart.cpu_cores == pytest.approx(0.30), "the deleted pod's CPU in the window counts"
    assert cart.nodes == ("n1",), "but it is no longer one of the service's pods"
