"""Benign noise: what happens in a healthy cluster and must not be mistaken for a fault.

Five kinds, each switched on by :class:`NoiseConfig` and drawn from its own generator seeded by
the cluster's seed and the noise seed (so switching one kind off changes nothing in the others'
draws, nor in the cluster's own):

* **deploys** — now and then (every ``deploy_every_s`` per application on average) a service that
  is not a database rolls out the next patch version of its image (``v1.8.3`` → ``v1.8.4``), a real
  rolling update; the new image behaves exactly like the old one.
* **logs** — running containers log an occasional harmless warning or error
  (:func:`testbed.podlogs.harmless_line`): a cancelled cache refresh, a GC pause, a TLS handshake
  from a scanner.
* **cron** — at the top of every hour each application's load rises for 60-120 s by x1.3-1.6
  (batch jobs, reports), then returns exactly to what it was.
* **maintenance** — every ``maintenance_every_s`` on average one node is cordoned and emptied the
  way a careful operator does it with single-replica workloads: a ``kubectl rollout restart`` of
  each deployment with pods on it, one at a time (the rolling update starts the new pod on another
  node before the old one goes); the node is uncordoned after the maintenance window.
* **drift** — each application's load follows a slow sinusoid (+-10 % over a simulated day) with a
  random phase, on top of its load profile.

Load changes are contributors to ``cluster.traffic.load_factor``
(:meth:`~testbed.traffic.TrafficModel.set_load_factor`), so they multiply with load faults and
return exactly to 1.0. Noise records nothing in ``cluster.faults``; what it did is in
:attr:`NoiseEngine.history`.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import podlogs
from .clock import iso
from .errors import TestbedError
from .objects import resolve_int_or_percent

if TYPE_CHECKING:
    from .cluster import AppInstance, Cluster
    from .objects import Deployment, Node

#: names accepted by :func:`parse_noise`, and the :class:`NoiseConfig` switch each sets
KINDS = {
    "deploys": "deploys",
    "logs": "log_lines",
    "cron": "cron_spikes",
    "maintenance": "maintenance",
    "drift": "drift",
}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_TAG = re.compile(r"^(v?\d+\.\d+\.)(\d+)([-+.][0-9A-Za-z.-]*)?$")


class NoiseSpecError(TestbedError, ValueError):
    """A ``--noise`` value names an unknown kind; the message lists the valid ones."""


class NoiseConfig(BaseModel):
    """Which kinds of benign noise run, their seed and their rates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deploys: bool = False
    log_lines: bool = False
    cron_spikes: bool = False
    maintenance: bool = False
    drift: bool = False
    seed: int = 0

    deploy_every_s: float = Field(3 * 3600.0, gt=0, description="mean interval, per application")
    log_lines_per_pod_hour: float = Field(2.0, ge=0, description="harmless lines per container")
    cron_period_s: float = Field(3600.0, gt=0, description="spikes at multiples of this")
    cron_duration_s: tuple[float, float] = (60.0, 120.0)
    cron_factor: tuple[float, float] = (1.3, 1.6)
    maintenance_every_s: float = Field(6 * 3600.0, gt=0, description="mean interval")
    maintenance_window_s: tuple[float, float] = (600.0, 1200.0)
    maintenance_min_nodes: int = Field(3, ge=2, description="schedulable nodes needed to start")
    drain_timeout_s: float = Field(1800.0, gt=0, description="give up moving pods after this")
    drift_amplitude: float = Field(0.10, ge=0, lt=1)
    drift_period_s: float = Field(86400.0, gt=0)

    @field_validator("cron_duration_s", "cron_factor", "maintenance_window_s")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"expected (low, high) with 0 < low <= high, got {value}")
        return value

    @classmethod
    def all(cls, seed: int = 0) -> NoiseConfig:
        return cls(**{field: True for field in KINDS.values()}, seed=seed)

    @classmethod
    def none(cls) -> NoiseConfig:
        return cls()

    @property
    def enabled(self) -> list[str]:
        """The kinds switched on, by their :func:`parse_noise` names."""
        return [name for name, field in KINDS.items() if getattr(self, field)]


def parse_noise(text: str, seed: int = 0) -> NoiseConfig:
    """``all``, ``none`` or a comma-separated list of kinds (``deploys,logs,cron``)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    valid = ", ".join(["all", "none", *KINDS])
    if not names:
        raise NoiseSpecError(f"no noise kind given; valid: {valid}")
    unknown = [n for n in names if n not in KINDS and n not in ("all", "none")]
    if unknown:
        raise NoiseSpecError(f"unknown noise kind {unknown[0]!r}; valid: {valid}")
    if len(names) > 1 and {"all", "none"} & set(names):
        raise NoiseSpecError(f"'all' and 'none' stand alone; valid: {valid}")
    if names == ["all"]:
        return NoiseConfig.all(seed)
    if names == ["none"]:
        return NoiseConfig(seed=seed)
    return NoiseConfig(**{KINDS[n]: True for n in names}, seed=seed)


def next_patch(image: str) -> str | None:
    """The image with its tag's patch version raised (``app:v1.8.3`` → ``app:v1.8.4``).

    None when the tag is not a version (``latest``, a digest, no tag).
    """
    repo, sep, tag = image.rpartition(":")
    if not sep or "/" in tag or "@" in image:
        return None
    match = _TAG.match(tag)
    if match is None:
        return None
    prefix, patch, suffix = match.group(1), int(match.group(2)), match.group(3) or ""
    return f"{repo}:{prefix}{patch + 1}{suffix}"


@dataclass(frozen=True)
class NoiseAction:
    """One thing the noise did: ``kind`` is a :func:`parse_noise` name."""

    time: float
    kind: str
    target: str
    detail: str = ""


def _settled(dep: Deployment) -> bool:
    """Its last rollout is complete: every replica updated and available, nothing extra."""
    status = dep.status
    want = dep.replicas
    return (
        status.get("observedGeneration") == dep.meta.generation
        and status.get("replicas") == want
        and status.get("updatedReplicas") == want
        and status.get("availableReplicas") == want
        and not dep.spec.get("paused")
    )


def _keeps_serving(dep: Deployment) -> bool:
    """A rollout of it never leaves it without an available pod (RollingUpdate, surge first)."""
    strategy = dep.spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    rolling = strategy.get("rollingUpdate") or {}
    want = dep.replicas
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), want, round_up=True)
    down = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), want, round_up=False)
    if surge == 0 and down == 0:
        down = 1
    return want - down >= 1


def _metadata(dep: Deployment) -> dict[str, dict[str, str]]:
    annotations = {
        k: v
        for k, v in dep.meta.annotations.items()
        if not k.startswith("deployment.kubernetes.io/")
    }
    return {"labels": dict(dep.meta.labels), "annotations": annotations}


class NoiseEngine:
    """Runs the configured noise at the start of every tick (:meth:`install` hooks it in)."""

    def __init__(self, cluster: Cluster, config: NoiseConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.history: list[NoiseAction] = []
        entropy = [cluster.seed % 2**64, config.seed % 2**64]
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(5)]
        parts: list[_Deploys | _LogLines | _Load | _Maintenance] = []
        if config.deploys:
            parts.append(_Deploys(self, rngs[0]))
        if config.log_lines:
            parts.append(_LogLines(self, rngs[1]))
        if config.cron_spikes or config.drift:
            parts.append(_Load(self, rngs[2], rngs[4]))
        if config.maintenance:
            parts.append(_Maintenance(self, rngs[3]))
        self._parts = parts

    def install(self) -> NoiseEngine:
        """Add :meth:`tick` to the cluster's tick hooks; returns the engine."""
        self.cluster.tick_hooks.append(self.tick)
        return self

    def tick(self, cluster: Cluster) -> None:
        for part in self._parts:
            part.tick(cluster)

    def note(self, kind: str, target: str, detail: str = "") -> None:
        self.history.append(NoiseAction(self.cluster.now, kind, target, detail))


class _Deploys:
    """Innocent deploys: the next patch version of a non-database service's image."""

    def __init__(self, engine: NoiseEngine, rng: np.random.Generator) -> None:
        self.engine = engine
        self.rng = rng
        self.mean = engine.config.deploy_every_s
        now = engine.cluster.now
        self.next_at = [now + rng.exponential(self.mean) for _ in engine.cluster.apps]

    def tick(self, cluster: Cluster) -> None:
        for i, inst in enumerate(cluster.apps):
            if cluster.now >= self.next_at[i]:
                self.next_at[i] = cluster.now + self.rng.exponential(self.mean)
                self._deploy(cluster, inst)

    def _deploy(self, cluster: Cluster, inst: AppInstance) -> None:
        candidates = []
        for svc in inst.spec.services:
            dep = cluster.deployments.get((inst.namespace, svc.name))
            if svc.kind == "database" or dep is None:
                continue
            if not _settled(dep) or not _keeps_serving(dep):
                continue
            image = next_patch(dep.template.image)
            if image is not None:
                candidates.append((dep, image))
        if not candidates:
            return
        dep, image = candidates[int(self.rng.integers(len(candidates)))]
        spec = copy.deepcopy(dep.spec)
        container = spec["template"]["spec"]["containers"][0]
        old = container["image"]
        container["image"] = image
        cluster.apply_deployment(inst.namespace, dep.name, _metadata(dep), spec)
        self.engine.note("deploys", f"{inst.namespace}/{dep.name}", f"{old} -> {image}")


class _LogLines:
    """Harmless warnings and errors in running containers' logs."""

    def __init__(self, engine: NoiseEngine, rng: np.random.Generator) -> None:
        self.engine = engine
        self.rng = rng
        self.per_pod_s = engine.config.log_lines_per_pod_hour / 3600.0

    def tick(self, cluster: Cluster) -> None:
        arrays = cluster.arrays
        n = arrays.n
        slots = np.flatnonzero(arrays.running[:n] & (arrays.comp[:n] >= 0))
        if not len(slots):
            return
        count = int(self.rng.poisson(self.per_pod_s * len(slots) * cluster.tick))
        components = cluster.traffic.components
        for _ in range(count):
            slot = int(slots[int(self.rng.integers(len(slots)))])
            pod = arrays.pods[slot]
            if pod is None:
                continue
            comp = components[int(arrays.comp[slot])]
            peers = [components[d].name for _, d, _ in comp.callees]
            variant = int(self.rng.integers(podlogs.HARMLESS_VARIANTS))
            number = int(self.rng.integers(1_000_000))
            peer = peers[number % len(peers)] if peers else None
            line = podlogs.harmless_line(comp.kind, cluster.now, variant, number, peer)
            pod.logs.append((cluster.now, line))
            self.engine.note("logs", f"{pod.namespace}/{pod.name}", line)


class _Load:
    """Cron spikes at the top of the hour and a slow daily drift, as load factor contributors."""

    CRON, DRIFT = "benign-cron", "benign-drift"

    def __init__(
        self, engine: NoiseEngine, cron_rng: np.random.Generator, drift_rng: np.random.Generator
    ) -> None:
        cfg = engine.config
        cluster = engine.cluster
        self.engine = engine
        self.cfg = cfg
        self.rng = cron_rng
        self.period = math.floor(cluster.now / cfg.cron_period_s)
        self.spike_until = [math.nan] * len(cluster.apps)
        self.phase = [float(drift_rng.uniform(0.0, 2 * math.pi)) for _ in cluster.apps]
        if cfg.drift:
            for inst, phase in zip(cluster.apps, self.phase, strict=True):
                engine.note(
                    "drift",
                    inst.namespace,
                    f"+-{cfg.drift_amplitude:.0%} over {cfg.drift_period_s:.0f} s, "
                    f"phase {phase:.2f} rad",
                )

    def tick(self, cluster: Cluster) -> None:
        if self.cfg.cron_spikes:
            self._cron(cluster)
        if self.cfg.drift:
            angle = 2 * math.pi * (cluster.now - cluster.start) / self.cfg.drift_period_s
            for i, phase in enumerate(self.phase):
                factor = 1.0 + self.cfg.drift_amplitude * math.sin(angle + phase)
                cluster.traffic.set_load_factor(self.DRIFT, i, factor)

    def _cron(self, cluster: Cluster) -> None:
        now = cluster.now
        traffic = cluster.traffic
        for i, inst in enumerate(cluster.apps):
            if now >= self.spike_until[i]:  # never while NaN
                self.spike_until[i] = math.nan
                traffic.set_load_factor(self.CRON, i, 1.0)
                self.engine.note("cron", inst.namespace, "end")
        period = math.floor(now / self.cfg.cron_period_s)
        if period <= self.period:
            return
        self.period = period
        top = period * self.cfg.cron_period_s
        for i, inst in enumerate(cluster.apps):
            factor = float(self.rng.uniform(*self.cfg.cron_factor))
            duration = float(self.rng.uniform(*self.cfg.cron_duration_s))
            self.spike_until[i] = top + duration
            traffic.set_load_factor(self.CRON, i, factor)
            self.engine.note("cron", inst.namespace, f"x{factor:.2f} for {duration:.0f} s")


class _Maintenance:
    """Cordon one node, move its workloads off by rolling restarts, uncordon it later."""

    def __init__(self, engine: NoiseEngine, rng: np.random.Generator) -> None:
        self.engine = engine
        self.cfg = engine.config
        self.rng = rng
        self.next_at = engine.cluster.now + rng.exponential(self.cfg.maintenance_every_s)
        self.node: Node | None = None
        self.queue: list[Deployment] = []
        self.current: Deployment | None = None
        self.started = 0.0
        self.until = math.inf

    def tick(self, cluster: Cluster) -> None:
        if self.node is None:
            if cluster.now >= self.next_at:
                self.next_at = cluster.now + self.rng.exponential(self.cfg.maintenance_every_s)
                self._begin(cluster)
            return
        if cluster.now >= self.until:
            self._end(cluster, "uncordon")
        elif cluster.now - self.started > self.cfg.drain_timeout_s and self.until == math.inf:
            self._end(cluster, "uncordon (pods did not move in time)")
        elif self.until == math.inf:
            self._drain(cluster, self.node)

    def _begin(self, cluster: Cluster) -> None:
        usable = [
            n
            for n in cluster.node_list
            if n.kubelet_up and n.ready == "True" and not n.unschedulable and not n.taints
        ]
        if len(usable) < self.cfg.maintenance_min_nodes:
            return
        candidates = [n for n in usable if _movable(n)]
        if not candidates:
            return
        node = candidates[int(self.rng.integers(len(candidates)))]
        self.node, self.started, self.until = node, cluster.now, math.inf
        self.queue = sorted(
            {p.rs.deployment for p in node.pods if p.rs and p.rs.deployment and not p.deleting},
            key=lambda d: (d.meta.namespace or "", d.name),
        )
        self.current = None
        spec = copy.deepcopy(node.spec)
        spec["unschedulable"] = True
        cluster.patch_node(node, dict(node.meta.labels), dict(node.meta.annotations), spec)
        self.engine.note("maintenance", node.name, "cordon")

    def _drain(self, cluster: Cluster, node: Node) -> None:
        """Restart the deployments one at a time, each once the previous one has rolled out."""
        if self.current is not None and not _settled(self.current):
            return
        self.current = None
        while self.queue:
            dep = self.queue[0]
            if not _settled(dep):
                return
            self.queue.pop(0)
            if any(p.rs is not None and p.rs.deployment is dep for p in node.pods):
                self._restart(cluster, dep)
                self.current = dep
                return
        if not any(p.rs is not None and p.rs.deployment is not None for p in node.pods):
            low, high = self.cfg.maintenance_window_s
            self.until = cluster.now + float(self.rng.uniform(low, high))

    def _restart(self, cluster: Cluster, dep: Deployment) -> None:
        spec = copy.deepcopy(dep.spec)
        template_meta = spec["template"].setdefault("metadata", {})
        annotations = template_meta.setdefault("annotations", {})
        annotations[RESTARTED_AT] = iso(cluster.now)
        ns = dep.meta.namespace or ""
        cluster.apply_deployment(ns, dep.name, _metadata(dep), spec)
        self.engine.note("maintenance", f"{ns}/{dep.name}", "rollout restart")

    def _end(self, cluster: Cluster, detail: str) -> None:
        node = self.node
        assert node is not None
        if node.unschedulable:
            spec = copy.deepcopy(node.spec)
            spec.pop("unschedulable", None)
            cluster.patch_node(node, dict(node.meta.labels), dict(node.meta.annotations), spec)
        self.engine.note("maintenance", node.name, detail)
        self.node, self.queue, self.current, self.until = None, [], None, math.inf


def _movable(node: Node) -> bool:
    """Every pod on the node belongs to a settled deployment a restart moves without downtime."""
    for pod in node.pods:
        dep = pod.rs.deployment if pod.rs is not None else None
        if dep is None or not _settled(dep) or not _keeps_serving(dep):
            return False
    return True


__all__ = [
    "KINDS",
    "NoiseAction",
    "NoiseConfig",
    "NoiseEngine",
    "NoiseSpecError",
    "next_patch",
    "parse_noise",
]
