"""Benign noise: each kind happens, is seeded, can be switched off, and breaks no SLO.

Short runs with raised rates check each kind's mechanics; one simulated day of the default
application under its own diurnal load, with every kind at its default rate, checks that noise
alone violates no SLO and names no fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from testbed.app import NodePool
from testbed.cluster import Cluster
from testbed.events import Event
from testbed.load import Constant
from testbed.noise import (
    RESTARTED_AT,
    NoiseAction,
    NoiseConfig,
    NoiseSpecError,
    next_patch,
    parse_noise,
)
from testbed.slo import SLOResult, Snapshot, evaluate_windows

NS = "hotel"
FORBIDDEN = re.compile(r"fault|chaos|inject|noise|bad|buggy|leak|broken", re.I)


def _cluster(seed: int = 5, **noise: Any) -> Cluster:
    """The hotel application under a constant 100 rps with the given noise settings."""
    return Cluster(seed=seed, load=Constant(100), benign=NoiseConfig(**noise))


def _history(cluster: Cluster, kind: str) -> list[NoiseAction]:
    assert cluster.benign is not None
    return [a for a in cluster.benign.history if a.kind == kind]


def _images(cluster: Cluster) -> dict[str, str]:
    return {name: dep.template.image for (_, name), dep in cluster.deployments.items()}


# ---------------------------------------------------------------------- configuration


def test_parse_noise_names() -> None:
    assert parse_noise("all") == NoiseConfig.all()
    assert parse_noise("none") == NoiseConfig.none()
    config = parse_noise(" deploys, logs ,cron", seed=4)
    assert config.enabled == ["deploys", "logs", "cron"] and config.seed == 4
    assert not (config.maintenance or config.drift)
    assert parse_noise("maintenance,drift").enabled == ["maintenance", "drift"]
    assert NoiseConfig.all(9).enabled == ["deploys", "logs", "cron", "maintenance", "drift"]
    assert NoiseConfig.all(9).seed == 9 and NoiseConfig.none().enabled == []


@pytest.mark.parametrize("text", ["logs,gremlins", "", "all,logs"])
def test_parse_noise_rejects_unknown_names_listing_the_valid_ones(text: str) -> None:
    with pytest.raises(NoiseSpecError) as err:
        parse_noise(text)
    assert "valid: all, none, deploys, logs, cron, maintenance, drift" in str(err.value)
    if text == "logs,gremlins":
        assert "'gremlins'" in str(err.value)


def test_rate_ranges_are_checked() -> None:
    with pytest.raises(ValueError, match="0 < low <= high"):
        NoiseConfig(cron_factor=(1.6, 1.3))


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("hotelreservation/frontend:v1.8.3", "hotelreservation/frontend:v1.8.4"),
        ("memcached:1.6.21", "memcached:1.6.22"),
        ("redis:7.2.9-alpine", "redis:7.2.10-alpine"),
        ("registry.local:5000/team/app:2.0.0", "registry.local:5000/team/app:2.0.1"),
        ("registry.local:5000/team/app", None),
        ("app:latest", None),
        ("app", None),
        ("app@sha256:0123456789abcdef", None),
    ],
)
def test_next_patch_raises_the_patch_version(image: str, expected: str | None) -> None:
    assert next_patch(image) == expected


# ---------------------------------------------------------------------- each kind


def test_innocent_deploys_roll_out_the_next_patch_version() -> None:
    cluster = _cluster(deploys=True, deploy_every_s=1200)
    before = _images(cluster)
    cluster.advance(4 * 3600)

    deploys = _history(cluster, "deploys")
    assert len(deploys) >= 5
    kinds = {s.name: s.kind for s in cluster.apps[0].spec.services}
    for action in deploys:
        name = action.target.removeprefix(f"{NS}/")
        assert kinds[name] != "database"
        old, new = action.detail.split(" -> ")
        assert next_patch(old) == new
    changed = {name for name, image in _images(cluster).items() if image != before[name]}
    assert changed == {a.target.removeprefix(f"{NS}/") for a in deploys}
    # each one is a real rolling update that completed: every pod runs the new image
    last = deploys[-1].target.removeprefix(f"{NS}/")
    cluster.advance(120)
    dep = cluster.deployments[(NS, last)]
    pods = [p for rs in dep.replicasets.values() for p in rs.pods]
    assert len(dep.replicasets) >= 2
    assert pods and all(p.template.image == dep.template.image and p.ready for p in pods)


def test_harmless_log_lines_land_in_running_pods() -> None:
    cluster = _cluster(log_lines=True, log_lines_per_pod_hour=30)
    cluster.advance(3600)

    lines = _history(cluster, "logs")
    running = sum(1 for p in cluster.pods.values() if p.container == "running")
    assert 0.5 * 30 * running < len(lines) < 1.5 * 30 * running
    for action in lines[:50]:
        pod = cluster.pods[(NS, action.target.removeprefix(f"{NS}/"))]
        assert (action.time, action.detail) in pod.logs
    texts = {a.detail for a in lines}
    assert any('level=error msg="failed to refresh service discovery cache"' in t for t in texts)
    assert any('"c":"NETWORK"' in t for t in texts)  # the databases' JSON log


def test_cron_spikes_at_the_top_of_the_hour_and_restore_exactly() -> None:
    cluster = _cluster(cron_spikes=True)
    factors = []
    for _ in range(3 * 3600 + 300):
        cluster.step()
        factors.append((cluster.now, float(cluster.traffic.load_factor[0])))

    spikes = [(t, f) for t, f in factors if f != 1.0]
    assert {f for _, f in factors} - {1.0}, "no spike"
    starts = [t for (_, prev), (t, f) in pairwise(factors) if f != 1.0 and prev == 1.0]
    assert [t % 3600 for t in starts] == [0.0, 0.0, 0.0]
    for start in starts:
        spike = [f for t, f in spikes if start <= t < start + 3600]
        assert 60 <= len(spike) <= 121
        assert len(set(spike)) == 1 and 1.3 <= spike[0] <= 1.6
    assert factors[-1][1] == 1.0  # exactly
    assert [a.detail for a in _history(cluster, "cron")].count("end") == 3


def test_drift_is_a_slow_daily_sinusoid() -> None:
    cluster = Cluster(seed=5, load=Constant(100), tick=60.0, benign=NoiseConfig(drift=True))
    values = []
    for _ in range(24 * 60):
        cluster.step()
        values.append(float(cluster.traffic.load_factor[0]))

    assert 0.899 < min(values) < 0.905 and 1.095 < max(values) < 1.101
    assert max(abs(b - a) for a, b in pairwise(values)) < 0.001
    other = Cluster(seed=5, load=Constant(100), tick=60.0, benign=NoiseConfig(drift=True, seed=1))
    other.step()
    assert other.traffic.load_factor[0] != pytest.approx(values[0], abs=1e-3)


@dataclass
class _Maintenance:
    cluster: Cluster
    cordoned: dict[float, list[str]]  # after each tick: the unschedulable nodes
    pods_on: dict[float, dict[str, int]]  # after each tick: pods per node
    min_serving: np.ndarray  # per service, the fewest serving pods over the run


@pytest.fixture(scope="module")
def maintained() -> _Maintenance:
    """Six hours with a node maintenance every half hour on average."""
    cluster = _cluster(maintenance=True, maintenance_every_s=1800)
    cluster.advance(60)
    cordoned: dict[float, list[str]] = {}
    pods_on: dict[float, dict[str, int]] = {}
    serving = cluster.traffic.serving.copy()
    for _ in range(6 * 3600):
        cluster.step()
        cordoned[cluster.now] = [n.name for n in cluster.node_list if n.unschedulable]
        pods_on[cluster.now] = {n.name: len(n.pods) for n in cluster.node_list}
        serving = np.minimum(serving, cluster.traffic.serving)
    return _Maintenance(cluster, cordoned, pods_on, serving)


def test_maintenance_cordons_moves_pods_off_and_uncordons(maintained: _Maintenance) -> None:
    cluster = maintained.cluster
    actions = _history(cluster, "maintenance")
    cordons = [a for a in actions if a.detail == "cordon"]
    assert len(cordons) >= 4
    assert max(len(nodes) for nodes in maintained.cordoned.values()) == 1
    restarts = [a for a in actions if a.detail == "rollout restart"]
    assert restarts, "no node had pods to move"
    for restart in restarts:
        dep = cluster.deployments[(NS, restart.target.removeprefix(f"{NS}/"))]
        assert RESTARTED_AT in dep.spec["template"]["metadata"]["annotations"]
    ends = [a for a in actions if a.detail.startswith("uncordon")]
    assert len(ends) >= len(cordons) - 1
    for cordon, end in zip(cordons, ends, strict=False):
        node = cordon.target
        assert end.target == node and end.detail == "uncordon"
        window = [t for t in maintained.cordoned if cordon.time <= t < end.time]
        assert all(maintained.cordoned[t] == [node] for t in window)
        assert maintained.cordoned[end.time] == []
        # emptied before it was uncordoned
        assert maintained.pods_on[end.time - cluster.tick][node] == 0
    assert not [e for e in cluster.events.all() if e.type == "Warning"]


def test_maintenance_moves_workloads_without_downtime(maintained: _Maintenance) -> None:
    replicas = [s.replicas for s in maintained.cluster.apps[0].spec.services]
    assert maintained.min_serving.tolist() == replicas


def test_maintenance_needs_enough_schedulable_nodes() -> None:
    pools = [NodePool(name="small", count=2, cpu="8", memory="32Gi")]
    cluster = Cluster(
        seed=5,
        load=Constant(100),
        node_pools=pools,
        benign=NoiseConfig(maintenance=True, maintenance_every_s=600),
    )
    cluster.advance(3 * 3600)
    assert _history(cluster, "maintenance") == []
    assert not any(n.unschedulable for n in cluster.node_list)


# ---------------------------------------------------------------------- seeds and switches

BUSY = {
    "deploy_every_s": 1800,
    "maintenance_every_s": 1800,
    "log_lines_per_pod_hour": 10,
}


def _busy(seed: int = 5, noise_seed: int = 0, **switches: bool) -> Cluster:
    config = NoiseConfig.all(noise_seed).model_copy(update={**BUSY, **switches})
    cluster = Cluster(seed=seed, load=Constant(100), benign=config)
    cluster.advance(2 * 3600)
    return cluster


def _trace(cluster: Cluster) -> list[tuple[float, str, str, str]]:
    assert cluster.benign is not None
    return [(a.time, a.kind, a.target, a.detail) for a in cluster.benign.history]


def test_noise_is_deterministic_for_its_seeds() -> None:
    first, again = _busy(), _busy()
    assert _trace(first) == _trace(again)
    assert {a[1] for a in _trace(first)} == {"deploys", "logs", "cron", "maintenance", "drift"}
    assert np.array_equal(first.traffic.requests, again.traffic.requests)
    assert _trace(_busy(noise_seed=1)) != _trace(first)
    assert _trace(_busy(seed=6)) != _trace(first)


def test_switching_a_kind_off_stops_it() -> None:
    cluster = _busy(deploys=False, maintenance=False)
    assert {a[1] for a in _trace(cluster)} == {"logs", "cron", "drift"}
    assert all(d.meta.generation == 1 for d in cluster.deployments.values())
    assert not any(e.reason == "NodeNotSchedulable" for e in cluster.events.all())


def test_noise_off_leaves_the_cluster_as_it_was() -> None:
    def run(benign: NoiseConfig | None) -> Cluster:
        cluster = Cluster(seed=5, load=Constant(100), benign=benign)
        cluster.advance(1800)
        return cluster

    plain = run(None)
    silent = run(NoiseConfig.none())
    chatty = run(NoiseConfig(log_lines=True))
    assert silent.benign is not None and silent.benign.history == []
    # the noise draws from its own generators: the cluster's own draws do not move
    assert np.array_equal(plain.traffic.requests, silent.traffic.requests)
    assert np.array_equal(plain.traffic.requests, chatty.traffic.requests)
    assert sorted(plain.pods) == sorted(chatty.pods)


# ---------------------------------------------------------------------- a day of noise


@dataclass
class _Day:
    cluster: Cluster
    windows: list[SLOResult]
    events: dict[str, Event]


@pytest.fixture(scope="module")
def day() -> Iterator[_Day]:
    """24 simulated hours of the default application, its diurnal load and all noise."""
    cluster = Cluster(seed=11, benign=NoiseConfig.all(seed=3))
    cluster.advance(600)  # start-up: pods become Ready
    slo = cluster.apps[0].spec.effective_slos()[0]
    snaps = [Snapshot.take(cluster)]
    events: dict[str, Event] = {}
    for _ in range(int(24 * 3600 / slo.window_s)):
        cluster.advance(slo.window_s)
        snaps.append(Snapshot.take(cluster))
        events.update((e.name, e) for e in cluster.events.all())  # events expire after 1 h
    yield _Day(cluster, evaluate_windows(snaps, cluster.traffic, slo, NS), events)


def test_a_day_of_noise_alone_violates_no_slo(day: _Day) -> None:
    kinds = {a.kind for a in day.cluster.benign.history} if day.cluster.benign else set()
    assert kinds == {"deploys", "logs", "cron", "maintenance", "drift"}
    assert len(day.windows) == 288
    broken = [w for w in day.windows if not w.met]
    assert broken == []
    assert max(w.error_ratio for w in day.windows) < 0.001
    assert day.cluster.faults == [] and day.cluster.truth()["faults"] == []


def test_noise_never_names_a_fault(day: _Day) -> None:
    cluster = day.cluster
    assert cluster.benign is not None
    texts = [f"{e.reason} {e.message}" for e in day.events.values()]
    texts += [a.detail for a in cluster.benign.history]
    texts += [line for pod in cluster.pods.values() for _, line in [*pod.logs, *pod.prev_logs]]
    texts += [
        rs.template.image for dep in cluster.deployments.values() for rs in dep.replicasets.values()
    ]
    assert len(texts) > 1000
    assert [t for t in texts if FORBIDDEN.search(t)] == []
    assert not [e for e in day.events.values() if e.type == "Warning"]
    assert not math.isnan(max(w.latency_ms for w in day.windows))
