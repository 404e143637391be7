"""Localization scenarios: a fault of the library injected into a live testbed, seen only
through telemetry, and analysed; scored against the fault's ground truth.

The real path: the testbed runs the application in process (evaluation drives its clock) and is
served over HTTP; a :class:`~telemetry.Collector` scrapes ``/metrics`` and polls Kubernetes
events every :data:`TICK_S`; a :class:`~forecasting.AnomalyMonitor` turns the views into signals;
an :class:`~agents.analysis.Analyzer` learns the topology and reads events, pod logs (through
``telemetry.KubernetesSource``) and the cluster's objects (through the Kubernetes API). The
ground truth (``ActiveFault.truth()``) is read only here, to score, after the analysis.

A :class:`Warmup` runs one (application, seed) healthy, under constant load and every kind of
benign noise, and keeps **checkpoints**: at each the monitor as it was, and the cluster, series
store, topology and event window as they were 75 s before. The testbed is deterministic (all its
randomness comes from seeded generators, copied with it), so a scenario forks the cluster there
(:func:`fork`: a deep copy, which continues exactly as the original would, as rebuilding it from
its seed and advancing it would, only faster), serves it, fills a fresh collector's rate window,
injects the fault (after a sub-tick delay: onsets are not aligned with ticks) and watches until
``analyse_after_s`` after the first signal.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from actions import batch_steps
from agents.analysis import Analysis, Analyzer, EventWindow, KubernetesReader, LearnedTopology
from controlplane import Hypothesis, ManualClock, Signal, TargetKind
from forecasting.monitor import AnomalyMonitor
from telemetry import Collector, KubernetesSource, ScrapeSource, SeriesStore
from testbed.app import AppSpec, load_app
from testbed.cluster import Cluster
from testbed.faults import FAULTS, FaultDef
from testbed.k8s.quantity import parse_cpu, parse_memory
from testbed.load import Constant, LoadProfile
from testbed.noise import NoiseConfig
from testbed.runner import TestbedServer

__all__ = [
    "APPS",
    "NOISE",
    "Checkpoint",
    "Outcome",
    "Scenario",
    "Warmup",
    "build_cluster",
    "fork",
    "hit",
    "random_scenarios",
    "run_scenario",
]

APPS = ("hotel-reservation", "online-boutique")
TICK_S = 15.0
RATE_WINDOW_S = 60.0
PREFILL_S = RATE_WINDOW_S + TICK_S
"""A fresh collector's ticks before the fork: its rate window is full at the fork."""
LOAD_SHARE = 0.5
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
CATCH_S = 600.0
GROWTH_CATCH_S = 3000.0
GROWTH_STRENGTH = 4.0
"""demand-growth: load grows by 4x the profile per hour, so capacity runs out in tens of
minutes (at the default 1x/hour it takes hours: the capacity monitor's case, not the anomaly
monitor's)."""
LEAK_OOM_S = 450.0
"""memory-leak: the strength fills a pod's memory headroom in this time."""


def peak(app: AppSpec) -> float:
    load = app.load or {}
    return float(load.get("high") or load.get("rps") or 100.0)


def build_cluster(
    app: AppSpec, seed: int, noise: NoiseConfig | None = NOISE, load: LoadProfile | None = None
) -> Cluster:
    """The application under ``load`` (default: a constant half of its peak), settled (every
    pod Ready)."""
    load = load or Constant(LOAD_SHARE * peak(app))
    cluster = Cluster(app, seed=seed, load=load, benign=noise)
    for _ in range(300):
        cluster.advance(1)
        deployments = cluster.deployments.values()
        if all(
            d.status.get("availableReplicas") == d.replicas == d.status.get("replicas")
            for d in deployments
        ) and all(p.ready and not p.deleting for p in cluster.pods.values()):
            return cluster
    raise RuntimeError(f"{app.name} did not settle")


def fork(cluster: Cluster) -> Cluster:
    """An independent copy of ``cluster`` that continues exactly as it would (its generators
    are copied with it); only its lock is new."""
    return copy.deepcopy(cluster, memo={id(cluster.lock): threading.RLock()})


@dataclass
class Checkpoint:
    """The watchers' state at ``at`` (monitor) and ``at - PREFILL_S`` (the rest, and the
    cluster itself)."""

    at: float
    monitor: AnomalyMonitor
    store: SeriesStore
    topology: LearnedTopology
    events: EventWindow
    cluster: Cluster


@dataclass(frozen=True)
class Scenario:
    app: str
    seed: int
    fault: str
    target: dict[str, str]
    checkpoint: float
    """Seconds after the settled start the fault's tick begins."""
    delay_s: float = 0.0
    strength: float | None = None

    def describe(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in sorted(self.target.items())) or "app"
        onset = self.checkpoint + self.delay_s
        return f"{self.app}/{self.seed} {self.fault} on {where} at +{onset:.0f}s"


@dataclass
class Outcome:
    scenario: Scenario
    truth: dict[str, Any]
    signals: list[Signal]
    analysis: Analysis | None
    rank: int | None
    """Position of the first hypothesis naming the root cause with the right label."""
    rank_target: int | None
    """... naming the root cause, whatever the label."""
    first_action: str | None
    """The kind of the first candidate for the top hypothesis."""
    wall_s: float
    notes: list[str] = field(default_factory=list)
    after: Any = None
    """What ``run_scenario``'s ``after`` hook returned."""

    @property
    def detected(self) -> bool:
        return bool(self.signals)

    @property
    def mitigation_ok(self) -> bool:
        kinds = set(self.first_action.split("+")) if self.first_action else set()
        return bool(kinds) and kinds <= set(self.truth.get("mitigations", ()))


class _Watch:
    """A collector (scrape + events), analyzer and optional monitor, in step with the cluster."""

    def __init__(
        self,
        cluster: Cluster,
        url: str,
        store: SeriesStore,
        topology: LearnedTopology,
        events: EventWindow,
    ) -> None:
        self.cluster = cluster
        self.url = url
        self.clock = ManualClock(cluster.now)
        self.scrape = ScrapeSource(f"{url}/metrics", name="scrape")
        self.kube = KubernetesSource(url, name="kubernetes")
        self.collector = Collector(
            [self.scrape, self.kube], self.clock, store=store, rate_window_s=RATE_WINDOW_S
        )
        configuration = client.Configuration()
        configuration.host = url
        self.api = client.ApiClient(configuration)
        self.analyzer = Analyzer(
            store,
            logs=self.kube,
            cluster=KubernetesReader(self.api),
            topology=topology,
            events=events,
        )

    def tick(self, monitor: AnomalyMonitor | None) -> list[Signal]:
        self.cluster.advance(TICK_S)
        self.clock.advance(TICK_S)
        view = self.collector.tick()
        self.analyzer.observe(view)
        return monitor.update(view) if monitor is not None else []

    def close(self) -> None:
        self.api.close()
        self.kube.close()
        self.scrape.close()


@contextmanager
def _watching(
    cluster: Cluster, store: SeriesStore, topology: LearnedTopology, events: EventWindow
) -> Iterator[_Watch]:
    with TestbedServer(cluster) as server:
        watch = _Watch(cluster, server.url, store, topology, events)
        try:
            yield watch
        finally:
            watch.close()


class Warmup:
    """One healthy run of ``app`` with ``seed``, keeping a checkpoint at each of ``points``
    (seconds after the settled start; each at least ``PREFILL_S`` after the previous one)."""

    def __init__(
        self,
        app: str,
        seed: int,
        points: Sequence[float],
        *,
        noise: NoiseConfig | None = NOISE,
        load: LoadProfile | None = None,
    ) -> None:
        self.app, self.seed = app, seed
        self.noise, self.load = noise, load
        self.points = sorted(points)
        self.checkpoints: dict[float, Checkpoint] = {}
        self.hosts: dict[float, dict[str, list[str]]] = {}
        """At each checkpoint: node → the application's services with a pod there (sorted)."""
        self.start = 0.0
        self.signals: list[Signal] = []

    def run(self) -> Warmup:
        cluster = build_cluster(load_app(self.app), self.seed, self.noise, self.load)
        self.start = cluster.now
        monitor = AnomalyMonitor(TICK_S)
        store, topology, events = SeriesStore(), LearnedTopology(), EventWindow()
        pending: dict[float, tuple[SeriesStore, LearnedTopology, EventWindow, Cluster]] = {}
        with _watching(cluster, store, topology, events) as watch:
            while self.points and len(self.checkpoints) < len(self.points):
                self.signals += watch.tick(monitor)
                elapsed = cluster.now - self.start
                for point in self.points:
                    if abs(elapsed - (point - PREFILL_S)) < 1e-6:
                        pending[point] = (*copy.deepcopy((store, topology, events)), fork(cluster))
                    if abs(elapsed - point) < 1e-6 and point in pending:
                        saved = pending.pop(point)
                        self.checkpoints[point] = Checkpoint(point, copy.deepcopy(monitor), *saved)
                        self.hosts[point] = _hosts(cluster, self.app)
        return self


def _hosts(cluster: Cluster, app_name: str) -> dict[str, list[str]]:
    namespace = load_app(app_name).namespace
    hosts: dict[str, set[str]] = {n: set() for n in cluster.nodes}
    for pod in cluster.pods_in(namespace):
        if pod.node is not None and pod.rs is not None and pod.rs.deployment is not None:
            hosts[pod.node.name].add(pod.rs.deployment.name)
    return {node: sorted(services) for node, services in sorted(hosts.items())}


def _truth_service(name: str) -> str:
    """A pod's workload: its name less the ReplicaSet hash and the pod suffix."""
    return name.rsplit("-", 2)[0]


def hit(hypothesis: Hypothesis, truth: dict[str, Any], *, label: bool = True) -> bool:
    """Whether ``hypothesis`` names the ground truth's root cause (and its label)."""
    root = truth["root_cause"]
    names = [n for n in str(root["name"]).split(",") if n]
    target = hypothesis.target
    if root["kind"] == "node":
        found = target.kind is TargetKind.NODE and target.name in names
    elif root["kind"] == "pod":
        found = (target.kind is TargetKind.POD and _truth_service(target.name) in names) or (
            target.kind in (TargetKind.SERVICE, TargetKind.DEPLOYMENT) and target.name in names
        )
    else:
        found = target.kind in (TargetKind.SERVICE, TargetKind.DEPLOYMENT) and target.name in names
    if target.namespace is not None and target.namespace != root["namespace"]:
        found = False
    if not label:
        return found
    wanted = truth["label"]
    return (
        found
        and hypothesis.label.system_level.value == wanted["system_level"]
        and hypothesis.label.fault_type.value == wanted["fault_type"]
    )


def _pod_cpu(app: AppSpec, service: str) -> float:
    """Cores one pod of ``service`` uses under the scenario's load (from the call ratios)."""
    into = {s.name: 0.0 for s in app.services}
    into[app.entry] = LOAD_SHARE * peak(app)
    for name in app.topological_order():
        for call in app.service(name).calls:
            into[call.service] += into[name] * call.ratio
    svc = app.service(service)
    return into[service] / max(svc.replicas, 1) * svc.cpu_ms / 1000 + parse_cpu(svc.idle_cpu)


def _strength(fault: FaultDef, app: AppSpec, target: dict[str, str]) -> float | None:
    """Strengths sized to the target where the default would do nothing visible there."""
    if fault.name == "pod-kill":  # every pod: one of several is replaced unnoticed
        return float(min(max(app.service(target["service"]).replicas, 1), 10))
    if fault.name == "cpu-stress":  # burn a whole CPU limit's worth (0.5 cores is nothing to 1)
        limit = app.service(target["service"]).resources.cpu_limit
        return float(parse_cpu(limit)) if limit else None
    if fault.name == "cpu-limit":  # a quarter of what a pod uses (0.05 cores is plenty for some)
        return round(min(0.05, max(0.001, _pod_cpu(app, target["service"]) / 4)), 3)
    if fault.name == "memory-leak":
        svc = app.service(target["service"])
        assert svc.resources.memory_limit is not None
        headroom = parse_memory(svc.resources.memory_limit) - parse_memory(svc.memory_base)
        return float(headroom) / 2**20 / (LEAK_OOM_S / 60)
    if fault.name == "demand-growth":
        return GROWTH_STRENGTH
    return None


Inspect = Callable[[Analyzer, list[Signal]], None]
After = Callable[["_Watch", Analysis, list[Signal]], Any]
"""Called with the watch (its cluster still served), the analysis and the signals; what it
returns is kept in :attr:`Outcome.after` (the mitigation runs use it to act and observe)."""


def run_scenario(
    scenario: Scenario,
    warm: Warmup,
    *,
    analyse_after_s: float = 60.0,
    inspect: Inspect | None = None,
    after: After | None = None,
) -> Outcome:
    """Inject, watch until ``analyse_after_s`` after the first signal (or the catch window),
    analyse, and score against the ground truth. ``inspect`` sees the analyzer and the signals
    before the testbed stops (to record a case)."""
    started = time.perf_counter()
    app = load_app(scenario.app)
    point = warm.checkpoints[scenario.checkpoint]
    cluster = fork(point.cluster)
    monitor = copy.deepcopy(point.monitor)
    store, topology, events = copy.deepcopy((point.store, point.topology, point.events))
    fault = FAULTS[scenario.fault]
    catch = GROWTH_CATCH_S if fault.name == "demand-growth" else CATCH_S
    signals: list[Signal] = []
    with _watching(cluster, store, topology, events) as watch:
        for _ in range(round(PREFILL_S / TICK_S)):
            watch.tick(None)
        active = cluster.fault_engine.inject(
            fault.name,
            scenario.target,
            namespace=app.namespace,
            strength=scenario.strength,
            delay_s=scenario.delay_s,
        )
        onset = cluster.now + scenario.delay_s
        while cluster.now < onset + catch:
            signals += [s for s in watch.tick(monitor) if s.start >= onset]
            if signals and cluster.now >= min(s.start for s in signals) + analyse_after_s:
                break
        analysis = watch.analyzer.analyse(signals) if signals else None
        if inspect is not None:
            inspect(watch.analyzer, signals)
        truth = active.truth()
        extra = after(watch, analysis, signals) if after is not None and analysis else None
    outcome = _score(scenario, truth, signals, analysis, time.perf_counter() - started)
    outcome.after = extra
    return outcome


def _score(
    scenario: Scenario,
    truth: dict[str, Any],
    signals: list[Signal],
    analysis: Analysis | None,
    wall_s: float,
) -> Outcome:
    hypotheses = analysis.hypotheses if analysis else []
    rank = next((i for i, h in enumerate(hypotheses) if hit(h, truth)), None)
    rank_target = next((i for i, h in enumerate(hypotheses) if hit(h, truth, label=False)), None)
    first = None
    if analysis is not None:
        action = next((c.action for c in analysis.candidates if c.hypothesis_index == 0), None)
        if action is not None:  # a batch stands for its steps' kinds
            first = "+".join(sorted({str(step.kind) for step in batch_steps(action)}))
    return Outcome(scenario, truth, signals, analysis, rank, rank_target, first, wall_s)


# --- random scenarios ------------------------------------------------------------------------


def _eligible(fault: FaultDef, app: AppSpec, hosts: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every target ``fault`` may strike in ``app`` (``hosts``: node → services on it)."""
    if fault.target == "app":
        return [{}]
    if fault.target == "node":
        return [{"node": n} for n in sorted(hosts) if hosts[n]]
    if fault.target == "edge":
        return [{"source": s.name, "destination": c.service} for s in app.services for c in s.calls]
    if fault.name == "db-auth":
        return [{"service": s.name} for s in app.services if s.credentials and app.callers(s.name)]
    return [{"service": s.name} for s in app.services]


def random_scenarios(warm: Warmup, faults: Sequence[str] | None = None) -> list[Scenario]:
    """One scenario per fault: a random checkpoint of ``warm``, a random target among those the
    fault may strike there (a node: one hosting the application's pods then) and a random
    sub-tick delay; seeded by the application and seed."""
    app = load_app(warm.app)
    rng = random.Random(f"{warm.app}/{warm.seed}")
    out = []
    for name in faults or list(FAULTS):
        fault = FAULTS[name]
        point = rng.choice(warm.points)
        target = rng.choice(_eligible(fault, app, warm.hosts[point]))
        out.append(
            Scenario(
                warm.app,
                warm.seed,
                name,
                target,
                checkpoint=point,
                delay_s=round(rng.uniform(0, TICK_S), 1),
                strength=_strength(fault, app, target),
            )
        )
    return out
