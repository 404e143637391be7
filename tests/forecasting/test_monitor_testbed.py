"""The anomaly monitor on a live testbed: quiet on noisy healthy runs, loud on every fault.

Each application runs under a moderate constant load with **every kind of benign noise** switched
on (innocent deploys, harmless error lines, hourly cron spikes, node maintenance, load drift),
served over HTTP and collected every ``TICK_S`` simulated seconds by a :class:`Collector` with a
scrape source, as the control plane does. The healthy run lasts ``HEALTHY_S`` and must raise no
signal at all, while the noise demonstrably happened.

The fault runs are the same run (same seed, same noise) with one fault injected at ``FORK_S``:
the testbed is deterministic, so the cluster is advanced to the fork without scraping, and the
monitor is the healthy run's monitor copied at the fork (a fresh collector fills its rate window
in the minute before). Each fault of the library must raise a signal within ``CATCH_S`` on a
series that belongs to its blast radius: the target, the services that call it (directly or
not), the two ends of an edge fault, the node of a node fault and what runs on it, or any
service of the application for a fault on its load or its capacity. ``demand-growth`` is not an
anomaly but a forecast: the capacity monitor's job (``test_monitor.py``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from controlplane.clock import ManualClock
from controlplane.domain import Signal
from forecasting.monitor import AnomalyMonitor, describe
from telemetry import Collector, ScrapeSource
from testbed.app import AppSpec, load_app
from testbed.cluster import Cluster
from testbed.faults import FAULTS
from testbed.load import Constant
from testbed.noise import NoiseConfig
from testbed.server import create_app
from tests.telemetry.servers import ThreadedServer
from tests.testbed.api_helpers import settle
from tests.testbed.test_faults import APPS, choose_strength, choose_target, peak

SEED = 11
TICK_S = 15
HEALTHY_S = 2 * 3600
FORK_S = 75 * 60
CATCH_S = 5 * 60
RATE_WINDOW_S = 60
NOISE = NoiseConfig(
    deploys=True,
    log_lines=True,
    cron_spikes=True,
    maintenance=True,
    drift=True,
    seed=3,
    deploy_every_s=3600,
    maintenance_every_s=2 * 3600,
)
FORECAST_ONLY = {"demand-growth"}
ANOMALY_FAULTS = [name for name in FAULTS if name not in FORECAST_ONLY]
# one application per xdist worker: each caches its healthy run (see ``healthy_run``)
APP_PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(f"monitor-{a}")) for a in APPS]


def build(app: AppSpec) -> Cluster:
    cluster = Cluster(app, seed=SEED, load=Constant(0.5 * peak(app)), benign=NOISE)
    settle(cluster)
    return cluster


class Watch:
    """A collector scraping the cluster over HTTP, in lockstep with the simulation."""

    def __init__(self, cluster: Cluster, scrape: ScrapeSource) -> None:
        self.cluster = cluster
        self.clock = ManualClock(cluster.now)
        self.collector = Collector([scrape], self.clock, rate_window_s=RATE_WINDOW_S)

    def run(self, seconds: float, monitor: AnomalyMonitor | None) -> list[Signal]:
        signals: list[Signal] = []
        for _ in range(round(seconds / TICK_S)):
            self.cluster.advance(TICK_S)
            self.clock.advance(TICK_S)
            view = self.collector.tick()
            if monitor is not None:
                signals += monitor.update(view)
        return signals


@contextmanager
def watching(cluster: Cluster) -> Iterator[Watch]:
    with (
        ThreadedServer(create_app(cluster)) as server,
        ScrapeSource(f"{server.url}/metrics", name="scrape") as scrape,
    ):
        yield Watch(cluster, scrape)


@dataclass(frozen=True)
class Healthy:
    start: float
    signals: list[Signal]
    noise: set[str]
    monitor_at_fork: AnomalyMonitor


@functools.cache
def healthy_run(app_name: str) -> Healthy:
    cluster = build(load_app(app_name))
    start = cluster.now
    monitor = AnomalyMonitor(TICK_S)
    with watching(cluster) as watch:
        signals = watch.run(FORK_S, monitor)
        fork = copy.deepcopy(monitor)
        signals += watch.run(HEALTHY_S - FORK_S, monitor)
    assert cluster.benign is not None
    noise = {action.kind for action in cluster.benign.history}
    return Healthy(start, signals, noise, fork)


def blast_radius(app: AppSpec, cluster: Cluster, fault: str, target: dict[str, str]) -> set[str]:
    """Services (and nodes) a signal may name for ``fault`` on ``target`` to count as caught."""
    if not target:  # the application's load or capacity: any of its services
        return {svc.name for svc in app.services}
    roots = {target[k] for k in ("service", "source", "destination") if k in target}
    if "node" in target:
        roots |= {
            p.rs.deployment.name
            for p in cluster.pods_in(app.namespace)
            if p.node is not None
            and p.node.name == target["node"]
            and p.rs is not None
            and p.rs.deployment is not None
        }
    out = set(roots)
    while True:
        callers = {c for name in out for c in app.callers(name)}
        if callers <= out:
            break
        out |= callers
    return out | ({target["node"]} if "node" in target else set())


def signal_subject(signal: Signal) -> str | None:
    return signal.service or signal.node


@pytest.mark.parametrize("app_name", APP_PARAMS)
def test_no_signal_on_a_noisy_healthy_run(app_name: str) -> None:
    run = healthy_run(app_name)
    assert run.noise >= {"deploys", "logs", "cron", "maintenance", "drift"}, run.noise
    assert not run.signals, [describe(s) for s in run.signals]


@pytest.mark.parametrize("fault", ANOMALY_FAULTS)
@pytest.mark.parametrize("app_name", APP_PARAMS)
def test_every_fault_is_caught_in_its_blast_radius(app_name: str, fault: str) -> None:
    healthy = healthy_run(app_name)
    app = load_app(app_name)
    cluster = build(app)
    assert cluster.now == healthy.start
    cluster.advance(FORK_S - 2 * RATE_WINDOW_S)
    monitor = copy.deepcopy(healthy.monitor_at_fork)
    with watching(cluster) as watch:
        watch.run(2 * RATE_WINDOW_S, None)  # a fresh collector fills its rate window
        assert cluster.now == healthy.start + FORK_S == monitor.last_time
        definition = FAULTS[fault]
        target = choose_target(definition, app, cluster)
        strength = choose_strength(definition, app, target)
        cluster.fault_engine.inject(fault, target, namespace=app.namespace, strength=strength)
        signals = watch.run(CATCH_S, monitor)
    radius = blast_radius(app, cluster, fault, target)
    assert signals, f"{fault} on {target} raised no signal within {CATCH_S} s"
    caught = [s for s in signals if signal_subject(s) in radius]
    assert caught, (radius, [describe(s) for s in signals])
    assert all(s.start >= healthy.start + FORK_S for s in signals)
    for signal in caught:
        assert signal.evidence and signal.evidence[0].baseline is not None
