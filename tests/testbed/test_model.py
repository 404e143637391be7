"""The simulated cluster, in process: traffic and performance, scheduling, Kubernetes timing.

Each test builds a :class:`~testbed.cluster.Cluster` of the default hotel application (or a small
workload of its own), steps simulated time and asserts on what the model exposes: the traffic
state of the last tick, per-pod counters in ``cluster.arrays``, object state and events.
``noise=0`` where exact values help.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testbed import metrics
from testbed.app import load_app
from testbed.cluster import Cluster, EvictionBlocked
from testbed.controllers import UNREACHABLE, UNSCHEDULABLE
from testbed.events import Event
from testbed.load import Constant, FlashCrowd, LoadProfile, Step
from testbed.objects import REVISION_ANNOTATION, Deployment, Node, Pod
from testbed.timing import Timing
from testbed.traffic import CODES

NS = "hotel"
OK, E500, E503, E504 = (CODES.index(c) for c in ("200", "500", "503", "504"))


# ---------------------------------------------------------------------- helpers


def _cluster(
    load: LoadProfile | None = None, *, seed: int = 3, noise: float = 0.0, **kwargs: Any
) -> Cluster:
    return Cluster(seed=seed, load=load or Constant(50), noise=noise, **kwargs)


def _settled(load: LoadProfile | None = None, **kwargs: Any) -> Cluster:
    """A hotel cluster with every pod Ready."""
    cluster = _cluster(load, **kwargs)
    expected = sum(s.replicas for s in cluster.apps[0].spec.services)

    def settled() -> bool:
        pods = list(cluster.pods.values())
        return len(pods) == expected and all(p.ready for p in pods)

    _advance_until(cluster, settled, 120)
    cluster.step()  # traffic over a tick follows the pods as they were at its start
    return cluster


def _advance_until(cluster: Cluster, done: Callable[[], bool], limit_s: float) -> float:
    """Step until ``done()``; return the simulated seconds it took."""
    start = cluster.now
    while not done():
        assert cluster.now - start < limit_s, f"not done within {limit_s} simulated seconds"
        cluster.step()
    return cluster.now - start


def _pods(cluster: Cluster, deployment: str, *, deleting: bool = False) -> list[Pod]:
    """The deployment's pods, by name; terminating ones only with ``deleting=True``."""
    dep = cluster.deployments[(NS, deployment)]
    return sorted(
        (p for rs in dep.replicasets.values() for p in rs.pods if deleting or not p.deleting),
        key=lambda p: p.name,
    )


def _comp(cluster: Cluster, service: str) -> int:
    index = cluster.traffic.component_of(NS, service)
    assert index >= 0, service
    return index


def _events(cluster: Cluster, reason: str, name: str | None = None) -> list[Event]:
    return [
        e
        for e in cluster.events.all()
        if e.reason == reason and (name is None or e.involved.name == name)
    ]


def _workload(
    name: str,
    replicas: int = 1,
    *,
    image: str = "registry.local/worker:1.0",
    cpu: str = "100m",
    memory: str = "64Mi",
    strategy: dict[str, Any] | None = None,
    **pod_spec: Any,
) -> dict[str, Any]:
    """A Deployment spec for a service outside the application's call graph."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": name,
                        "image": image,
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
                **pod_spec,
            },
        },
    }
    if strategy is not None:
        spec["strategy"] = strategy
    return spec


def _deploy(cluster: Cluster, name: str, replicas: int = 1, **kwargs: Any) -> Deployment:
    return cluster.apply_deployment(
        NS, name, {"labels": {"app": name}}, _workload(name, replicas, **kwargs)
    )


def _update(cluster: Cluster, name: str, change: Callable[[dict[str, Any]], None]) -> Deployment:
    """Change a copy of the deployment's spec and apply it, as ``kubectl edit`` would."""
    dep = cluster.deployments[(NS, name)]
    spec = copy.deepcopy(dep.spec)
    change(spec)
    meta = {"labels": dict(dep.meta.labels), "annotations": dict(dep.meta.annotations)}
    return cluster.apply_deployment(NS, name, meta, spec)


def _scale(cluster: Cluster, name: str, replicas: int) -> Deployment:
    return _update(cluster, name, lambda spec: spec.update(replicas=replicas))


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = spec["template"]["spec"]["containers"][0]
    return container


def _patch_node_spec(cluster: Cluster, node: Node, **changes: Any) -> None:
    cluster.patch_node(node, node.meta.labels, node.meta.annotations, {**node.spec, **changes})


def _usage(cluster: Cluster, pods: list[Pod], seconds: float) -> dict[str, tuple[float, float]]:
    """Per pod over the next ``seconds``: CPU cores used, share of CFS periods throttled."""
    arrays = cluster.arrays
    slots = [p.slot for p in pods]
    cpu0, thr0, per0 = (
        arrays.cpu_total[slots].copy(),
        arrays.throttled[slots].copy(),
        arrays.periods[slots].copy(),
    )
    cluster.advance(seconds)
    cpu = (arrays.cpu_total[slots] - cpu0) / seconds
    periods = arrays.periods[slots] - per0
    throttled = (arrays.throttled[slots] - thr0) / np.maximum(periods, 1e-9)
    return {p.name: (float(c), float(t)) for p, c, t in zip(pods, cpu, throttled, strict=True)}


# ---------------------------------------------------------------------- load and performance


def _under_load(
    rps: float,
) -> tuple[float, dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    cluster = _settled(Constant(rps))
    search = _usage(cluster, _pods(cluster, "search"), 60)
    geo = _usage(cluster, _pods(cluster, "geo"), 60)
    return float(cluster.traffic.latency[_comp(cluster, "frontend")]), search, geo


def test_more_load_raises_latency_cpu_and_throttling() -> None:
    low_latency, low_search, low_geo = _under_load(50)
    high_latency, high_search, high_geo = _under_load(300)

    assert high_latency > 1.2 * low_latency
    assert len(low_search) == len(high_search) == 2
    for low, high in zip(
        [*low_search.values(), *low_geo.values()],
        [*high_search.values(), *high_geo.values()],
        strict=True,
    ):
        assert high[0] > 3 * low[0]  # CPU rate follows the request rate
        assert high[1] >= low[1]
    # geo (500m limit, 2 ms CPU per request) runs past half its limit at 300 rps: throttled
    assert [t for _, t in low_geo.values()] == [0.0]
    assert all(t > 0.1 for _, t in high_geo.values())


def test_pod_cpu_is_idle_plus_cpu_time_per_request() -> None:
    cluster = _settled(Constant(100))
    app = cluster.apps[0].spec
    geo = app.service("geo")
    calls = {c.service: c.ratio for c in app.service("search").calls}
    search_share = {c.service: c.ratio for c in app.service("frontend").calls}["search"]
    geo_rps = 100 * search_share * calls["geo"]

    usage = _usage(cluster, _pods(cluster, "geo"), 30)

    ((cores, _),) = usage.values()
    assert cores == pytest.approx(0.005 + geo_rps * geo.cpu_ms / 1000, rel=1e-6)
    assert cluster.traffic.lam[_comp(cluster, "geo")] == pytest.approx(geo_rps)


def test_step_in_load_raises_latency_and_cpu_within_one_run() -> None:
    cluster = _settled(Step(base=50, to=300, at_s=150))
    frontend = _comp(cluster, "frontend")
    pods = _pods(cluster, "search") + _pods(cluster, "geo")
    before = _usage(cluster, pods, 150 - cluster.elapsed - 5)
    latency_before = cluster.traffic.latency[frontend]
    cluster.advance(10)
    after = _usage(cluster, pods, 60)
    latency_after = cluster.traffic.latency[frontend]

    assert cluster.traffic.lam[frontend] == 300
    assert latency_after > 1.2 * latency_before
    for name in before:
        assert after[name][0] > 3 * before[name][0], name
    assert sum(t for _, t in after.values()) > sum(t for _, t in before.values())


# ---------------------------------------------------------------------- saturation and errors


def _frontend_error_from(cluster: Cluster, callee: str, failing: float) -> float:
    ratio = {c.service: c.ratio for c in cluster.apps[0].spec.service("frontend").calls}[callee]
    assert ratio < 1
    return ratio * failing  # that share of requests calls the failing service once


def test_saturated_dependency_rejects_and_errors_reach_the_callers() -> None:
    cluster = _settled(Constant(200))
    traffic = cluster.traffic
    assert not traffic.error.any(), "healthy before the change"
    edge = traffic.edge_between(NS, "search", "geo")

    def starve(spec: dict[str, Any]) -> None:
        _container(spec)["resources"]["limits"]["cpu"] = "50m"

    _update(cluster, "geo", starve)
    _advance_until(
        cluster,
        lambda: (
            [p.template.cpu_limit for p in _pods(cluster, "geo", deleting=True)] == [0.05]
            and _pods(cluster, "geo")[0].ready
        ),
        60,
    )
    before = traffic.requests.copy()
    cluster.advance(60)
    counted = traffic.requests - before

    geo, search, frontend = (_comp(cluster, s) for s in ("geo", "search", "frontend"))
    # geo serves what 50m of CPU allows (2 ms per request) and rejects the rest with 503
    capacity = (0.05 - 0.005) / 0.002
    assert traffic.error503[geo] == pytest.approx(1 - capacity / traffic.lam[geo], rel=1e-6)
    ((geo_cores, _),) = _usage(cluster, _pods(cluster, "geo"), 10).values()
    assert geo_cores == pytest.approx(0.05)
    # the caller's edge counts the failures
    assert traffic.edge_fail[edge, E503] == pytest.approx(traffic.error503[geo])
    assert counted[edge, E503] > 0.5 * counted[edge].sum()
    assert traffic.error[search] == pytest.approx(traffic.error503[geo], rel=1e-3)
    # the entry fails for the share of requests that go through search
    assert traffic.error[frontend] == pytest.approx(
        _frontend_error_from(cluster, "search", traffic.error[search]), rel=1e-3
    )
    entry_edge = traffic.entries[0][0]
    assert counted[entry_edge, E500] > 0
    # services off the failing path stay error-free
    for name in ("user", "reservation", "profile", "rate", "recommendation"):
        assert traffic.error[_comp(cluster, name)] == 0, name
        to = (
            traffic.edge_between(NS, "frontend", name)
            if name != "rate"
            else traffic.edge_between(NS, "search", "rate")
        )
        assert counted[to, OK] > 0
        assert counted[to, E500:].sum() < 1e-9, name


def test_flash_crowd_overloads_and_recovers() -> None:
    cluster = _settled(FlashCrowd(base=50, peak=1500, at_s=100, rise_s=10, hold_s=60, decay_s=30))
    frontend = _comp(cluster, "frontend")
    _advance_until(cluster, lambda: cluster.elapsed >= 140, 200)
    at_peak = float(cluster.traffic.error[frontend])
    worst = max(range(len(cluster.traffic.components)), key=lambda c: cluster.traffic.error503[c])
    cluster.advance(120)

    assert at_peak > 0.05
    assert cluster.traffic.error503[worst] == 0
    assert cluster.traffic.error[frontend] == 0


def test_no_endpoints_fails_every_call_to_the_service() -> None:
    cluster = _settled(Constant(100))
    _scale(cluster, "geo", 0)
    cluster.advance(10)
    traffic = cluster.traffic
    edge = traffic.edge_between(NS, "search", "geo")

    assert traffic.serving[_comp(cluster, "geo")] == 0
    assert traffic.edge_fail[edge, E503] == 1.0
    assert traffic.error[_comp(cluster, "search")] == 1.0
    # 60 % of the entry's requests search; the others still succeed
    assert traffic.error[_comp(cluster, "frontend")] == pytest.approx(
        _frontend_error_from(cluster, "search", 1.0)
    )


def test_node_cpu_overcommit_slows_only_the_pods_on_that_node() -> None:
    cluster = _settled(Constant(100))
    arrays = cluster.arrays
    node = _pods(cluster, "geo")[0].node
    assert node is not None
    cluster.advance(5)
    before = {p.name: float(arrays.pod_lat[p.slot]) for p in cluster.pods.values()}

    arrays.node_extra[node.index] = 10 * node.cpu
    cluster.advance(5)

    on_node = [p for p in cluster.pods.values() if p.node is node]
    elsewhere = [p for p in cluster.pods.values() if p.node is not node]
    assert on_node and elsewhere
    for pod in on_node:
        assert arrays.pod_lat[pod.slot] > 2 * before[pod.name], pod.name
    for pod in elsewhere:
        assert arrays.pod_lat[pod.slot] == pytest.approx(before[pod.name], rel=1e-3), pod.name


# ---------------------------------------------------------------------- fault hooks


def _hooked(hook: Callable[[Cluster, int, int], None]) -> tuple[Cluster, np.ndarray, np.ndarray]:
    """A settled cluster before and after ``hook(cluster, geo, search->geo edge)``: latencies."""
    cluster = _settled(Constant(100))
    cluster.advance(5)
    traffic = cluster.traffic
    before = traffic.latency.copy(), traffic.own_latency.copy()
    hook(cluster, _comp(cluster, "geo"), traffic.edge_between(NS, "search", "geo"))
    cluster.advance(5)
    return cluster, *before


def test_extra_latency_adds_to_the_service_and_its_callers() -> None:
    def hook(cluster: Cluster, geo: int, edge: int) -> None:
        cluster.traffic.extra_latency_s[geo] = 0.2

    cluster, latency, _ = _hooked(hook)
    traffic = cluster.traffic
    geo, search, frontend = (_comp(cluster, s) for s in ("geo", "search", "frontend"))
    assert traffic.own_latency[geo] == pytest.approx(latency[geo] + 0.2, rel=0.05)
    assert traffic.latency[search] > latency[search] + 0.19
    assert traffic.latency[frontend] > latency[frontend] + 0.6 * 0.19
    assert traffic.latency[_comp(cluster, "profile")] == pytest.approx(
        latency[_comp(cluster, "profile")]
    )
    assert traffic.error[frontend] < 0.01


def test_latency_past_the_callers_timeout_gives_504s() -> None:
    def hook(cluster: Cluster, geo: int, edge: int) -> None:
        cluster.traffic.extra_latency_s[geo] = 3.0

    cluster, _, _ = _hooked(hook)
    traffic = cluster.traffic
    geo, search = _comp(cluster, "geo"), _comp(cluster, "search")
    edge = traffic.edge_between(NS, "search", "geo")
    timeout = cluster.apps[0].spec.service("search").timeout_ms / 1000
    # the caller gives up after its timeout; latency has an exponential tail
    assert traffic.edge_fail[edge, E504] == pytest.approx(math.exp(-timeout / traffic.latency[geo]))
    assert traffic.edge_fail[edge, E504] > 0.5
    assert traffic.error[geo] == 0  # geo itself answers, slowly
    assert traffic.error[search] == pytest.approx(traffic.edge_fail[edge, E504], rel=1e-3)


@pytest.mark.parametrize(
    ("hook", "code", "share", "geo_error"),
    [
        (lambda c, geo, e: c.traffic.extra_error.__setitem__(geo, 0.5), E500, 0.5, 0.5),
        (lambda c, geo, e: c.traffic.edge_loss.__setitem__(e, 0.3), E503, 0.3, 0.0),
        (lambda c, geo, e: c.traffic.edge_error.__setitem__(e, 0.2), E500, 0.2, 0.0),
    ],
    ids=["service-error", "edge-loss", "edge-error"],
)
def test_error_hooks_fail_that_share_of_calls(
    hook: Callable[[Cluster, int, int], None], code: int, share: float, geo_error: float
) -> None:
    cluster, _, _ = _hooked(hook)
    traffic = cluster.traffic
    edge = traffic.edge_between(NS, "search", "geo")
    assert traffic.edge_fail[edge, code] == pytest.approx(share)
    assert traffic.edge_fail[edge, OK] == pytest.approx(1 - share, abs=1e-3)
    assert traffic.error[_comp(cluster, "geo")] == pytest.approx(geo_error)
    assert traffic.error[_comp(cluster, "search")] == pytest.approx(share, abs=1e-3)
    assert traffic.error[_comp(cluster, "frontend")] == pytest.approx(
        _frontend_error_from(cluster, "search", share), abs=1e-3
    )


def test_edge_delay_slows_the_caller_not_the_callee() -> None:
    def hook(cluster: Cluster, geo: int, edge: int) -> None:
        cluster.traffic.edge_delay_s[edge] = 0.1

    cluster, latency, own = _hooked(hook)
    traffic = cluster.traffic
    geo, search = _comp(cluster, "geo"), _comp(cluster, "search")
    assert traffic.latency[geo] == pytest.approx(latency[geo])
    assert traffic.own_latency[geo] == pytest.approx(own[geo])
    assert traffic.latency[search] == pytest.approx(latency[search] + 0.1, abs=0.005)


def test_cpu_stress_takes_the_pods_cpu_and_its_capacity() -> None:
    def hook(cluster: Cluster, geo: int, edge: int) -> None:
        cluster.arrays.stress[_pods(cluster, "geo")[0].slot] = 2.0

    cluster, latency, _ = _hooked(hook)
    traffic = cluster.traffic
    geo = _comp(cluster, "geo")
    ((cores, throttled),) = _usage(cluster, _pods(cluster, "geo"), 10).values()
    assert cores == pytest.approx(0.5)  # its limit
    assert throttled == 1.0
    assert traffic.latency[geo] > 10 * latency[geo]
    # the stressor and the requests share the 500m limit fairly (2 cores wanted against 0.5:
    # it gets 2 x 0.5 / 2.5); what is left serves 2 ms of CPU per request
    capacity = (0.5 - 0.005 - 2.0 * 0.5 / 2.5) / 0.002
    assert traffic.error503[geo] == pytest.approx(1 - capacity / traffic.lam[geo])


# ---------------------------------------------------------------------- services and endpoints


def test_service_whose_target_port_no_pod_serves_refuses_every_call() -> None:
    cluster = _settled(Constant(100))
    svc = cluster.services[(NS, "geo")]
    spec = copy.deepcopy(svc.spec)
    spec["ports"][0]["targetPort"] = 9999
    cluster.apply_service(NS, "geo", {"labels": dict(svc.meta.labels)}, spec)
    cluster.advance(3)
    traffic = cluster.traffic

    (pod,) = _pods(cluster, "geo")
    assert pod.ready  # the pod looks healthy
    assert traffic.serving[_comp(cluster, "geo")] == 1
    assert traffic.error503[_comp(cluster, "geo")] == 1.0
    assert traffic.lam[_comp(cluster, "geo")] > 0
    assert cluster.arrays.pod_lam[pod.slot] == 0


def test_service_selecting_no_pod_has_no_endpoints() -> None:
    cluster = _settled(Constant(100))
    svc = cluster.services[(NS, "geo")]
    cluster.apply_service(NS, "geo", {}, {**copy.deepcopy(svc.spec), "selector": {"app": "geo-v2"}})
    cluster.advance(3)
    assert cluster.traffic.serving[_comp(cluster, "geo")] == 0
    assert cluster.traffic.error[_comp(cluster, "search")] == 1.0
    # relabelling the pod brings it back behind the Service
    (pod,) = _pods(cluster, "geo")
    cluster.set_pod_metadata(pod, {**pod.meta.labels, "app": "geo-v2"}, pod.meta.annotations)
    cluster.advance(3)
    assert cluster.traffic.serving[_comp(cluster, "geo")] == 1
    assert cluster.traffic.error[_comp(cluster, "search")] == 0


def test_deleted_deployment_takes_its_pods_and_the_service_fails() -> None:
    cluster = _settled(Constant(100))
    cluster.delete_deployment(cluster.deployments[(NS, "user")])
    cluster.advance(cluster.timing.termination_s + 2)
    traffic = cluster.traffic
    assert not any(p.meta.labels.get("app") == "user" for p in cluster.pods.values())
    assert (NS, "user") not in cluster.deployments
    assert traffic.error503[_comp(cluster, "user")] == 1.0
    assert traffic.error[_comp(cluster, "frontend")] == pytest.approx(
        _frontend_error_from(cluster, "user", 1.0)
    )


# ---------------------------------------------------------------------- pod lifecycle timing


def test_deleted_pod_is_replaced_only_after_the_start_delay() -> None:
    cluster = _settled()
    timing = cluster.timing
    old = _pods(cluster, "geo")[0]
    for node in cluster.node_list:  # the image is already on every node
        node.images.add(old.template.image)
    delay = (
        timing.scheduling_s
        + timing.image_present_s
        + timing.container_start_s
        + timing.readiness_initial_delay_s
    )

    cluster.delete_pod(old)
    assert old.deleting
    _advance_until(cluster, lambda: len(_pods(cluster, "geo")) == 1, 2)
    (new,) = _pods(cluster, "geo")
    created = new.meta.created
    ready_at: float | None = None
    while ready_at is None:
        cluster.step()
        if cluster.now < created + delay:
            assert not new.ready, f"Ready {cluster.now - created:.1f} s after creation"
        if new.ready:
            ready_at = cluster.now
        assert cluster.now - created < delay + 5 * cluster.tick, "replacement never got Ready"

    assert new is not old and new.node is not None
    assert new.ready_since is not None
    # the scheduler runs once per tick: at most one tick later than Kubernetes would be
    assert delay <= new.ready_since - created <= delay + cluster.tick
    assert ready_at - cluster.tick < new.ready_since <= ready_at
    assert ("hotel", old.name) not in cluster.pods  # terminated after termination_s
    pulled = _events(cluster, "Pulled", new.name)
    assert pulled and "already present" in pulled[0].message


def test_force_deletion_removes_the_pod_at_once() -> None:
    cluster = _settled()
    (pod,) = _pods(cluster, "geo")
    cluster.delete_pod(pod, grace=0)
    assert (NS, pod.name) not in cluster.pods
    assert pod not in (pod.node.pods if pod.node else set())
    cluster.step()
    (replacement,) = _pods(cluster, "geo")
    assert replacement is not pod


def test_scale_down_removes_the_least_useful_pods_first() -> None:
    cluster = _settled()
    originals = _pods(cluster, "search")
    _scale(cluster, "search", 4)
    cluster.advance(3)  # the new pods are not Ready yet
    assert len(_pods(cluster, "search")) == 4
    _scale(cluster, "search", 2)
    cluster.step()
    assert _pods(cluster, "search") == originals


def test_new_image_is_pulled_before_the_container_starts() -> None:
    cluster = _settled()
    _deploy(cluster, "worker", image="registry.local/never-seen:1")
    cluster.advance(3)
    (pod,) = _pods(cluster, "worker")
    assert pod.node is not None and pod.scheduled_at is not None
    scheduled = pod.scheduled_at
    _advance_until(cluster, lambda: pod.container == "running", 30)

    assert pod.start_time is not None
    assert pod.start_time - scheduled == pytest.approx(
        cluster.timing.image_pull_s + cluster.timing.container_start_s, abs=1e-6
    )
    assert _events(cluster, "Pulling", pod.name)


def _leak(cluster: Cluster, pod: Pod, on: bool) -> None:
    """Leak memory fast enough to pass the memory limit a few seconds after each start."""
    cluster.arrays.leak_rate[pod.slot] = 40 * 2**20 if on else 0.0


def _crash_and_restart(cluster: Cluster, pod: Pod, limit_s: float = 400) -> tuple[float, float]:
    """Wait for the next OOM kill and the restart after it; return (killed at, restarted at)."""
    restarts = pod.restarts
    _advance_until(cluster, lambda: pod.waiting_reason == "CrashLoopBackOff", limit_s)
    killed = cluster.now
    assert pod.container == "waiting" and not pod.ready
    _advance_until(cluster, lambda: pod.restarts > restarts, limit_s)
    # the kubelet restarts when the back-off expires, between two ticks
    restarted = cluster.now - cluster.tick
    assert pod.restarts == restarts + 1
    return killed, restarted


def test_crash_loop_backoff_doubles_from_10_s_to_300_s() -> None:
    cluster = _settled()
    timing = cluster.timing
    (pod,) = _pods(cluster, "geo")
    _leak(cluster, pod, True)

    delays = []
    for _ in range(7):
        killed, restarted = _crash_and_restart(cluster, pod)
        delays.append(restarted - killed)

    assert delays == pytest.approx([10, 20, 40, 80, 160, 300, 300], abs=cluster.tick)
    assert timing.backoff_initial_s == 10 and timing.backoff_max_s == 300
    assert pod.restarts == 7
    assert pod.last_state is not None
    assert pod.last_state["terminated"]["reason"] == "OOMKilled"
    assert pod.last_state["terminated"]["exitCode"] == 137
    assert _events(cluster, "BackOff", pod.name)[0].count == 7
    assert cluster.arrays.oom_events[pod.slot] == 7
    oom = _events(cluster, "OOMKilling")
    assert oom and all(e.involved.kind == "Node" for e in oom)


def test_crash_loop_backoff_resets_after_600_s_of_running() -> None:
    cluster = _settled()
    (pod,) = _pods(cluster, "geo")
    _leak(cluster, pod, True)
    for _ in range(6):  # back-off at its 300 s cap
        _crash_and_restart(cluster, pod)

    _leak(cluster, pod, False)  # runs for 100 s: too short, the back-off stays
    cluster.advance(100)
    assert pod.container == "running"
    _leak(cluster, pod, True)
    killed, restarted = _crash_and_restart(cluster, pod)
    assert restarted - killed == pytest.approx(300, abs=cluster.tick)

    _leak(cluster, pod, False)  # runs for over 600 s: the back-off starts again at 10 s
    _advance_until(cluster, lambda: pod.ready, 30)
    cluster.advance(cluster.timing.backoff_reset_s + 10)
    assert pod.container == "running" and pod.ready
    _leak(cluster, pod, True)
    killed, restarted = _crash_and_restart(cluster, pod)
    assert restarted - killed == pytest.approx(10, abs=cluster.tick)


def test_memory_limit_enforced_with_oomkilled() -> None:
    cluster = _settled()
    (pod,) = _pods(cluster, "user")
    limit = pod.template.memory_limit
    arrays = cluster.arrays
    arrays.leak_rate[pod.slot] = 2 * 2**20
    peak = 0.0
    while pod.container == "running":
        peak = max(peak, float(arrays.mem_ws[pod.slot]))
        assert cluster.elapsed < 600
        cluster.step()

    assert limit == 192 * 2**20
    assert peak <= limit  # killed on the tick it crossed the limit
    assert pod.last_state is not None
    terminated = pod.last_state["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    assert pod.waiting_reason == "CrashLoopBackOff"
    assert arrays.mem_ws[pod.slot] == 0
    # no limit, no kill
    (other,) = _pods(cluster, "reservation")
    _update(cluster, "reservation", lambda s: _container(s)["resources"]["limits"].pop("memory"))

    def replaced() -> bool:
        pods = _pods(cluster, "reservation", deleting=True)
        return len(pods) == 1 and pods[0] is not other and pods[0].ready

    _advance_until(cluster, replaced, 60)
    (unlimited,) = _pods(cluster, "reservation")
    assert unlimited.template.memory_limit == 0
    arrays.leak_rate[unlimited.slot] = 10 * 2**20
    cluster.advance(60)
    assert unlimited.container == "running" and unlimited.restarts == 0
    assert arrays.mem_ws[unlimited.slot] > 500 * 2**20


# ---------------------------------------------------------------------- node failure


def test_failed_node_goes_unknown_after_40_s_and_its_pods_are_evicted_after_300_s() -> None:
    cluster = _settled(Constant(100))
    timing = cluster.timing
    (geo,) = _pods(cluster, "geo")
    node = geo.node
    assert node is not None
    victims = sorted(node.pods, key=lambda p: p.name)
    failed_at = cluster.now
    cluster.fail_node(node.name)

    # Ready until the node monitor grace period passes
    _advance_until(cluster, lambda: node.ready != "True", 60)
    assert cluster.now - failed_at == pytest.approx(timing.node_monitor_grace_s, abs=cluster.tick)
    assert node.ready == "Unknown"
    assert {(t["key"], t["effect"]) for t in node.taints} == {
        (UNREACHABLE, "NoSchedule"),
        (UNREACHABLE, "NoExecute"),
    }
    assert all(not p.ready and not p.deleting for p in victims)
    assert not any(cluster.arrays.serving[p.slot] for p in victims)
    assert _events(cluster, "NodeNotReady", node.name)

    # marked for deletion once the default toleration of 300 s has passed
    _advance_until(cluster, lambda: geo.deleting, timing.default_toleration_s + 10)
    unknown_at = failed_at + timing.node_monitor_grace_s
    assert geo.meta.deletion == pytest.approx(
        unknown_at + timing.default_toleration_s, abs=cluster.tick
    )
    assert all(p.deleting for p in victims)
    assert _events(cluster, "TaintManagerEviction", geo.name)
    # replacements run elsewhere; the victims stay Terminating while the node is silent
    cluster.advance(30)
    for name in {p.rs.deployment.name for p in victims if p.rs and p.rs.deployment}:
        pods = _pods(cluster, name)
        assert pods and all(p.ready and p.node is not node for p in pods), name
    assert all((NS, p.name) in cluster.pods for p in victims)
    assert cluster.traffic.error[_comp(cluster, "frontend")] == 0

    cluster.recover_node(node.name)
    cluster.advance(5)
    assert node.ready == "True" and not node.taints
    assert all((NS, p.name) not in cluster.pods for p in victims)
    assert not node.pods
    assert _events(cluster, "NodeReady", node.name)


def test_short_outage_resumes_pods_that_were_starting_or_terminating() -> None:
    cluster = _settled()
    (geo,) = _pods(cluster, "geo")
    node = geo.node
    assert node is not None
    cluster.delete_pod(geo)  # terminating: its container exits termination_s later
    _deploy(cluster, "worker", nodeSelector={"kubernetes.io/hostname": node.name})
    cluster.step()
    (worker,) = _pods(cluster, "worker")
    cluster.fail_node(node.name)
    cluster.advance(10)  # well within the grace period: the node never goes NotReady
    assert node.ready == "True"
    cluster.recover_node(node.name)
    cluster.advance(30)

    assert (NS, geo.name) not in cluster.pods
    assert worker.container == "running" and worker.ready
    assert all(p.ready for p in cluster.pods.values())


def test_calls_to_a_silent_nodes_pods_fail_until_endpoints_drop_them() -> None:
    cluster = _settled(Constant(100))
    (geo,) = _pods(cluster, "geo")
    assert geo.node is not None
    cluster.fail_node(geo.node.name)
    cluster.advance(5)
    assert cluster.traffic.error503[_comp(cluster, "geo")] == 1.0
    assert cluster.traffic.serving[_comp(cluster, "geo")] == 1  # still an endpoint
    cluster.advance(cluster.timing.node_monitor_grace_s)
    assert cluster.traffic.serving[_comp(cluster, "geo")] == 0


# ---------------------------------------------------------------------- scheduling


def test_cordoned_node_gets_no_new_pods_and_keeps_its_own() -> None:
    cluster = _settled()
    node = _pods(cluster, "search")[0].node
    assert node is not None
    kept = sorted(node.pods, key=lambda p: p.name)
    _patch_node_spec(cluster, node, unschedulable=True)
    cordoned_at = cluster.now
    assert any(t["key"] == UNSCHEDULABLE and t["effect"] == "NoSchedule" for t in node.taints)
    assert _events(cluster, "NodeNotSchedulable", node.name)

    scaled = ("frontend", "search", "profile", "rate")
    added = sum(6 - len(_pods(cluster, name)) for name in scaled)
    for name in scaled:
        _scale(cluster, name, 6)
    cluster.advance(30)

    new = [p for p in cluster.pods.values() if p.meta.created >= cordoned_at]
    assert len(new) == added
    assert all(p.node is not None and p.node is not node for p in new)
    assert all(p.ready for p in new)
    assert all(p.ready and p.phase == "Running" and p.node is node for p in kept)

    # a pod that can only go to the cordoned node waits; uncordoned, it runs there
    _deploy(cluster, "pinned", nodeSelector={"kubernetes.io/hostname": node.name})
    cluster.advance(5)
    (pinned,) = _pods(cluster, "pinned")
    assert pinned.node is None and pinned.phase == "Pending"
    assert pinned.failed_scheduling is not None
    assert "1 node(s) were unschedulable" in pinned.failed_scheduling
    _patch_node_spec(cluster, node, unschedulable=False)
    cluster.advance(5)
    assert pinned.node is node
    assert not node.taints


@pytest.mark.parametrize(
    ("pod_spec", "reason"),
    [
        (
            {"nodeSelector": {"disktype": "ssd"}},
            "4 node(s) didn't match Pod's node affinity/selector",
        ),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "topology.kubernetes.io/zone",
                                            "operator": "In",
                                            "values": ["zone-z"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            "4 node(s) didn't match Pod's node affinity/selector",
        ),
        ({"cpu": "5"}, "4 Insufficient cpu"),
        ({"memory": "20Gi"}, "4 Insufficient memory"),
    ],
    ids=["node-selector", "node-affinity", "cpu", "memory"],
)
def test_unschedulable_pod_stays_pending_with_failed_scheduling(
    pod_spec: dict[str, Any], reason: str
) -> None:
    cluster = _settled()
    _deploy(cluster, "picky", 2, **pod_spec)
    cluster.advance(25)

    pods = _pods(cluster, "picky")
    assert len(pods) == 2
    expected = (
        f"0/4 nodes are available: {reason}. preemption: 0/4 nodes are available: "
        "4 Preemption is not helpful for scheduling."
    )
    for pod in pods:
        assert pod.node is None and pod.phase == "Pending"
        assert pod.failed_scheduling == expected
        (event,) = _events(cluster, "FailedScheduling", pod.name)
        assert event.type == "Warning" and event.message == expected
        assert event.count >= 2  # retried every unschedulable_retry_s


def test_failed_scheduling_lists_reasons_sorted_like_kube_scheduler() -> None:
    cluster = _settled()
    first = cluster.node_list[0]
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    _patch_node_spec(cluster, first, taints=[taint])
    _deploy(cluster, "picky", nodeSelector={"disktype": "ssd"})
    cluster.advance(3)

    (pod,) = _pods(cluster, "picky")
    assert pod.failed_scheduling is not None
    assert pod.failed_scheduling.startswith(
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "3 node(s) didn't match Pod's node affinity/selector. "
    )


def test_taint_without_toleration_keeps_new_pods_off_but_not_running_ones() -> None:
    cluster = _settled()
    running = {p.name: p.node for p in cluster.pods.values()}
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    for node in cluster.node_list:
        _patch_node_spec(cluster, node, taints=[taint])
    _deploy(cluster, "intolerant")
    toleration = {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
    _deploy(cluster, "tolerant", tolerations=[toleration])
    _deploy(cluster, "tolerates-all", tolerations=[{"operator": "Exists"}])
    cluster.advance(15)

    (intolerant,) = _pods(cluster, "intolerant")
    assert intolerant.node is None
    assert intolerant.failed_scheduling is not None
    assert "4 node(s) had untolerated taint {dedicated: db}" in intolerant.failed_scheduling
    for name in ("tolerant", "tolerates-all"):
        (pod,) = _pods(cluster, name)
        assert pod.node is not None and pod.ready, name
    for pod in cluster.pods.values():  # NoSchedule does not evict
        if pod.name in running:
            assert pod.node is running[pod.name] and pod.ready and not pod.deleting


def test_required_pod_anti_affinity_puts_each_pod_on_its_own_node() -> None:
    cluster = _settled()
    term = {
        "labelSelector": {"matchLabels": {"app": "spread"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    _deploy(cluster, "spread", 5, affinity=anti)
    cluster.advance(20)

    pods = _pods(cluster, "spread")
    placed = [p for p in pods if p.node is not None]
    assert len(placed) == 4
    assert len({p.node.name for p in placed if p.node}) == 4
    (waiting,) = [p for p in pods if p.node is None]
    assert waiting.failed_scheduling is not None
    assert "4 node(s) didn't match pod anti-affinity rules" in waiting.failed_scheduling

    # zone as the topology: three zones, at most three pods
    term["topologyKey"] = "topology.kubernetes.io/zone"
    _deploy(
        cluster,
        "zonal",
        4,
        affinity={
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {**term, "labelSelector": {"matchLabels": {"app": "zonal"}}}
                ]
            }
        },
    )
    cluster.advance(20)
    zonal = [p for p in _pods(cluster, "zonal") if p.node is not None]
    assert len(zonal) == 3
    assert len({p.node.meta.labels["topology.kubernetes.io/zone"] for p in zonal if p.node}) == 3


@pytest.mark.parametrize(("surge", "unavailable", "completes"), [(1, 0, False), (0, 1, True)])
def test_required_anti_affinity_counts_terminating_pods_in_a_rollout(
    surge: int, unavailable: int, completes: bool
) -> None:
    cluster = _settled(timing=Timing(termination_s=10))  # old pods linger while terminating
    term = {
        "labelSelector": {"matchLabels": {"app": "ha"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    spec = {
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        },
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
    }
    dep = _deploy(cluster, "ha", 4, **spec)
    _advance_until(cluster, lambda: _rollout_bounds(dep) == (4, 4), 60)

    _deploy(cluster, "ha", 4, image="registry.local/worker:1.1", **spec)
    for _ in range(120):
        cluster.step()
        pods = _pods(cluster, "ha", deleting=True)  # terminating ones too
        nodes = [p.node.name for p in pods if p.node is not None]
        assert len(nodes) == len(set(nodes)), cluster.elapsed

    done = dep.conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert done is completes
    if not completes:  # every node holds an old pod: the surge pod cannot go anywhere
        (pending,) = [p for p in _pods(cluster, "ha") if p.node is None]
        assert pending.failed_scheduling is not None
        assert "4 node(s) didn't match pod anti-affinity rules" in pending.failed_scheduling


def test_scheduler_never_overcommits_cpu_requests() -> None:
    cluster = _settled()
    _deploy(cluster, "many", 60, cpu="300m")
    cluster.advance(20)

    for node in cluster.node_list:
        requested = sum(p.template.cpu_request for p in node.pods)
        assert requested <= node.cpu + 1e-9, node.name
        assert node.cpu - requested < 0.3, node.name  # full: the next one did not fit
    waiting = [p for p in _pods(cluster, "many") if p.node is None]
    assert waiting
    assert all("4 Insufficient cpu" in (p.failed_scheduling or "") for p in waiting)


def test_preferred_spread_puts_replicas_on_different_nodes() -> None:
    cluster = _settled()
    for name in ("frontend", "search", "rate", "profile"):
        nodes = [p.node for p in _pods(cluster, name)]
        assert len(set(nodes)) == len(nodes) == 2, name


def test_freed_capacity_lets_a_pending_pod_schedule() -> None:
    cluster = _settled()
    _deploy(cluster, "hog", 4, cpu="2")  # one per node: each node keeps under 2 CPUs free
    cluster.advance(15)
    assert len({p.node.name for p in _pods(cluster, "hog") if p.node is not None}) == 4
    _deploy(cluster, "late", cpu="2")
    cluster.advance(15)
    (late,) = _pods(cluster, "late")
    assert late.node is None and late.failed_scheduling is not None
    assert "Insufficient cpu" in late.failed_scheduling

    _scale(cluster, "hog", 0)
    cluster.advance(15)
    assert late.node is not None and late.ready


# ---------------------------------------------------------------------- rollouts


def _rollout_bounds(dep: Deployment) -> tuple[int, int]:
    pods = [p for rs in dep.replicasets.values() for p in rs.pods]
    active = [p for p in pods if not p.deleting]
    available = [p for p in active if p.ready]
    return len(active), len(available)


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "max_surge", "max_unavailable"),
    [(6, 2, 1, 2, 1), (4, "25%", "25%", 1, 1), (2, "25%", "25%", 1, 0), (3, 0, 1, 0, 1)],
)
def test_rolling_update_respects_surge_and_unavailability(
    replicas: int, surge: int | str, unavailable: int | str, max_surge: int, max_unavailable: int
) -> None:
    cluster = _settled()
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    dep = _deploy(cluster, "web", replicas, strategy=strategy)
    _advance_until(cluster, lambda: _rollout_bounds(dep) == (replicas, replicas), 60)
    (old,) = dep.replicasets.values()
    assert old.revision == 1

    _deploy(cluster, "web", replicas, strategy=strategy, image="registry.local/worker:1.1")
    most_active = replicas
    while (
        dep.conditions["Progressing"]["reason"] != "NewReplicaSetAvailable"
        or len(dep.replicasets) < 2
    ):
        cluster.step()
        active, available = _rollout_bounds(dep)
        assert active <= replicas + max_surge, cluster.elapsed
        assert available >= replicas - max_unavailable, cluster.elapsed
        most_active = max(most_active, active)
        assert cluster.elapsed < 300, "the rollout did not complete"

    assert most_active == replicas + max_surge  # the surge is used at once
    (new,) = [rs for rs in dep.replicasets.values() if rs is not old]
    assert new.revision == 2 and old.revision == 1
    assert dep.meta.annotations[REVISION_ANNOTATION] == "2"
    assert (new.replicas, old.replicas) == (replicas, 0)
    assert new.template.image == "registry.local/worker:1.1"
    status = dep.status
    assert status["updatedReplicas"] == status["availableReplicas"] == replicas
    assert status["observedGeneration"] == dep.meta.generation == 2
    cluster.advance(cluster.timing.termination_s + 1)
    assert {p.rs for p in _pods(cluster, "web", deleting=True)} == {new}


def test_rolling_update_of_an_application_service_keeps_serving() -> None:
    cluster = _settled(Constant(100))
    dep = cluster.deployments[(NS, "search")]
    (old,) = dep.replicasets.values()
    _update(
        cluster, "search", lambda s: _container(s).update(image="hotelreservation/search:v1.9.0")
    )
    frontend = _comp(cluster, "frontend")
    for _ in range(120):
        cluster.step()
        assert cluster.traffic.error[frontend] == 0
        assert cluster.traffic.serving[_comp(cluster, "search")] >= 2
    assert dep.conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert old.replicas == 0
    assert all(p.template.image.endswith("v1.9.0") for p in _pods(cluster, "search"))


def test_stuck_rollout_keeps_old_pods_and_exceeds_its_progress_deadline() -> None:
    cluster = _settled()
    dep = cluster.deployments[(NS, "search")]
    (old,) = dep.replicasets.values()
    _update(
        cluster, "search", lambda s: s["template"]["spec"].update(nodeSelector={"disktype": "ssd"})
    )
    cluster.advance(5)
    started = cluster.now
    assert dep.conditions["Progressing"]["reason"] == "ReplicaSetUpdated"

    def exceeded() -> bool:
        return dep.conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded"

    _advance_until(cluster, exceeded, 700)
    # no progress since the new replica set's first pod was created, just before ``started``
    assert 595 <= cluster.now - started <= 601
    assert dep.conditions["Progressing"]["status"] == "False"
    assert old.replicas == 2 and all(p.ready for p in old.pods)  # maxUnavailable 0 of 2
    assert dep.status["availableReplicas"] == 2
    assert dep.status["updatedReplicas"] == 1
    assert cluster.traffic.error[_comp(cluster, "frontend")] == 0


def test_min_ready_seconds_delays_availability() -> None:
    cluster = _settled()
    dep = cluster.apply_deployment(
        NS,
        "slow",
        {},
        {**_workload("slow", 2), "minReadySeconds": 10},
    )
    _advance_until(cluster, lambda: dep.status.get("readyReplicas") == 2, 60)
    ready_at = cluster.now
    assert dep.status["availableReplicas"] == 0
    _advance_until(cluster, lambda: dep.status["availableReplicas"] == 2, 30)
    assert cluster.now - ready_at == pytest.approx(10, abs=cluster.tick)


def test_recreate_terminates_old_pods_before_new_ones_start() -> None:
    cluster = _settled()
    strategy = {"type": "Recreate"}
    dep = _deploy(cluster, "batch", 3, strategy=strategy)
    _advance_until(cluster, lambda: _rollout_bounds(dep) == (3, 3), 60)
    (old,) = dep.replicasets.values()

    _deploy(cluster, "batch", 3, strategy=strategy, image="registry.local/worker:2.0")
    saw_downtime = False
    while True:
        cluster.step()
        new_pods = [p for rs in dep.replicasets.values() if rs is not old for p in rs.pods]
        if new_pods:
            assert not old.pods, "new pods while old ones still exist"
        saw_downtime |= _rollout_bounds(dep)[1] == 0
        if dep.conditions["Progressing"]["reason"] == "NewReplicaSetAvailable":
            break
        assert cluster.elapsed < 300

    assert saw_downtime  # Recreate accepts a gap: nothing serves between old and new
    (new,) = [rs for rs in dep.replicasets.values() if rs is not old]
    assert new.revision == 2 and new.replicas == 3 and old.replicas == 0
    assert len([p for p in new.pods if p.ready]) == 3


def test_paused_deployment_scales_but_does_not_roll_out() -> None:
    cluster = _settled()
    dep = _deploy(cluster, "web", 2)
    cluster.advance(20)
    (old,) = dep.replicasets.values()
    paused = {**_workload("web", 2, image="registry.local/worker:1.1"), "paused": True}
    cluster.apply_deployment(NS, "web", {}, paused)
    cluster.advance(30)
    assert list(dep.replicasets.values()) == [old]
    assert dep.conditions["Progressing"]["status"] == "Unknown"
    assert dep.conditions["Progressing"]["reason"] == "DeploymentPaused"

    cluster.apply_deployment(NS, "web", {}, {**paused, "replicas": 3})  # kubectl scale
    cluster.advance(dep.spec["progressDeadlineSeconds"] + 30)  # no deadline while paused
    assert old.replicas == 3 and len([p for p in old.pods if p.ready]) == 3
    assert dep.conditions["Progressing"]["reason"] == "DeploymentPaused"

    cluster.apply_deployment(NS, "web", {}, {**paused, "replicas": 3, "paused": False})
    _advance_until(
        cluster, lambda: dep.conditions["Progressing"]["reason"] == "NewReplicaSetAvailable", 120
    )
    (new,) = [rs for rs in dep.replicasets.values() if rs is not old]
    assert (new.revision, new.replicas, old.replicas) == (2, 3, 0)


def test_revision_history_limit_deletes_the_oldest_idle_replica_sets() -> None:
    cluster = _settled()
    for version in range(5):
        spec = _workload("web", image=f"registry.local/worker:{version}")
        cluster.apply_deployment(NS, "web", {}, {**spec, "revisionHistoryLimit": 2})
        cluster.advance(30)
    dep = cluster.deployments[(NS, "web")]
    assert sorted((rs.revision, rs.replicas) for rs in dep.replicasets.values()) == [
        (3, 0),
        (4, 0),
        (5, 1),
    ]
    assert {rs.name for rs in dep.replicasets.values()} == {
        name for (ns, name), rs in cluster.replicasets.items() if rs.deployment is dep
    }


def test_rollback_reuses_the_old_replica_set_as_revision_3() -> None:
    cluster = _settled()
    dep = _deploy(cluster, "web", 2)
    cluster.advance(20)
    (first,) = dep.replicasets.values()
    _deploy(cluster, "web", 2, image="registry.local/worker:1.1")
    cluster.advance(40)
    _deploy(cluster, "web", 2)
    cluster.advance(40)

    assert len(dep.replicasets) == 2
    assert first.revision == 3 and first.replicas == 2
    assert first.meta.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert dep.meta.annotations[REVISION_ANNOTATION] == "3"


# ---------------------------------------------------------------------- disruption budgets


def test_pdb_status_and_eviction() -> None:
    cluster = _settled()
    pdb = cluster.pdbs[(NS, "frontend")]
    assert pdb.spec["minAvailable"] == 1
    expected = {
        "currentHealthy": 2,
        "desiredHealthy": 1,
        "expectedPods": 2,
        "disruptionsAllowed": 1,
    }
    assert {k: pdb.status[k] for k in expected} == expected

    first, second = _pods(cluster, "frontend")
    cluster.evict_pod(first)
    assert first.deleting
    with pytest.raises(EvictionBlocked) as blocked:
        cluster.evict_pod(second)
    assert blocked.value.budget == "frontend"
    assert not second.deleting
    cluster.step()
    assert pdb.status["disruptionsAllowed"] == 0
    assert pdb.status["currentHealthy"] == 1

    _advance_until(cluster, lambda: pdb.status["disruptionsAllowed"] == 1, 30)
    cluster.evict_pod(second)
    assert second.deleting


@pytest.mark.parametrize(
    ("budget", "healthy", "desired", "allowed"),
    [
        ({"minAvailable": 2}, 4, 2, 2),
        ({"minAvailable": "75%"}, 4, 3, 1),
        ({"maxUnavailable": 1}, 4, 3, 1),
        ({"maxUnavailable": "30%"}, 4, 2, 2),  # rounds up: 2 may be unavailable
        ({"minAvailable": 5}, 4, 5, 0),
    ],
)
def test_pdb_disruptions_allowed(
    budget: dict[str, Any], healthy: int, desired: int, allowed: int
) -> None:
    cluster = _settled()
    _scale(cluster, "search", 4)
    cluster.advance(15)
    pdb = cluster.apply_pdb(
        NS, "search", {}, {**budget, "selector": {"matchLabels": {"app": "search"}}}
    )

    assert pdb.status["expectedPods"] == 4
    assert pdb.status["currentHealthy"] == healthy
    assert pdb.status["desiredHealthy"] == desired
    assert pdb.status["disruptionsAllowed"] == allowed
    pods = _pods(cluster, "search")
    for pod in pods[:allowed]:
        cluster.evict_pod(pod)
    with pytest.raises(EvictionBlocked):
        cluster.evict_pod(pods[allowed])


# ---------------------------------------------------------------------- determinism


def _metrics_after(seed: int, seconds: float = 300) -> str:
    """The exposition, the events and the resourceVersion after a run with a fault or two."""
    load = FlashCrowd(base=80, peak=400, at_s=100, rise_s=20, hold_s=40, decay_s=60)
    cluster = Cluster(seed=seed, load=load)
    cluster.advance(seconds / 2)
    cluster.delete_pod(_pods(cluster, "geo")[0])
    cluster.fail_node(cluster.node_list[1].name)
    cluster.advance(seconds / 2)
    events = "".join(
        f"{e.name} {e.first} {e.last} {e.count} {e.reason} {e.message}\n"
        for e in cluster.events.all()
    )
    with cluster.lock:
        return metrics.render(cluster) + events + f"rv={cluster.rv}\n"


def test_same_seed_gives_the_same_metrics_and_another_seed_does_not() -> None:
    first = _metrics_after(11)
    assert _metrics_after(11) == first
    assert _metrics_after(12) != first
    assert "istio_requests_total" in first


def test_no_wall_clock_leaks_into_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    first = _metrics_after(5, 120)
    later = now + 400 * 86400.0
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "time_ns", lambda: int(later * 1e9))
    monkeypatch.setattr(time, "monotonic", lambda: later)
    monkeypatch.setattr(time, "perf_counter", lambda: later)
    assert _metrics_after(5, 120) == first


def two_apps_digest(seed: int) -> str:
    """A digest of a run of two applications (also run in a child process by a test)."""
    app = load_app()
    cluster = Cluster([(app, "hotel"), (app, "hotel-b")], seed=seed)
    cluster.advance(60)
    cluster.fail_node(cluster.node_list[0].name)
    cluster.advance(60)
    events = "".join(f"{e.name} {e.message} {e.rv}\n" for e in cluster.events.all())
    versions = sorted(
        (kind, key, obj.meta.rv)
        for kind, objects in (
            ("pod", cluster.pods),
            ("deployment", cluster.deployments),
            ("replicaset", cluster.replicasets),
            ("pdb", cluster.pdbs),
        )
        for key, obj in objects.items()
    )
    text = metrics.render(cluster) + events + repr(versions)
    return hashlib.sha256(text.encode()).hexdigest()


def test_same_seed_gives_the_same_run_in_another_process() -> None:
    """String hashing differs per process: nothing may depend on the order of a set of names."""
    code = "from tests.testbed.test_model import two_apps_digest; print(two_apps_digest(4))"
    root = Path(__file__).parents[2]
    digests = set()
    for hash_seed in ("1", "2"):  # these two order {"hotel", "hotel-b"} differently
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        child = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(child.stdout.strip())
    assert digests == {two_apps_digest(4)}


def test_noise_off_gives_exact_steady_values() -> None:
    cluster = _settled(Constant(120))
    cluster.advance(10)  # latencies feed back into the callers' worker pools for a tick or two
    first = cluster.traffic.latency.copy()
    cluster.advance(30)
    assert np.array_equal(cluster.traffic.latency, first)
    assert math.isclose(float(cluster.traffic.lam[_comp(cluster, "frontend")]), 120.0)


@pytest.mark.parametrize("tick", [0.5, 5.0])
def test_the_tick_length_does_not_change_rates_or_timing(tick: float) -> None:
    def run(tick: float) -> tuple[np.ndarray, float, float]:
        cluster = _cluster(Constant(100), tick=tick)
        cluster.advance(60)
        requests, cpu = cluster.traffic.requests.copy(), cluster.arrays.cpu_total.sum()
        cluster.advance(120)
        node = cluster.node_list[2]
        failed = cluster.now
        cluster.fail_node(node.name)
        _advance_until(cluster, lambda: node.ready != "True", 60)
        return (
            cluster.traffic.requests - requests,
            float(cluster.arrays.cpu_total.sum() - cpu),
            cluster.now - failed,
        )

    requests, cpu, grace = run(1.0)
    other_requests, other_cpu, other_grace = run(tick)
    # successes and failures per edge are the same; which error code a failure gets in the
    # tick where a node turns NotReady depends on where that tick's boundary falls
    assert other_requests[:, 0] == pytest.approx(requests[:, 0], rel=1e-6)
    assert other_requests[:, 1:].sum(axis=1) == pytest.approx(requests[:, 1:].sum(axis=1), rel=1e-6)
    assert other_cpu == pytest.approx(cpu, rel=0.02)
    assert grace == other_grace == 40


def test_timing_defaults_are_kubernetes_defaults() -> None:
    timing = Timing()
    assert (timing.backoff_initial_s, timing.backoff_max_s, timing.backoff_reset_s) == (
        10,
        300,
        600,
    )
    assert (timing.node_monitor_grace_s, timing.default_toleration_s) == (40, 300)
    assert timing.termination_grace_s == 30
