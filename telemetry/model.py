"""What telemetry produces every tick: per-service, per-node and per-edge views of the cluster.

Every source (direct scrape of ``/metrics``, PromQL over a Prometheus server) ends in the same
:class:`ClusterView`, so detectors, the SLO reader and the analysers do not care where the
numbers came from. Rates are per second over the collector's rate window (like PromQL's
``rate(x[1m])``); latency quantiles come from the Istio histograms over the same window.

Series names, used by the windowed store and the detectors, are ``kind/namespace/name/metric``:
``service/hotel/search/p99_ms``, ``node/-/pool-001/cpu_ratio``,
``edge/hotel/search>geo/error_ratio``.

A view also carries what detectors do not watch but others need: each service's latency
histogram over the rate window (``ServiceView.latency_buckets``, for exact SLO quantiles) and the
Kubernetes events seen since the previous tick (``ClusterView.events``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

#: Metrics of a service view that detectors watch (the numeric fields below).
SERVICE_METRICS = (
    "rps",
    "error_ratio",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cpu_cores",
    "cpu_ratio",
    "throttle_ratio",
    "memory_bytes",
    "memory_ratio",
    "restarts",
    "pending_pods",
    "replicas",
    "ready_replicas",
)
NODE_METRICS = ("cpu_cores", "cpu_ratio", "pods_cpu_cores", "memory_bytes", "ready", "pods")
EDGE_METRICS = ("rps", "error_ratio", "p99_ms")


@dataclass
class ServiceView:
    """One workload (a Deployment and the Service of the same name) over the rate window.

    ``rps``/``error_ratio``/latencies describe requests *into* the service as its callers see
    them (Istio, reporter=source). ``cpu_ratio`` is CPU used over the CPU limit (or request when
    no limit), ``throttle_ratio`` throttled CFS periods over all periods, ``restarts`` container
    restarts during the window. NaN means "no data" (no traffic: no latency).
    """

    namespace: str
    name: str
    rps: float = 0.0
    error_ratio: float = 0.0
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    cpu_cores: float = 0.0
    cpu_ratio: float = 0.0
    throttle_ratio: float = 0.0
    memory_bytes: float = 0.0
    memory_ratio: float = 0.0
    restarts: float = 0.0
    pending_pods: float = 0.0
    replicas: float = 0.0
    ready_replicas: float = 0.0
    nodes: tuple[str, ...] = ()
    latency_buckets: tuple[tuple[float, float], ...] = ()
    """Requests/s into the service at or under each latency bound (ms), cumulative, ascending,
    ending with ``inf``: the Istio histogram's bucket rates summed over callers and codes."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def metrics(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in SERVICE_METRICS}


@dataclass
class NodeView:
    """One node: CPU used by everything on it (root cgroup) and by its pods, readiness."""

    name: str
    cpu_capacity: float = 0.0
    cpu_cores: float = 0.0
    cpu_ratio: float = 0.0
    pods_cpu_cores: float = 0.0
    memory_bytes: float = 0.0
    ready: float = 1.0
    unschedulable: bool = False
    pods: float = 0.0
    zone: str | None = None

    @property
    def key(self) -> str:
        return self.name

    def metrics(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in NODE_METRICS}


@dataclass
class EdgeView:
    """Calls from one workload to another over the rate window."""

    namespace: str
    source: str
    destination: str
    rps: float = 0.0
    error_ratio: float = 0.0
    p99_ms: float = math.nan

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.source}>{self.destination}"

    def metrics(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in EDGE_METRICS}


@dataclass(frozen=True)
class KubeEvent:
    """One Kubernetes event (``core/v1``), as a source saw it.

    ``kind``/``object_name`` name the involved object; times are epoch seconds (``None`` when
    the event carries none); ``count`` grows when the API server folds repeats into it.
    """

    namespace: str
    name: str
    kind: str
    object_name: str
    type: str
    reason: str
    message: str
    count: int = 1
    first_seen: float | None = None
    last_seen: float | None = None
    component: str = ""
    uid: str = ""
    resource_version: str = ""

    @property
    def object_key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.object_name}"


SourceState = Literal["ok", "stale", "failing"]


@dataclass
class SourceStatus:
    """How one source is doing: a failing source is retried with back-off, never fatal.

    ``stale``: the last attempt failed and the source's last good data stands in for it;
    ``failing``: it failed and there is no good data young enough to stand in.
    """

    name: str
    state: SourceState = "ok"
    last_success: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    next_attempt: float = 0.0


@dataclass
class ClusterView:
    """Everything telemetry knows at ``time`` (seconds since the epoch, the collector's clock)."""

    time: float
    services: dict[str, ServiceView] = field(default_factory=dict)
    nodes: dict[str, NodeView] = field(default_factory=dict)
    edges: dict[str, EdgeView] = field(default_factory=dict)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    events: list[KubeEvent] = field(default_factory=list)
    """Kubernetes events new or changed since the previous tick."""

    def call_graph(self) -> dict[str, set[str]]:
        """Callers to callees (``namespace/name`` keys) learned from the edges with traffic."""
        graph: dict[str, set[str]] = {}
        for edge in self.edges.values():
            if edge.rps > 0 and edge.source != "istio-ingressgateway":
                graph.setdefault(f"{edge.namespace}/{edge.source}", set()).add(
                    f"{edge.namespace}/{edge.destination}"
                )
        return graph

    def series(self) -> dict[str, float]:
        """Every numeric value of the view under its series name."""
        out: dict[str, float] = {}
        for svc in self.services.values():
            for metric, value in svc.metrics().items():
                out[f"service/{svc.namespace}/{svc.name}/{metric}"] = value
        for node in self.nodes.values():
            for metric, value in node.metrics().items():
                out[f"node/-/{node.name}/{metric}"] = value
        for edge in self.edges.values():
            for metric, value in edge.metrics().items():
                out[f"edge/{edge.namespace}/{edge.source}>{edge.destination}/{metric}"] = value
        return out

    @property
    def stale(self) -> list[str]:
        return [name for name, status in self.sources.items() if status.state != "ok"]


def parse_series(name: str) -> tuple[str, str, str, str]:
    """``service/hotel/search/p99_ms`` → (kind, namespace, object, metric)."""
    kind, namespace, obj, metric = name.split("/", 3)
    return kind, namespace, obj, metric


__all__ = [
    "EDGE_METRICS",
    "NODE_METRICS",
    "SERVICE_METRICS",
    "ClusterView",
    "EdgeView",
    "KubeEvent",
    "NodeView",
    "ServiceView",
    "SourceState",
    "SourceStatus",
    "parse_series",
]
