"""What several rules judge alike: target references, evidence, a node's trouble, a service's
inner health, whether a callee explains a service's trouble, the application's load."""

from __future__ import annotations

import math

from controlplane import Evidence, TargetKind, TargetRef

from ..facts import Change, Facts
from ..topology import INGRESS, split_key

__all__ = [
    "all_callers",
    "app_load",
    "callee_explains",
    "cpu_limit",
    "depth",
    "entries",
    "ev",
    "internally_healthy",
    "node_ref",
    "node_trouble",
    "outside_pods",
    "pod_ref",
    "pressure",
    "recent_changes",
    "rolled",
    "rounded",
    "service_ref",
]


def service_ref(key: str) -> TargetRef:
    namespace, name = split_key(key)
    return TargetRef(kind=TargetKind.SERVICE, namespace=namespace, name=name)


def pod_ref(key: str, pod: str) -> TargetRef:
    return TargetRef(kind=TargetKind.POD, namespace=split_key(key)[0], name=pod)


def node_ref(node: str) -> TargetRef:
    return TargetRef(kind=TargetKind.NODE, name=node)


def ev(
    name: str, value: float | str, baseline: float | None = None, unit: str | None = None
) -> Evidence:
    if isinstance(value, float) and not math.isfinite(value):
        value = "n/a"
    if baseline is not None and not math.isfinite(baseline):
        baseline = None
    return Evidence(name=name, value=value, baseline=baseline, unit=unit)


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits) if math.isfinite(value) else value


def node_trouble(f: Facts, node: str) -> str | None:
    """Why ``node`` is in trouble (not ready, metrics gone, CPU eaten outside pods), or None."""
    view = f.ctx.view.nodes.get(node)
    if "ready" in f.node_signals.get(node, {}) or (view is not None and view.ready < 0.5):
        return "not ready"
    if any(c.reason == "NodeNotReady" for c in f.changes_of(node) if c.at >= f.onset - 60):
        return "not ready"
    cpu = f.node(node, "cpu_cores")
    if cpu.base > 0.01 and cpu.last == 0 and view is not None and view.pods > 0:
        return "metrics vanished"
    if outside_pods(f, node) is not None:
        return "cpu outside pods"
    return None


def outside_pods(f: Facts, node: str) -> tuple[float, float, float] | None:
    """(CPU used outside pods now, before, capacity) when it rose by a quarter of the node."""
    view = f.ctx.view.nodes.get(node)
    if view is None or not view.cpu_capacity > 0:
        return None
    total, pods = f.node(node, "cpu_cores"), f.node(node, "pods_cpu_cores")
    now = total.last - pods.last
    before = total.base - pods.base
    if not (math.isfinite(now) and math.isfinite(before)):
        return None
    ratio = f.node(node, "cpu_ratio")
    if now - before >= 0.25 * view.cpu_capacity and ratio.last >= 0.85:
        return now, before, view.cpu_capacity
    return None


def recent_changes(f: Facts, key: str) -> list[Change]:
    """What happened to ``key``'s pods that could explain failing calls: probe failures,
    crashes and unschedulable pods around the onset, rollouts and kills from a minute before it
    (a rollout that finished earlier, its pods Ready, explains nothing)."""
    out = []
    for change in f.changes_of(key):
        if change.reason in ("Unhealthy", "BackOff", "FailedScheduling"):
            if f.near_onset(change) or change.at >= f.onset:
                out.append(change)
        elif change.reason in ("ScalingReplicaSet", "Killing") and change.at >= f.onset - 60:
            out.append(change)
    return out


def internally_healthy(f: Facts, key: str) -> bool:
    """Nothing wrong inside ``key``: all replicas Ready, no restarts, no more throttling or
    memory, nothing Pending, no change to it around the onset, its nodes fine."""
    metrics = f.signal_metrics(key) - {"error_ratio", "p99_ms", "p50_ms"}
    if metrics:
        return False
    ready, replicas = f.svc(key, "ready_replicas"), f.svc(key, "replicas")
    if not replicas.last > 0 or ready.low < replicas.last:
        return False
    if f.svc(key, "restarts").high > 0 or f.svc(key, "pending_pods").high > 0:
        return False
    if f.svc(key, "throttle_ratio").rise() >= 0.1:
        return False
    if recent_changes(f, key):
        return False
    return not any(node_trouble(f, n) for n in f.ctx.topology.nodes_of(key))


def callee_explains(f: Facts, key: str) -> str | None:
    """A callee whose calls from ``key`` fail or slow down, explaining ``key``'s trouble."""
    errors = f.errors_up(key)
    for callee in sorted(f.ctx.topology.callees(key)):
        if f.edge_errors_up(key, callee) or (not errors and f.edge_latency_up(key, callee)):
            return callee
    return None


def depth(f: Facts, key: str | None) -> int:
    if key is None:
        return 0
    found = f.ctx.topology.depth(key)
    return found if found < 1_000 else 0


def all_callers(f: Facts, key: str) -> list[str]:
    """Every workload whose calls into ``key`` the edge views report (ingress included)."""
    namespace, name = split_key(key)
    return sorted(
        f"{e.namespace}/{e.source}"
        for e in f.ctx.view.edges.values()
        if e.namespace == namespace and e.destination == name
    )


def rolled(f: Facts, change: Change) -> bool:
    """Whether a pod's deletion was its Deployment's doing (a rollout or scale-down)."""
    return any(
        abs(c.at - change.at) <= 30 for c in f.changes_of(change.subject, "ScalingReplicaSet")
    )


def cpu_limit(f: Facts, key: str) -> tuple[float, float]:
    """The per-replica CPU limit before the onset and now, inferred from usage over ratio."""

    def limit(cores: float, ratio: float, replicas: float) -> float:
        if not (ratio > 0.005 and cores > 0 and replicas > 0):
            return math.nan
        return cores / ratio / replicas

    cores, ratio, reps = f.svc(key, "cpu_cores"), f.svc(key, "cpu_ratio"), f.svc(key, "replicas")
    return limit(cores.base, ratio.base, reps.base), limit(cores.last, ratio.last, reps.last)


def entries(f: Facts) -> list[str]:
    """Services called from outside the application (by the ingress gateway)."""
    found = {
        f"{e.namespace}/{e.destination}" for e in f.ctx.view.edges.values() if e.source == INGRESS
    }
    return sorted(found | f.ctx.topology.entry_points())


def app_load(f: Facts, namespace: str | None) -> float:
    """How many times its usual load the application's entry takes now (against the hour
    before and the quarter hour before the onset, whichever is lower)."""
    ratios = [1.0]
    for entry in entries(f):
        if split_key(entry)[0] != namespace:
            continue
        rps = f.svc(entry, "rps")
        namespace_, name = split_key(entry)
        long_base = f.long_base(f"service/{namespace_}/{name}/rps")
        bases = [b for b in (rps.base, long_base) if b > 0]
        if bases and math.isfinite(rps.last):
            ratios.append(rps.last / min(bases))
    return max(ratios)


def pressure(f: Facts, key: str) -> float:
    """How saturated ``key`` is now: its CPU over its limit, or its throttling."""
    cpu, throttle = f.svc(key, "cpu_ratio").last, f.svc(key, "throttle_ratio").last
    values = [v for v in (cpu, throttle) if math.isfinite(v)]
    return max(values) if values else 0.0
