"""Views from frames: kube-state-metrics, cAdvisor and Istio samples into a :class:`ClusterView`.

The one place that knows the ecosystem's metric names. Any source that can produce a
:class:`~telemetry.frame.Frame` with the gauges of :data:`GAUGES` and the per-second rates of
:data:`COUNTERS` gets the same views:

* **services** are the Deployments (``kube_deployment_spec_replicas``: ``replicas``;
  ``..._status_replicas_ready``: ``ready_replicas``), plus any Istio destination without one;
* **pods belong to a service** through ``kube_pod_owner`` (ReplicaSet) and
  ``kube_replicaset_owner`` (Deployment), and to a node through ``kube_pod_info``'s ``node``,
  as seen over the window (:data:`HELD`: a pod deleted during the window keeps its usage);
* per service, over its **running containers** (those with a cAdvisor working set): CPU cores
  (summed rates), ``cpu_ratio`` against the summed CPU limits (requests where a container has
  no limit), throttled over all CFS periods, memory working set against the memory limits,
  restarts (the increase of ``kube_pod_container_status_restarts_total`` over the window) and
  Pending pods (``kube_pod_status_phase{phase="Pending"}``);
* **edges** and per-service traffic from Istio (only ``reporter="source"``: the caller's
  view, which also counts calls that never reached a pod): requests/s, the share of 5xx
  responses, and latency quantiles from the summed bucket rates; a service's traffic is every
  edge whose destination it is;
* **nodes** from ``kube_node_info``/``machine_cpu_cores``: the root cgroup's CPU (``id="/"``)
  against the cores, the node's pods' CPU (by ``kube_pod_info``'s ``node``), readiness,
  cordoning, the zone label.

Values that need rates are NaN while the frame has none (a source's first scrape).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from .frame import Frame, Sample
from .histogram import histogram_quantile
from .model import ClusterView, EdgeView, NodeView, ServiceView

__all__ = ["COUNTERS", "GAUGES", "HELD", "ViewBuilder"]

DEPLOYMENT_REPLICAS = "kube_deployment_spec_replicas"
DEPLOYMENT_READY = "kube_deployment_status_replicas_ready"
POD_OWNER = "kube_pod_owner"
REPLICASET_OWNER = "kube_replicaset_owner"
POD_INFO = "kube_pod_info"
POD_PHASE = "kube_pod_status_phase"
LIMITS = "kube_pod_container_resource_limits"
REQUESTS = "kube_pod_container_resource_requests"
RESTARTS = "kube_pod_container_status_restarts_total"
NODE_INFO = "kube_node_info"
NODE_CONDITION = "kube_node_status_condition"
NODE_UNSCHEDULABLE = "kube_node_spec_unschedulable"
NODE_CAPACITY = "kube_node_status_capacity"
NODE_LABELS = "kube_node_labels"
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"
CFS_PERIODS = "container_cpu_cfs_periods_total"
CFS_THROTTLED = "container_cpu_cfs_throttled_periods_total"
MACHINE_CORES = "machine_cpu_cores"
ISTIO_REQUESTS = "istio_requests_total"
ISTIO_BUCKETS = "istio_request_duration_milliseconds_bucket"

#: Gauges the builder reads (instant values).
GAUGES = frozenset(
    {
        DEPLOYMENT_REPLICAS,
        DEPLOYMENT_READY,
        POD_OWNER,
        REPLICASET_OWNER,
        POD_INFO,
        POD_PHASE,
        LIMITS,
        REQUESTS,
        NODE_INFO,
        NODE_CONDITION,
        NODE_UNSCHEDULABLE,
        NODE_CAPACITY,
        NODE_LABELS,
        MEMORY,
        MACHINE_CORES,
    }
)
#: Counters the builder reads as per-second rates over the window (``rate(name[W])``).
COUNTERS = frozenset({RESTARTS, CPU, CFS_PERIODS, CFS_THROTTLED, ISTIO_REQUESTS, ISTIO_BUCKETS})
#: Gauges whose series seen anywhere in the window count (``max_over_time(x[W])``): who owns a
#: pod and where it ran, to attribute the usage of pods deleted during the window.
HELD = frozenset({POD_OWNER, REPLICASET_OWNER, POD_INFO})

ZONE_LABELS = ("label_topology_kubernetes_io_zone", "label_failure_domain_beta_kubernetes_io_zone")
PodKey = tuple[str, str]
ContainerKey = tuple[str, str, str]


@dataclass
class _Pods:
    owner: dict[PodKey, str] = field(default_factory=dict)  # the Deployment, over the window
    node: dict[PodKey, str] = field(default_factory=dict)  # over the window
    current_node: dict[PodKey, str] = field(default_factory=dict)  # pods that exist now
    pending: set[PodKey] = field(default_factory=set)


@dataclass
class _Usage:
    cpu: float = 0.0
    cpu_limit: float = 0.0
    memory: float = 0.0
    memory_limit: float = 0.0
    periods: float = 0.0
    throttled: float = 0.0
    restarts: float = 0.0


@dataclass
class _Traffic:
    rps: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))

    def absorb(self, other: _Traffic) -> None:
        self.rps += other.rps
        self.errors += other.errors
        for bound, rate in other.buckets.items():
            self.buckets[bound] += rate

    def quantile(self, q: float) -> float:
        return histogram_quantile(q, self.buckets.items())

    @property
    def error_ratio(self) -> float:
        return self.errors / self.rps if self.rps > 0 else 0.0


def _pod(labels: Mapping[str, str]) -> PodKey:
    return labels.get("namespace", ""), labels.get("pod", "")


def _container(sample: Sample) -> ContainerKey | None:
    """A cAdvisor sample's container, or None for cgroups that are no container of a pod."""
    labels = sample.labels
    pod, container = labels.get("pod"), labels.get("container")
    if not pod or not container or container == "POD" or labels.get("id") == "/":
        return None
    return labels.get("namespace", ""), pod, container


class ViewBuilder:
    """Turns frames into cluster views; stateless, so one builder may serve many sources."""

    gauges: frozenset[str] = GAUGES
    counters: frozenset[str] = COUNTERS
    held: frozenset[str] = HELD

    def __init__(self, reporter: str = "source") -> None:
        self.reporter = reporter

    def build(self, frame: Frame) -> ClusterView:
        pods = self._pods(frame)
        services = self._services(frame)
        self._resources(frame, pods, services)
        edges = self._traffic(frame, services)
        nodes = self._nodes(frame, pods)
        return ClusterView(time=frame.time, services=services, nodes=nodes, edges=edges)

    # ------------------------------------------------------------------ workloads

    def _pods(self, frame: Frame) -> _Pods:
        deployment_of = {
            (s.labels.get("namespace", ""), s.labels.get("replicaset", "")): s.labels["owner_name"]
            for s in frame.held_gauge(REPLICASET_OWNER)
            if s.labels.get("owner_kind") == "Deployment" and "owner_name" in s.labels
        }
        pods = _Pods()
        for s in frame.held_gauge(POD_OWNER):
            ns, _ = key = _pod(s.labels)
            if s.labels.get("owner_kind") == "ReplicaSet":
                deployment = deployment_of.get((ns, s.labels.get("owner_name", "")))
                if deployment is not None:
                    pods.owner[key] = deployment
        for s in frame.held_gauge(POD_INFO):
            if s.labels.get("node"):
                pods.node[_pod(s.labels)] = s.labels["node"]
        for s in frame.gauge(POD_INFO):
            if s.labels.get("node"):
                pods.current_node[_pod(s.labels)] = s.labels["node"]
        pods.pending = {
            _pod(s.labels)
            for s in frame.gauge(POD_PHASE)
            if s.labels.get("phase") == "Pending" and s.value > 0
        }
        return pods

    def _services(self, frame: Frame) -> dict[str, ServiceView]:
        services: dict[str, ServiceView] = {}
        for s in frame.gauge(DEPLOYMENT_REPLICAS):
            svc = ServiceView(s.labels.get("namespace", ""), s.labels.get("deployment", ""))
            svc.replicas = s.value
            services[svc.key] = svc
        for s in frame.gauge(DEPLOYMENT_READY):
            key = f"{s.labels.get('namespace', '')}/{s.labels.get('deployment', '')}"
            if key in services:
                services[key].ready_replicas = s.value
        return services

    def _resources(self, frame: Frame, pods: _Pods, services: dict[str, ServiceView]) -> None:
        usage: dict[str, _Usage] = defaultdict(_Usage)
        limits = _by_container(frame.gauge(LIMITS))
        requests = _by_container(frame.gauge(REQUESTS))
        nodes: dict[str, set[str]] = defaultdict(set)
        for pod, node in pods.current_node.items():
            if pod in pods.owner:
                nodes[f"{pod[0]}/{pods.owner[pod]}"].add(node)
        for s, container in _containers(frame.gauge(MEMORY)):
            deployment = pods.owner.get(container[:2])
            if deployment is None:
                continue
            u = usage[f"{container[0]}/{deployment}"]
            u.memory += s.value
            u.memory_limit += _resource(limits, requests, container, "memory")
            u.cpu_limit += _resource(limits, requests, container, "cpu")
        for name, attr in ((CPU, "cpu"), (CFS_PERIODS, "periods"), (CFS_THROTTLED, "throttled")):
            for s, container in _containers(frame.rate(name)):
                deployment = pods.owner.get(container[:2])
                if deployment is not None:
                    u = usage[f"{container[0]}/{deployment}"]
                    setattr(u, attr, getattr(u, attr) + s.value)
        for s in frame.rate(RESTARTS):
            deployment = pods.owner.get(_pod(s.labels))
            if deployment is not None:
                usage[f"{s.labels.get('namespace', '')}/{deployment}"].restarts += (
                    s.value * frame.window_s
                )
        pending: dict[str, int] = defaultdict(int)
        for pod in pods.pending:
            if pod in pods.owner:
                pending[f"{pod[0]}/{pods.owner[pod]}"] += 1
        for key, svc in services.items():
            u = usage.get(key, _Usage())
            svc.memory_bytes = u.memory
            svc.memory_ratio = u.memory / u.memory_limit if u.memory_limit > 0 else 0.0
            svc.pending_pods = float(pending.get(key, 0))
            svc.nodes = tuple(sorted(nodes.get(key, ())))
            if not frame.has_rates:
                svc.cpu_cores = svc.cpu_ratio = svc.throttle_ratio = svc.restarts = math.nan
                continue
            svc.cpu_cores = u.cpu
            svc.cpu_ratio = u.cpu / u.cpu_limit if u.cpu_limit > 0 else 0.0
            svc.throttle_ratio = u.throttled / u.periods if u.periods > 0 else 0.0
            svc.restarts = u.restarts

    # ------------------------------------------------------------------ traffic

    def _reported(self, sample: Sample) -> bool:
        return sample.labels.get("reporter", self.reporter) == self.reporter

    def _traffic(self, frame: Frame, services: dict[str, ServiceView]) -> dict[str, EdgeView]:
        if not frame.has_rates:
            for svc in services.values():
                svc.rps = svc.error_ratio = math.nan
            return {}
        per_edge: dict[tuple[str, str, str], _Traffic] = defaultdict(_Traffic)
        for s in frame.rate(ISTIO_REQUESTS):
            if self._reported(s):
                traffic = per_edge[_edge(s)]
                traffic.rps += s.value
                if s.labels.get("response_code", "").startswith("5"):
                    traffic.errors += s.value
        for s in frame.rate(ISTIO_BUCKETS):
            if self._reported(s) and "le" in s.labels:
                per_edge[_edge(s)].buckets[float(s.labels["le"])] += s.value
        into: dict[str, _Traffic] = defaultdict(_Traffic)
        edges: dict[str, EdgeView] = {}
        for (ns, src, dst), traffic in per_edge.items():
            edge = EdgeView(ns, src, dst, traffic.rps, traffic.error_ratio, traffic.quantile(0.99))
            edges[edge.key] = edge
            into[f"{ns}/{dst}"].absorb(traffic)
        for key, traffic in into.items():
            if key not in services:
                ns, _, name = key.partition("/")
                services[key] = ServiceView(ns, name)
            svc = services[key]
            svc.rps, svc.error_ratio = traffic.rps, traffic.error_ratio
            svc.p50_ms, svc.p95_ms, svc.p99_ms = (traffic.quantile(q) for q in (0.5, 0.95, 0.99))
            svc.latency_buckets = tuple(sorted(traffic.buckets.items()))
        return edges

    # ------------------------------------------------------------------ nodes

    def _nodes(self, frame: Frame, pods: _Pods) -> dict[str, NodeView]:
        nodes: dict[str, NodeView] = {}
        for s in frame.gauge(NODE_INFO) + frame.gauge(MACHINE_CORES):
            name = s.labels.get("node", "")
            if name and name not in nodes:
                nodes[name] = NodeView(name)
        _node_usage(frame, pods, nodes)
        for s in frame.gauge(NODE_CONDITION):
            ready = nodes.get(s.labels.get("node", ""))
            if ready and s.labels.get("condition") == "Ready" and s.labels.get("status") == "true":
                ready.ready = s.value
        for s in frame.gauge(NODE_UNSCHEDULABLE):
            if s.labels.get("node") in nodes:
                nodes[s.labels["node"]].unschedulable = s.value > 0
        for s in frame.gauge(NODE_LABELS):
            zone = next((s.labels[k] for k in ZONE_LABELS if s.labels.get(k)), None)
            if zone and s.labels.get("node") in nodes:
                nodes[s.labels["node"]].zone = zone
        return nodes


def _node_usage(frame: Frame, pods: _Pods, nodes: dict[str, NodeView]) -> None:
    """CPU (root cgroup and pods'), memory and pod count of each node."""
    for s in frame.gauge(NODE_CAPACITY):
        if s.labels.get("resource") == "cpu" and s.labels.get("node") in nodes:
            nodes[s.labels["node"]].cpu_capacity = s.value
    for s in frame.gauge(MACHINE_CORES):
        if s.labels.get("node") in nodes:
            nodes[s.labels["node"]].cpu_capacity = s.value
    root_cpu = {s.labels.get("node"): s.value for s in frame.rate(CPU) if _is_root(s)}
    root_memory = {s.labels.get("node"): s.value for s in frame.gauge(MEMORY) if _is_root(s)}
    pods_cpu = _per_node(frame.rate(CPU), pods)
    pods_memory = _per_node(frame.gauge(MEMORY), pods)
    pod_count = Counter(pods.current_node.values())
    for name, node in nodes.items():
        if frame.has_rates and name in root_cpu:
            node.cpu_cores = root_cpu[name]
            node.cpu_ratio = node.cpu_cores / node.cpu_capacity if node.cpu_capacity else 0.0
        else:
            node.cpu_cores = node.cpu_ratio = math.nan
        node.pods_cpu_cores = pods_cpu.get(name, 0.0) if frame.has_rates else math.nan
        node.memory_bytes = root_memory.get(name, pods_memory.get(name, 0.0))
        node.pods = float(pod_count.get(name, 0))


def _edge(sample: Sample) -> tuple[str, str, str]:
    labels = sample.labels
    return (
        labels.get("destination_workload_namespace", ""),
        labels.get("source_workload", ""),
        labels.get("destination_workload", ""),
    )


def _is_root(sample: Sample) -> bool:
    return sample.labels.get("id") == "/" and bool(sample.labels.get("node"))


def _containers(samples: list[Sample]) -> list[tuple[Sample, ContainerKey]]:
    out = []
    for s in samples:
        container = _container(s)
        if container is not None:
            out.append((s, container))
    return out


def _by_container(samples: list[Sample]) -> dict[tuple[str, str, str, str], float]:
    return {
        (*_pod(s.labels), s.labels.get("container", ""), s.labels.get("resource", "")): s.value
        for s in samples
    }


def _resource(
    limits: dict[tuple[str, str, str, str], float],
    requests: dict[tuple[str, str, str, str], float],
    container: ContainerKey,
    resource: str,
) -> float:
    key = (*container, resource)
    return limits.get(key) or requests.get(key) or 0.0


def _per_node(samples: list[Sample], pods: _Pods) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for s, container in _containers(samples):
        node = pods.node.get(container[:2]) or s.labels.get("node")
        if node:
            out[node] += s.value
    return out
