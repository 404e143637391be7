"""Candidate actions for the top hypotheses: the catalogue actions that could fix each cause,
as absolute desired states, with their expected effect, risk and cost.

Each cause has its remedies in order of preference (docs/analysis.md has the table): roll back
a bad rollout to the previous revision, scale a workload scaled to zero back to its replicas,
delete a failed pod, restart a service, raise a lowered CPU limit back, revert a Service's
``targetPort`` to the port its pods declare, uncordon cordoned nodes, drain a failed or noisy
node, move workloads off it, scale out saturated services (sized from demand), or do nothing
when Kubernetes heals it. An escalation to a person always comes last.

What a remedy needs of the cluster's current state (a Deployment's revision history, a Service's
ports, a pod's UID, the nodes) comes from a :class:`~agents.analysis.cluster.ClusterReader`; the
precondition of every request is the ``resourceVersion`` read there. Without a reader only the
remedies that need nothing more than telemetry are offered (restart, scale, uncordon, drain,
noop).

**Risk** is the catalogue's risk of the action kind (none 0, low 0.2, medium 0.4, high 0.6),
raised by 0.2 when a workload has a single replica (a template change or restart takes its only
pod through a restart) and by 0.1 per five pods a node action moves. **Cost** is the pods the
action (re)starts plus the CPU cores it adds to requests or limits.

**Sizing** (scale-outs): the CPU one request costs is the service's baseline CPU over its
baseline request rate; the demand is the current request rate, projected ``forecast_s`` ahead
along its half-hour trend when it grows (Theil-Sen: a step up is not a trend); replicas =
ceil(demand x CPU per request / (target utilisation x CPU limit per pod)), at least one more
than now, at most ``max_scale_factor`` times now and ``max_replicas``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

from actions import CATALOGUE, Risk
from controlplane import (
    ActionKind,
    ActionRequest,
    AgentError,
    BatchState,
    Candidate,
    DesiredState,
    DrainState,
    EscalationState,
    NoActionState,
    PlacementState,
    PodDeletionState,
    ReplicasState,
    ResourcesState,
    RestartState,
    RevisionState,
    SchedulableState,
    ServicePortState,
    TargetKind,
    TargetRef,
    WorkloadStep,
)

from .causes import Cause, Finding
from .cluster import ClusterReader, NodeInfo, WorkloadInfo
from .facts import Facts
from .topology import split_key

__all__ = ["build_candidates", "size_replicas"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RISK = {Risk.NONE: 0.0, Risk.LOW: 0.2, Risk.MEDIUM: 0.4, Risk.HIGH: 0.6}
FORECAST_S = 1800.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu(value: str | None) -> float:
    if not value:
        return math.nan
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _millicores(cores: float) -> str:
    return f"{max(1, math.ceil(cores * 1000))}m"


def _memory_mib(value: str | None) -> float:
    if not value:
        return math.nan
    units = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0**2}
    for suffix, scale in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * scale
    return float(value) / 2**20


class _Builder:
    """Builds the candidates of one analysis: shared reads, the request boilerplate."""

    def __init__(self, facts: Facts) -> None:
        self.f = facts
        self.ctx = facts.ctx
        self.reader: ClusterReader | None = facts.ctx.cluster
        self._workloads: dict[str, WorkloadInfo | None] = {}
        self._nodes: list[NodeInfo] | None = None

    # --- reads (failures degrade to "unknown") -----------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except AgentError as exc:
            log.warning(
                "analysis could not read the cluster", extra={"what": what, "err": str(exc)}
            )
            return None

    def workload(self, key: str) -> WorkloadInfo | None:
        if self.reader is None:
            return None
        if key not in self._workloads:
            namespace, name = split_key(key)
            reader = self.reader
            self._workloads[key] = self._read(key, lambda: reader.workload(namespace or "", name))
        return self._workloads[key]

    def nodes(self) -> list[NodeInfo]:
        if self._nodes is None:
            reader = self.reader
            found = self._read("nodes", reader.nodes) if reader is not None else None
            self._nodes = found or []
        return self._nodes

    def node(self, name: str) -> NodeInfo | None:
        return next((n for n in self.nodes() if n.name == name), None)

    # --- requests ---------------------------------------------------------------------------

    def request(
        self,
        kind: ActionKind,
        target: TargetRef,
        desired: DesiredState,
        reason: str,
        version: str | None = None,
    ) -> ActionRequest:
        generation = None
        if target.kind is TargetKind.DEPLOYMENT:  # spec changes only, not status churn
            info = self.workload(f"{target.namespace}/{target.name}")
            if info is not None and info.generation is not None:
                generation, version = info.generation, None
        return ActionRequest(
            kind=kind,
            target=target,
            desired=desired,
            precondition_resource_version=version,
            precondition_generation=generation,
            reason=reason,
            decided_by=self.ctx.decided_by,
            incident_id=self.ctx.incident_id,
            created_at=self.ctx.now,
        )

    def candidate(
        self,
        kind: ActionKind,
        target: TargetRef,
        desired: DesiredState,
        finding: Finding,
        effect: str,
        *,
        version: str | None = None,
        extra_risk: float = 0.0,
        cost: float = 0.0,
    ) -> Candidate:
        risk = RISK[CATALOGUE[kind].risk] + extra_risk
        return Candidate(
            action=self.request(kind, target, desired, finding.summary, version),
            expected_effect=effect,
            risk=round(min(max(risk, 0.0), 1.0), 3),
            cost=round(max(cost, 0.0), 3),
        )

    # --- workload actions -------------------------------------------------------------------

    @staticmethod
    def deployment(key: str) -> TargetRef:
        namespace, name = split_key(key)
        return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=name)

    def replicas(self, key: str) -> int:
        info = self.workload(key)
        if info is not None:
            return info.replicas
        last = self.f.svc(key, "replicas").last
        return int(last) if math.isfinite(last) else 1

    def single(self, key: str) -> float:
        return 0.2 if self.replicas(key) <= 1 else 0.0

    def restart(self, key: str, finding: Finding, effect: str) -> Candidate:
        info = self.workload(key)
        return self.candidate(
            ActionKind.RESTART,
            self.deployment(key),
            RestartState(restarted_at=_iso(self.ctx.now)),
            finding,
            effect,
            version=info.resource_version if info else None,
            extra_risk=self.single(key),
            cost=self.replicas(key),
        )

    def rollback(self, key: str, finding: Finding, effect: str) -> Candidate | None:
        info = self.workload(key)
        previous = info.previous() if info else None
        if info is None or previous is None:
            return None
        images = ", ".join(previous.images)
        return self.candidate(
            ActionKind.ROLLBACK,
            self.deployment(key),
            RevisionState(revision=previous.number),
            finding,
            f"{effect} (revision {previous.number}: {images})",
            version=info.resource_version,
            extra_risk=self.single(key),
            cost=info.replicas,
        )

    def scale(self, key: str, replicas: int, finding: Finding, effect: str) -> Candidate:
        info = self.workload(key)
        current = self.replicas(key)
        per_pod = self._cpu_request(key)
        return self.candidate(
            ActionKind.SCALE,
            self.deployment(key),
            ReplicasState(replicas=replicas),
            finding,
            effect,
            version=info.resource_version if info else None,
            cost=max(replicas - current, 0) * (1.0 + (per_pod if math.isfinite(per_pod) else 0)),
        )

    def batch(self, parts: list[Candidate], finding: Finding, effect: str) -> Candidate | None:
        """One decision for several scale/restart candidates in one namespace (``None`` for
        fewer than two): as risky as its riskiest step, as costly as all of them."""
        steps = [
            WorkloadStep(
                name=c.action.target.name,
                desired=c.action.desired,
                precondition_generation=c.action.precondition_generation,
            )
            for c in parts
            if isinstance(c.action.desired, ReplicasState | RestartState)
        ]
        namespaces = {c.action.target.namespace for c in parts}
        namespace = next(iter(namespaces))
        if len(steps) < 2 or len(steps) != len(parts) or len(namespaces) != 1 or not namespace:
            return None
        riskiest = max(c.risk for c in parts) - RISK[CATALOGUE[ActionKind.BATCH].risk]
        return self.candidate(
            ActionKind.BATCH,
            TargetRef(kind=TargetKind.NAMESPACE, name=namespace),
            BatchState(steps=steps),
            finding,
            effect,
            extra_risk=max(riskiest, 0.0),
            cost=sum(c.cost for c in parts),
        )

    def _cpu_request(self, key: str) -> float:
        info = self.workload(key)
        if info is None or not info.containers:
            return math.nan
        return _cpu(info.containers[0].cpu_request)

    def delete_pods(
        self, key: str, pods: Iterable[str], finding: Finding, effect: str
    ) -> list[Candidate]:
        if self.reader is None:
            return []
        namespace, name = split_key(key)
        reader = self.reader
        found = self._read(key, lambda: reader.pods(namespace or "", name))
        live = {p.name: p for p in found or []}
        out = []
        for pod in pods:
            info = live.get(pod)
            if info is None or info.deleting:
                continue
            out.append(
                self.candidate(
                    ActionKind.DELETE_POD,
                    TargetRef(kind=TargetKind.POD, namespace=namespace, name=pod),
                    PodDeletionState(pod_uid=info.uid),
                    finding,
                    effect,
                    version=info.resource_version,
                    cost=1.0,
                )
            )
        return out

    def only_pod(self, key: str) -> tuple[str, ...]:
        """The single live pod of a single-replica workload (nothing when there are more)."""
        if self.reader is None or self.replicas(key) != 1:
            return ()
        namespace, name = split_key(key)
        reader = self.reader
        live = [
            p
            for p in self._read(key, lambda: reader.pods(namespace or "", name)) or []
            if not p.deleting
        ]
        return (live[0].name,) if len(live) == 1 else ()

    def move(self, key: str, avoid: list[str], finding: Finding, effect: str) -> Candidate | None:
        info = self.workload(key)
        selector = dict(info.node_selector) if info else {}
        usable = [
            n for n in self.nodes() if n.name not in avoid and n.ready and not n.unschedulable
        ]
        if self.reader is not None and len(usable) < max(1, len(self.nodes()) // 2):
            return None  # it would crowd the workload onto too few nodes
        zone = self._zone_with_headroom(usable, avoid)
        if zone is not None and self.replicas(key) <= 1:
            selector["topology.kubernetes.io/zone"] = zone
            effect = f"{effect}; into zone {zone}, which has the most CPU headroom"
        return self.candidate(
            ActionKind.MOVE,
            self.deployment(key),
            PlacementState(node_selector=selector, avoid_nodes=sorted(avoid)),
            finding,
            effect,
            version=info.resource_version if info else None,
            extra_risk=self.single(key),
            cost=self.replicas(key),
        )

    def _zone_with_headroom(self, usable: list[NodeInfo], avoid: list[str]) -> str | None:
        """The zone (other than the avoided nodes' zones, if possible) with the most spare CPU."""
        view = self.ctx.view.nodes
        bad_zones = {n.zone for n in self.nodes() if n.name in avoid and n.zone}
        headroom: dict[str, float] = {}
        for node in usable:
            if node.zone is None:
                continue
            used = view[node.name].cpu_cores if node.name in view else 0.0
            spare = max(node.cpu_allocatable - (used if math.isfinite(used) else 0.0), 0.0)
            headroom[node.zone] = headroom.get(node.zone, 0.0) + spare
        other = {z: h for z, h in headroom.items() if z not in bad_zones}
        pool = other or headroom
        if not pool:
            return None
        return sorted(pool.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


# --- sizing ----------------------------------------------------------------------------------


def size_replicas(facts: Facts, key: str, current: int, *, forecast_s: float = FORECAST_S) -> int:
    """Replicas that serve ``key``'s demand (projected ``forecast_s`` ahead) at the target
    utilisation of the CPU limit; see the module docstring."""
    cfg = facts.config
    rps, cpu, ratio = (
        facts.svc(key, "rps"),
        facts.svc(key, "cpu_cores"),
        facts.svc(key, "cpu_ratio"),
    )
    base_replicas = facts.svc(key, "replicas").base
    upper = max(current + 1, min(cfg.max_replicas, math.ceil(current * cfg.max_scale_factor)))
    if not (rps.base > 0 and cpu.base > 0 and ratio.base > 0 and base_replicas > 0):
        return min(current + 1, cfg.max_replicas)
    per_request = cpu.base / rps.base
    limit = cpu.base / ratio.base / base_replicas
    demand = max(rps.last, rps.mid) + max(_slope(facts, key), 0.0) * forecast_s
    need = math.ceil(demand * per_request / (cfg.target_utilisation * limit))
    return int(min(max(need, current + 1), upper, cfg.max_replicas))


def _slope(facts: Facts, key: str) -> float:
    """The request rate's trend (per second) over the last half hour: the Theil-Sen estimate
    (median of pairwise slopes), so a step up at its end is not read as a trend to extrapolate."""
    namespace, name = split_key(key)
    times, values = facts.ctx.store.window(f"service/{namespace}/{name}/rps", 1800.0, facts.now)
    keep = np.isfinite(values)
    times, values = times[keep], values[keep]
    if times.size < 8:
        return 0.0
    i, j = np.triu_indices(times.size, k=1)
    return float(np.median((values[j] - values[i]) / (times[j] - times[i])))


# --- remedies per cause --------------------------------------------------------------------


def _remedies(b: _Builder, finding: Finding) -> list[Candidate | None]:
    key = finding.service or ""
    cause = finding.cause
    if cause is Cause.NODE_DOWN:
        return _node_down(b, finding)
    if cause is Cause.NOISY_NEIGHBOUR:
        return _noisy(b, finding)
    if cause is Cause.CORDONED:
        return [_uncordon(b, node, finding) for node in finding.nodes]
    if cause in (Cause.BAD_RELEASE, Cause.BAD_CONFIG):
        return [
            b.rollback(key, finding, "the previous revision's template comes back"),
            b.restart(
                key,
                finding,
                "fresh pods of the current revision (helps only if the "
                "fault is in the pods, not the revision)",
            ),
        ]
    if cause is Cause.NODE_SELECTOR:
        info = b.workload(key)
        previous = info.previous() if info else None
        out = [b.rollback(key, finding, "pods schedulable again with the previous template")]
        if previous is not None:
            out.append(
                b.candidate(
                    ActionKind.MOVE,
                    b.deployment(key),
                    PlacementState(node_selector=dict(previous.node_selector), avoid_nodes=[]),
                    finding,
                    "the node selector of the previous revision: the pods fit existing nodes",
                    version=info.resource_version if info else None,
                    extra_risk=b.single(key),
                    cost=b.replicas(key),
                )
            )
        return out
    if cause is Cause.CPU_LIMIT:
        return [_raise_cpu(b, key, finding), b.rollback(key, finding, "the previous CPU limit")]
    if cause is Cause.SERVICE_PORT:
        return [_revert_port(b, key, finding)]
    if cause is Cause.SCALED_DOWN:
        base = finding_base_replicas(b, key)
        return [b.scale(key, base, finding, f"{base} replica(s) serve again, as before")]
    if cause is Cause.POD_KILLED:
        return [
            b.candidate(
                ActionKind.NOOP,
                TargetRef(kind=TargetKind.POD, namespace=split_key(key)[0], name=finding.pods[0]),
                NoActionState(),
                finding,
                "none needed: the ReplicaSet has replaced the pod; errors stop once it is Ready",
            ),
        ]
    if cause is Cause.POD_FAILED:
        return [
            *b.delete_pods(
                key, finding.pods, finding, "the failed pod goes; its replacement starts healthy"
            ),
            b.restart(key, finding, "every pod replaced by a rolling update"),
        ]
    if cause is Cause.MEMORY_LEAK:
        return _leak_remedies(b, key, finding)
    if cause is Cause.CPU_HOG:
        pods = finding.pods or b.only_pod(key)
        remedies: list[Candidate | None] = list(
            b.delete_pods(
                key,
                pods,
                finding,
                "the pod burning CPU goes; its replacement is not affected",
            )
        )
        restart = b.restart(key, finding, "every pod replaced: the CPU burner goes with its pod")
        if b.replicas(key) <= 1:
            # deleting the only pod takes the service down until its replacement is ready (the
            # guardrails refuse it); a rolling restart starts the new pod first
            remedies.insert(0, restart)
        else:
            remedies.append(restart)
        current = b.replicas(key)
        remedies.append(
            b.scale(
                key,
                size_replicas(b.f, key, current),
                finding,
                "more replicas dilute the CPU burner",
            )
        )
        return remedies
    if cause is Cause.NETWORK:
        nodes = sorted(b.ctx.topology.nodes_of(key))
        return [
            b.restart(
                key,
                finding,
                f"new {split_key(key)[1]} pods, outside the faulty network "
                f"path to {', '.join(split_key(p)[1] for p in finding.peers)}",
            ),
            b.move(key, nodes, finding, "pods rescheduled off the nodes of the faulty path"),
        ]
    if cause is Cause.DB_AUTH:
        restarts = [
            b.restart(
                client, finding, f"{split_key(client)[1]} reconnects with the current credentials"
            )
            for client in finding.peers
        ]
        names = ", ".join(split_key(c)[1] for c in finding.peers)
        every = b.batch(restarts, finding, f"every client ({names}) reconnects with them")
        return [every, *restarts]  # one client restarted leaves the others refused
    if cause is Cause.LOAD_SURGE:
        return _scale_saturated(b, finding)
    # generic: the deepest troubled service
    current = b.replicas(key)
    return [
        b.restart(key, finding, "fresh pods"),
        b.rollback(key, finding, "the previous revision") if b.f.rollouts(key) else None,
        b.scale(key, size_replicas(b.f, key, current), finding, "more capacity"),
    ]


def finding_base_replicas(b: _Builder, key: str) -> int:
    base = b.f.svc(key, "replicas").base
    return max(1, int(base)) if math.isfinite(base) else 1


def _uncordon(b: _Builder, node: str, finding: Finding) -> Candidate:
    info = b.node(node)
    return b.candidate(
        ActionKind.UNCORDON,
        TargetRef(kind=TargetKind.NODE, name=node),
        SchedulableState(unschedulable=False),
        finding,
        f"{node} takes pods again: capacity and spread come back",
        version=info.resource_version if info else None,
    )


def _node_down(b: _Builder, finding: Finding) -> list[Candidate | None]:
    node = finding.nodes[0]
    info = b.node(node)
    moved = len(b.ctx.topology.services_on(node))
    target = TargetRef(kind=TargetKind.NODE, name=node)
    return [
        b.candidate(
            ActionKind.DRAIN,
            target,
            DrainState(),
            finding,
            f"{node}'s pods replaced on healthy nodes now, not after the 300 s toleration",
            version=info.resource_version if info else None,
            extra_risk=0.1 * (moved // 5),
            cost=moved,
        ),
        b.candidate(
            ActionKind.CORDON,
            target,
            SchedulableState(unschedulable=True),
            finding,
            f"no new pods land on {node} (its pods stay until evicted)",
            version=info.resource_version if info else None,
        ),
    ]


def _noisy(b: _Builder, finding: Finding) -> list[Candidate | None]:
    node = finding.nodes[0]
    info = b.node(node)
    moved = len(b.ctx.topology.services_on(node))
    out: list[Candidate | None] = [
        b.candidate(
            ActionKind.DRAIN,
            TargetRef(kind=TargetKind.NODE, name=node),
            DrainState(),
            finding,
            f"the workloads leave {node} for nodes whose CPU is not taken",
            version=info.resource_version if info else None,
            extra_risk=0.1 * (moved // 5),
            cost=moved,
        )
    ]
    for key in finding.peers:
        out.append(b.move(key, [node], finding, f"{split_key(key)[1]}'s pods off {node}"))
    return out


def _raise_cpu(b: _Builder, key: str, finding: Finding) -> Candidate | None:
    info = b.workload(key)
    if info is None or not info.containers:
        return None
    container = info.containers[0]
    previous = info.previous()
    old = (
        next((c for c in previous.containers if c.name == container.name), None)
        if previous
        else None
    )
    now_limit = _cpu(container.cpu_limit)
    if old is not None and _cpu(old.cpu_limit) > now_limit:
        limit, request = old.cpu_limit, old.cpu_request
        why = "the limit of the previous revision"
    else:  # size from demand: the CPU the service used before, at the target utilisation
        used = b.f.svc(key, "cpu_cores").base / max(b.f.svc(key, "replicas").base, 1)
        cores = max(used / b.f.config.target_utilisation, 2 * now_limit)
        limit, request = _millicores(cores), container.cpu_request
        why = "sized for the baseline CPU use at the target utilisation"
    assert limit is not None
    if request is not None and _cpu(request) > _cpu(limit):
        request = limit
    added = (_cpu(limit) - now_limit) * info.replicas
    return b.candidate(
        ActionKind.SET_RESOURCES,
        b.deployment(key),
        ResourcesState(container=container.name, cpu_limit=limit, cpu_request=request),
        finding,
        f"CPU limit back to {limit} ({why}): throttling stops",
        version=info.resource_version,
        extra_risk=b.single(key),
        cost=info.replicas + (added if math.isfinite(added) else 0.0),
    )


def leak_rate(facts: Facts, key: str) -> float:
    """How fast the leak fills the memory limit (share of the limit per second, NaN when
    unknown): the median rise per tick of the memory ratio since the onset, so the drop of an
    OOM kill among the climbs does not count."""
    namespace, name = split_key(key)
    since = facts.now - facts.onset + facts.config.rate_window_s
    times, values = facts.ctx.store.window(
        f"service/{namespace}/{name}/memory_ratio", since, facts.now
    )
    keep = np.isfinite(values)
    times, values = times[keep], values[keep]
    if times.size < 3:
        return math.nan
    return float(np.median(np.diff(values) / np.diff(times)))


def _leak_remedies(b: _Builder, key: str, finding: Finding) -> list[Candidate | None]:
    """A restart and a higher memory limit (a rolling update too, so it also starts from the
    baseline); the limit first when the leak would fill a restarted pod within ``hold_s``."""
    cfg = b.f.config
    rate = leak_rate(b.f, key)
    base = b.f.svc(key, "memory_ratio").base
    holds = (1.0 - base) / rate if rate > 0 and math.isfinite(base) else math.inf
    effect = "memory back to its baseline; the leak refills it"
    if math.isfinite(holds):
        effect += f" in about {holds / 60:.0f} min"
    restart = b.restart(key, finding, f"{effect} (a code fix is needed: escalate)")
    # the limit that lasts hold_s from the baseline, at least 1.5 times the current one
    wanted = (base + rate * cfg.hold_s) if math.isfinite(holds) else 1.5
    factor = min(max(wanted, 1.5), cfg.max_memory_factor)
    later = "fresh pods, and the next OOM kill comes later"
    if math.isfinite(holds):
        later = f"fresh pods, which last about {(factor - base) / rate / 60:.0f} min"
    raised = _raise_memory(b, key, finding, factor, later)
    if holds < cfg.hold_s and raised is not None:
        return [raised, restart]
    return [restart, raised]


def _raise_memory(
    b: _Builder, key: str, finding: Finding, factor: float, effect: str
) -> Candidate | None:
    info = b.workload(key)
    if info is None or not info.containers:
        return None
    container = info.containers[0]
    limit = _memory_mib(container.memory_limit)
    if not math.isfinite(limit):
        return None
    new = f"{math.ceil(limit * factor)}Mi"
    return b.candidate(
        ActionKind.SET_RESOURCES,
        b.deployment(key),
        ResourcesState(container=container.name, memory_limit=new),
        finding,
        f"memory limit {container.memory_limit} → {new}: {effect}",
        version=info.resource_version,
        extra_risk=b.single(key),
        cost=info.replicas,
    )


def _revert_port(b: _Builder, key: str, finding: Finding) -> Candidate | None:
    if b.reader is None:
        return None
    namespace, name = split_key(key)
    reader = b.reader
    svc = b._read(key, lambda: reader.service(namespace or "", name))
    if svc is None:
        return None
    declared = svc.container_ports
    for port in svc.ports:
        if declared and port.target_port not in declared:
            wanted = port.port if port.port in declared else declared[0]
            return b.candidate(
                ActionKind.REVERT_PORT,
                TargetRef(kind=TargetKind.SERVICE, namespace=namespace, name=name),
                ServicePortState(port=port.port, target_port=wanted),
                finding,
                f"port {port.port} forwards to {wanted}, where the pods listen "
                f"(not {port.target_port})",
                version=svc.resource_version,
            )
    return None


def _scale_saturated(b: _Builder, finding: Finding) -> list[Candidate | None]:
    """Every saturated service scaled out in one batch (one alone leaves the others the
    bottleneck), then each on its own."""
    out: list[Candidate | None] = []
    keys = list(finding.peers) or [finding.service or ""]
    for key in keys:
        current = b.replicas(key)
        wanted = size_replicas(b.f, key, current)
        out.append(
            b.scale(
                key,
                wanted,
                finding,
                f"{split_key(key)[1]}: {current} → {wanted} replicas, "
                f"to run at {b.f.config.target_utilisation:.0%} of its CPU limit under the "
                "current demand",
            )
        )
    parts = [c for c in out if c is not None]
    names = ", ".join(split_key(k)[1] for k in keys)
    every = b.batch(parts, finding, f"every saturated service ({names}) scaled out together")
    return [every, *out]


def build_candidates(facts: Facts, findings: list[Finding], top: int) -> list[Candidate]:
    """The remedies of the first ``top`` findings, in rank order, then one escalation.

    A request already offered for an earlier hypothesis is not repeated.
    """
    builder = _Builder(facts)
    out: list[Candidate] = []
    seen: set[str] = set()
    for index, finding in enumerate(findings[:top]):
        for candidate in _remedies(builder, finding):
            if candidate is None or candidate.action.idempotency_key in seen:
                continue
            seen.add(candidate.action.idempotency_key)
            out.append(candidate.model_copy(update={"hypothesis_index": index}))
    if findings:
        out.append(_escalation(builder, findings[0]))
    return out


def _escalation(builder: _Builder, finding: Finding) -> Candidate:
    """Ask a person: always the last candidate."""
    candidate = builder.candidate(
        ActionKind.ESCALATE,
        finding.target,
        EscalationState(reason=f"analysis: {finding.summary}"),
        finding,
        "a person decides (the human approval queue)",
    )
    return candidate.model_copy(update={"hypothesis_index": 0})
