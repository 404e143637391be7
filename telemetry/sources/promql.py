"""The PromQL that yields a :class:`~telemetry.model.ClusterView`, and the view built from it.

:data:`QUERIES` is the one table of expressions; each names the labels that key its answer
(``namespace``/``name`` of a service, the three names of an edge, a node). :func:`assemble` turns
the answers, one ``{key: value}`` mapping per query, into a view; it does not care whether they
came from an instant query (``/api/v1/query``) or one step of a range query (back-fill).

**Pods to Deployments by joins, not by names.** cAdvisor and kube-state-metrics know pods; a
service is a Deployment. :data:`POD_DEPLOYMENT` maps ``(namespace, pod)`` to ``deployment``
through the owner chain kube-state-metrics exports: ``kube_pod_owner`` (pod → ReplicaSet)
``* on (namespace, replicaset) group_left (deployment)`` ``kube_replicaset_owner`` (ReplicaSet →
Deployment). ``label_replace`` only renames ``owner_name`` so the two sides share a label. Cutting
the pod-template hash off the ReplicaSet name would be shorter but guesses: it would also claim
ReplicaSets no Deployment owns and pods released from their ReplicaSet. The map takes
``max_over_time`` over the rate window so a pod deleted inside the window still counts the CPU it
used there.

**Time scale.** PromQL windows and ``rate()`` are in the Prometheus server's (wall) seconds.
Queries marked ``per_second`` are divided by ``time_scale`` (simulated seconds per wall second of
the scraped cluster; 1 for a real one) so views are per simulated second; ratios, gauges, counts
and latencies need no scaling. ``restarts`` counts restarts over the window, which spans
``window x time_scale`` simulated seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..model import ClusterView, EdgeView, NodeView, ServiceView

#: Labels of an answer's series, in the order a query's ``keys`` names them.
Key = tuple[str, ...]
#: Answers of one evaluation: query name → series key → value.
Answers = Mapping[str, Mapping[Key, float]]


@dataclass(frozen=True)
class Query:
    """One PromQL expression; ``{w}`` stands for the rate window (``1m``)."""

    name: str
    expr: str
    keys: tuple[str, ...]
    per_second: bool = False

    def render(self, window: str) -> str:
        return self.expr.replace("{w}", window)


_CONTAINERS = 'container!="", container!="POD", pod!=""'
_ISTIO = 'reporter="source"'

#: ``(namespace, pod) → deployment`` over the window, through the owner references.
POD_DEPLOYMENT = (
    "max by (namespace, pod, deployment) ("
    "max by (namespace, pod, replicaset) (label_replace("
    'max_over_time(kube_pod_owner{owner_kind="ReplicaSet"}[{w}]),'
    ' "replicaset", "$1", "owner_name", "(.+)"))'
    " * on (namespace, replicaset) group_left (deployment) "
    "max by (namespace, replicaset, deployment) (label_replace("
    'max_over_time(kube_replicaset_owner{owner_kind="Deployment"}[{w}]),'
    ' "deployment", "$1", "owner_name", "(.+)")))'
)
_RUNNING = f"and on (namespace, pod, container) container_memory_working_set_bytes{{{_CONTAINERS}}}"


def by_deployment(inner: str, agg: str = "sum") -> str:
    """``inner`` (series with ``namespace`` and ``pod``) aggregated per Deployment."""
    return (
        f"{agg} by (namespace, deployment) (({inner})"
        f" * on (namespace, pod) group_left (deployment) {POD_DEPLOYMENT})"
    )


def _limits(resource: str) -> str:
    """Limits (or requests, without a limit) of the running containers (those cAdvisor sees)."""
    return by_deployment(
        f'(kube_pod_container_resource_limits{{resource="{resource}"}}'
        " or on (namespace, pod, container)"
        f' kube_pod_container_resource_requests{{resource="{resource}"}}) {_RUNNING}'
    )


def _istio(by: str, codes: str = "") -> str:
    return f"sum by ({by}) (rate(istio_requests_total{{{_ISTIO}{codes}}}[{{w}}]))"


def _quantile(q: float, by: str) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) "
        f"(rate(istio_request_duration_milliseconds_bucket{{{_ISTIO}}}[{{w}}])))"
    )


ZONE_LABELS = ("label_topology_kubernetes_io_zone", "label_failure_domain_beta_kubernetes_io_zone")
_SVC = ("destination_workload_namespace", "destination_workload")
_EDGE = ("destination_workload_namespace", "source_workload", "destination_workload")
_DEP = ("namespace", "deployment")
_5XX = ', response_code=~"5.."'

#: Every expression the PromQL source evaluates, by the view field it feeds.
QUERIES: tuple[Query, ...] = (
    # services: requests into them as their callers report them
    Query("svc_rps", _istio(", ".join(_SVC)), _SVC, per_second=True),
    Query("svc_errors", _istio(", ".join(_SVC), _5XX), _SVC, per_second=True),
    Query("svc_p50", _quantile(0.5, ", ".join(_SVC)), _SVC),
    Query("svc_p95", _quantile(0.95, ", ".join(_SVC)), _SVC),
    Query("svc_p99", _quantile(0.99, ", ".join(_SVC)), _SVC),
    Query(
        "svc_buckets",
        f"sum by ({', '.join(_SVC)}, le) "
        f"(rate(istio_request_duration_milliseconds_bucket{{{_ISTIO}}}[{{w}}]))",
        (*_SVC, "le"),
        per_second=True,
    ),
    # services: their pods, through the owner chain
    Query(
        "svc_cpu",
        by_deployment(f"rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[{{w}}])"),
        _DEP,
        per_second=True,
    ),
    Query("svc_cpu_limit", _limits("cpu"), _DEP),
    Query(
        "svc_throttled",
        by_deployment(f"rate(container_cpu_cfs_throttled_periods_total{{{_CONTAINERS}}}[{{w}}])"),
        _DEP,
        per_second=True,
    ),
    Query(
        "svc_periods",
        by_deployment(f"rate(container_cpu_cfs_periods_total{{{_CONTAINERS}}}[{{w}}])"),
        _DEP,
        per_second=True,
    ),
    Query(
        "svc_memory", by_deployment(f"container_memory_working_set_bytes{{{_CONTAINERS}}}"), _DEP
    ),
    Query("svc_memory_limit", _limits("memory"), _DEP),
    Query(
        "svc_restarts",
        by_deployment("increase(kube_pod_container_status_restarts_total[{w}])"),
        _DEP,
    ),
    Query("svc_pending", by_deployment('kube_pod_status_phase{phase="Pending"} == 1'), _DEP),
    Query("svc_replicas", "max by (namespace, deployment) (kube_deployment_spec_replicas)", _DEP),
    Query(
        "svc_ready", "max by (namespace, deployment) (kube_deployment_status_replicas_ready)", _DEP
    ),
    Query(
        "svc_nodes",
        "max by (namespace, deployment, node) ("
        'kube_pod_info{node!=""} * on (namespace, pod) group_left (deployment) '
        f"{POD_DEPLOYMENT})",
        (*_DEP, "node"),
    ),
    # edges: caller → callee
    Query("edge_rps", _istio(", ".join(_EDGE)), _EDGE, per_second=True),
    Query("edge_errors", _istio(", ".join(_EDGE), _5XX), _EDGE, per_second=True),
    Query("edge_p99", _quantile(0.99, ", ".join(_EDGE)), _EDGE),
    # nodes: the root cgroup for everything on the node, containers for its pods
    Query(
        "node_cpu",
        'sum by (node) (rate(container_cpu_usage_seconds_total{id="/"}[{w}]))',
        ("node",),
        per_second=True,
    ),
    Query(
        "node_capacity",
        "max by (node) (machine_cpu_cores)"
        ' or max by (node) (kube_node_status_capacity{resource="cpu"})',
        ("node",),
    ),
    Query(
        "node_pods_cpu",
        f"sum by (node) (rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[{{w}}]))",
        ("node",),
        per_second=True,
    ),
    Query(
        "node_memory",
        'sum by (node) (container_memory_working_set_bytes{id="/"})'
        f" or sum by (node) (container_memory_working_set_bytes{{{_CONTAINERS}}})",
        ("node",),
    ),
    Query("node_info", "max by (node) (kube_node_info)", ("node",)),
    Query(
        "node_ready",
        'max by (node) (kube_node_status_condition{condition="Ready", status="true"})',
        ("node",),
    ),
    Query("node_unschedulable", "max by (node) (kube_node_spec_unschedulable)", ("node",)),
    Query("node_pods", 'count by (node) (kube_pod_info{node!=""})', ("node",)),
    Query(
        "node_zone",
        f"max by (node, {', '.join(ZONE_LABELS)}) (kube_node_labels)",
        ("node", *ZONE_LABELS),
    ),
)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _services(answers: Answers) -> dict[str, ServiceView]:
    def get(query: str, key: Key, default: float = 0.0) -> float:
        return answers.get(query, {}).get(key, default)

    keys = {k for q in ("svc_rps", "svc_replicas") for k in answers.get(q, {})}
    nodes: dict[Key, list[str]] = {}
    for ns, dep, node in answers.get("svc_nodes", {}):
        nodes.setdefault((ns, dep), []).append(node)
    buckets: dict[Key, list[tuple[float, float]]] = {}
    for (ns, name, le), value in answers.get("svc_buckets", {}).items():
        buckets.setdefault((ns, name), []).append((float(le), value))
    out: dict[str, ServiceView] = {}
    for key in sorted(keys):
        ns, name = key
        rps, cpu, memory = get("svc_rps", key), get("svc_cpu", key), get("svc_memory", key)
        view = ServiceView(
            namespace=ns,
            name=name,
            rps=rps,
            error_ratio=_ratio(get("svc_errors", key), rps),
            p50_ms=get("svc_p50", key, math.nan),
            p95_ms=get("svc_p95", key, math.nan),
            p99_ms=get("svc_p99", key, math.nan),
            cpu_cores=cpu,
            cpu_ratio=_ratio(cpu, get("svc_cpu_limit", key)),
            throttle_ratio=_ratio(get("svc_throttled", key), get("svc_periods", key)),
            memory_bytes=memory,
            memory_ratio=_ratio(memory, get("svc_memory_limit", key)),
            restarts=get("svc_restarts", key),
            pending_pods=get("svc_pending", key),
            replicas=get("svc_replicas", key),
            ready_replicas=get("svc_ready", key),
            nodes=tuple(sorted(nodes.get(key, []))),
            latency_buckets=tuple(sorted(buckets.get(key, []))),
        )
        out[view.key] = view
    return out


def _edges(answers: Answers) -> dict[str, EdgeView]:
    out: dict[str, EdgeView] = {}
    for key, rps in sorted(answers.get("edge_rps", {}).items()):
        ns, src, dst = key
        view = EdgeView(
            namespace=ns,
            source=src,
            destination=dst,
            rps=rps,
            error_ratio=_ratio(answers.get("edge_errors", {}).get(key, 0.0), rps),
            p99_ms=answers.get("edge_p99", {}).get(key, math.nan),
        )
        out[view.key] = view
    return out


def _nodes(answers: Answers) -> dict[str, NodeView]:
    def get(query: str, name: str, default: float = 0.0) -> float:
        return answers.get(query, {}).get((name,), default)

    names = {k[0] for q in ("node_info", "node_capacity") for k in answers.get(q, {})}
    zones = {node: next((z for z in zs if z), None) for node, *zs in answers.get("node_zone", {})}
    out: dict[str, NodeView] = {}
    for name in sorted(names):
        capacity, cpu = get("node_capacity", name), get("node_cpu", name, math.nan)
        out[name] = NodeView(
            name=name,
            cpu_capacity=capacity,
            cpu_cores=cpu,
            cpu_ratio=cpu / capacity if capacity > 0 else (math.nan if math.isnan(cpu) else 0.0),
            pods_cpu_cores=get("node_pods_cpu", name),
            memory_bytes=get("node_memory", name),
            ready=get("node_ready", name, 1.0),
            unschedulable=get("node_unschedulable", name) > 0,
            pods=get("node_pods", name),
            zone=zones.get(name),
        )
    return out


def assemble(time: float, answers: Answers, time_scale: float = 1.0) -> ClusterView:
    """The view at ``time`` from the answers to :data:`QUERIES` (keyed by query name).

    Answers of ``per_second`` queries are divided by ``time_scale`` here.
    """
    scaled = {
        q.name: {k: v / time_scale for k, v in answers.get(q.name, {}).items()}
        if q.per_second
        else answers.get(q.name, {})
        for q in QUERIES
    }
    return ClusterView(
        time=time, services=_services(scaled), nodes=_nodes(scaled), edges=_edges(scaled)
    )


__all__ = ["POD_DEPLOYMENT", "QUERIES", "Answers", "Key", "Query", "assemble", "by_deployment"]
