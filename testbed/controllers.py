"""The controllers of the simulated control plane.

Modelled on kube-controller-manager: the deployment controller (rolling updates with surge and
unavailability bounds, Recreate, revisions and their reuse on rollback, revision history
clean-up), the replica set controller (creates and deletes pods, deleting the least useful
first), the node lifecycle controller (NotReady after the grace period, NoExecute taints,
eviction after the toleration) and the disruption controller (PodDisruptionBudget status). Also
the endpoints controller: which pods serve each Service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .clock import iso
from .objects import (
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    TEMPLATE_HASH_LABEL,
    Deployment,
    Node,
    Pod,
    PodDisruptionBudget,
    PodTemplate,
    ReplicaSet,
    Service,
    resolve_int_or_percent,
)
from .scheduler import matching_toleration

if TYPE_CHECKING:
    from .cluster import Cluster

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


# ---------------------------------------------------------------------- replica sets


def create_replicaset(cluster: Cluster, dep: Deployment, revision: int) -> ReplicaSet:
    raw = _with_hash(dep.template.raw, dep.template.key)
    template = PodTemplate(raw)
    pod_hash = template.labels[TEMPLATE_HASH_LABEL]
    ns = dep.meta.namespace
    name = f"{dep.name}-{pod_hash}"
    labels = dict(template.labels)
    annotations = {
        REVISION_ANNOTATION: str(revision),
        "deployment.kubernetes.io/desired-replicas": str(dep.replicas),
    }
    meta = cluster.new_meta(name, ns, labels, annotations)
    rs = ReplicaSet(meta, dep, template, 0)
    dep.replicasets[name] = rs
    cluster.replicasets[(ns or "", name)] = rs
    cluster.changed("replicasets", rs, "ADDED")
    return rs


def _with_hash(raw: dict[str, Any], key: str) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(raw)
    meta = out.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels[TEMPLATE_HASH_LABEL] = key[:10]
    return out


def delete_replicaset(cluster: Cluster, rs: ReplicaSet) -> None:
    for pod in sorted(rs.pods, key=lambda p: p.name):
        cluster.delete_pod(pod)
        pod.rs = None
    rs.pods.clear()
    cluster.replicasets.pop((rs.meta.namespace or "", rs.name), None)
    if rs.deployment is not None:
        rs.deployment.replicasets.pop(rs.name, None)
    cluster.dirty_replicasets.discard(rs)
    cluster.changed("replicasets", rs, "DELETED")


def scale_replicaset(cluster: Cluster, dep: Deployment, rs: ReplicaSet, replicas: int) -> None:
    if rs.replicas == replicas:
        return
    old = rs.replicas
    rs.replicas = replicas
    rs.meta.annotations["deployment.kubernetes.io/desired-replicas"] = str(dep.replicas)
    direction = "up" if replicas > old else "down"
    cluster.record(
        dep,
        "Normal",
        "ScalingReplicaSet",
        f"Scaled {direction} replica set {rs.name} to {replicas} from {old}",
        "deployment-controller",
    )
    dep.last_progress = cluster.now
    cluster.dirty_replicasets.add(rs)
    cluster.changed("replicasets", rs)


def _deletion_rank(pod: Pod) -> tuple[int, int, int, int, float, str]:
    return (
        0 if pod.node is None else 1,
        0 if pod.phase == "Pending" else 1,
        1 if pod.ready else 0,
        -pod.restarts,
        -pod.meta.created,
        pod.name,
    )


def sync_replicaset(cluster: Cluster, rs: ReplicaSet) -> None:
    if (rs.meta.namespace or "", rs.name) not in cluster.replicasets:
        return
    active = rs.active_pods()
    diff = rs.replicas - len(active)
    if diff > 0:
        for _ in range(diff):
            active.append(cluster.create_pod(rs))
    elif diff < 0:
        for pod in sorted(active, key=_deletion_rank)[:-diff]:
            cluster.delete_pod(pod)
            cluster.record(
                rs,
                "Normal",
                "SuccessfulDelete",
                f"Deleted pod: {pod.name}",
                "replicaset-controller",
            )
        active = rs.active_pods()
    min_ready = rs.deployment.spec.get("minReadySeconds", 0) if rs.deployment else 0
    ready = sum(1 for p in active if p.ready)
    available = sum(1 for p in active if _available(cluster, p, min_ready))
    status = (len(active), len(active), ready, available)
    if status != rs.status:
        rs.status = status
        cluster.changed("replicasets", rs)
    if ready != available and rs.deployment is not None:
        cluster.dirty_deployments.add(rs.deployment)  # re-check once minReadySeconds pass


def _available(cluster: Cluster, pod: Pod, min_ready: float) -> bool:
    return pod.ready and pod.ready_since is not None and cluster.now - pod.ready_since >= min_ready


# ---------------------------------------------------------------------- deployments


def reconcile(cluster: Cluster) -> None:
    deployments = list(cluster.dirty_deployments)
    cluster.dirty_deployments.clear()
    for dep in sorted(deployments, key=lambda d: (d.meta.created, d.meta.namespace or "", d.name)):
        sync_deployment(cluster, dep)
    pending_rs = list(cluster.dirty_replicasets)
    cluster.dirty_replicasets.clear()
    for rs in sorted(pending_rs, key=lambda r: (r.meta.created, r.meta.namespace or "", r.name)):
        sync_replicaset(cluster, rs)


def sync_deployment(cluster: Cluster, dep: Deployment) -> None:
    if cluster.deployments.get((dep.meta.namespace or "", dep.name)) is not dep:
        return
    rss = sorted(dep.replicasets.values(), key=lambda r: (r.revision, r.meta.created))
    max_rev = max((rs.revision for rs in rss), default=0)
    new = next((rs for rs in rss if rs.template.key == dep.template.key), None)
    paused = bool(dep.spec.get("paused"))
    if new is None and not paused:
        new = create_replicaset(cluster, dep, max_rev + 1)
        rss.append(new)
    elif new is not None and new.revision < max_rev and not paused:
        history = [
            h for h in new.meta.annotations.get(REVISION_HISTORY_ANNOTATION, "").split(",") if h
        ]
        history.append(str(new.revision))
        new.meta.annotations[REVISION_HISTORY_ANNOTATION] = ",".join(history)
        new.meta.annotations[REVISION_ANNOTATION] = str(max_rev + 1)
        cluster.changed("replicasets", new)
    if new is not None and dep.meta.annotations.get(REVISION_ANNOTATION) != str(new.revision):
        dep.meta.annotations[REVISION_ANNOTATION] = str(new.revision)
        cluster.changed("deployments", dep)

    olds = [rs for rs in rss if rs is not new]
    if new is not None and not paused:
        strategy = (dep.spec.get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            _recreate(cluster, dep, new, olds)
        else:
            _rolling(cluster, dep, new, olds)
    elif paused:
        _scale_paused(cluster, dep, rss)
    _cleanup_history(cluster, dep, new)
    _deployment_status(cluster, dep, new)


def _scale_paused(cluster: Cluster, dep: Deployment, rss: list[ReplicaSet]) -> None:
    """A paused deployment does not roll out but still scales (``kubectl scale`` works).

    Kubernetes spreads a scale of a paused mid-rollout deployment over its replica sets in
    proportion; here only the common case of a single scaled replica set is followed.
    """
    targets = [rs for rs in rss if rs.replicas > 0] or rss[-1:]
    if len(targets) == 1:
        scale_replicaset(cluster, dep, targets[0], dep.replicas)


def _surge_unavailable(dep: Deployment) -> tuple[int, int]:
    ru = (dep.spec.get("strategy") or {}).get("rollingUpdate") or {}
    desired = dep.replicas
    surge = resolve_int_or_percent(ru.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = resolve_int_or_percent(ru.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _recreate(cluster: Cluster, dep: Deployment, new: ReplicaSet, olds: list[ReplicaSet]) -> None:
    if any(rs.replicas > 0 for rs in olds):
        for rs in olds:
            scale_replicaset(cluster, dep, rs, 0)
        return
    if any(rs.pods for rs in olds):
        cluster.dirty_deployments.add(dep)  # wait for old pods to terminate
        return
    scale_replicaset(cluster, dep, new, dep.replicas)


def _rolling(cluster: Cluster, dep: Deployment, new: ReplicaSet, olds: list[ReplicaSet]) -> None:
    desired = dep.replicas
    if not any(rs.replicas > 0 for rs in olds):
        scale_replicaset(cluster, dep, new, desired)
        return
    surge, max_unavailable = _surge_unavailable(dep)
    min_ready = dep.spec.get("minReadySeconds", 0)
    # scale up the new replica set within the surge
    total = sum(rs.replicas for rs in olds) + new.replicas
    if new.replicas < desired:
        up = min(desired + surge - total, desired - new.replicas)
        if up > 0:
            scale_replicaset(cluster, dep, new, new.replicas + up)
    elif new.replicas > desired:
        scale_replicaset(cluster, dep, new, desired)
    # scale down old replica sets within the unavailability bound
    min_available = desired - max_unavailable
    new_available = sum(1 for p in new.active_pods() if _available(cluster, p, min_ready))
    new_unavailable = new.replicas - new_available
    all_pods = sum(rs.replicas for rs in olds) + new.replicas
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return
    for rs in sorted(olds, key=lambda r: r.meta.created):  # unhealthy old replicas first
        if budget <= 0:
            break
        healthy = sum(1 for p in rs.active_pods() if _available(cluster, p, min_ready))
        unhealthy = rs.replicas - healthy
        take = min(budget, max(0, unhealthy))
        if take:
            scale_replicaset(cluster, dep, rs, rs.replicas - take)
            budget -= take
    available = sum(
        1 for rs in [*olds, new] for p in rs.active_pods() if _available(cluster, p, min_ready)
    )
    budget = min(budget, available - min_available)
    for rs in sorted(olds, key=lambda r: r.meta.created):
        if budget <= 0:
            break
        take = min(budget, rs.replicas)
        if take:
            scale_replicaset(cluster, dep, rs, rs.replicas - take)
            budget -= take


def _cleanup_history(cluster: Cluster, dep: Deployment, new: ReplicaSet | None) -> None:
    limit = int(dep.spec.get("revisionHistoryLimit", 10))
    idle = sorted(
        (
            rs
            for rs in dep.replicasets.values()
            if rs is not new and rs.replicas == 0 and not rs.pods
        ),
        key=lambda r: r.revision,
    )
    for rs in idle[: max(0, len(idle) - limit)]:
        delete_replicaset(cluster, rs)


def _deployment_status(cluster: Cluster, dep: Deployment, new: ReplicaSet | None) -> None:
    min_ready = dep.spec.get("minReadySeconds", 0)
    desired = dep.replicas
    pods = [p for rs in dep.replicasets.values() for p in rs.active_pods()]
    new_pods = new.active_pods() if new is not None else []
    ready = sum(1 for p in pods if p.ready)
    available = sum(1 for p in pods if _available(cluster, p, min_ready))
    updated = len(new_pods)
    _, max_unavailable = _surge_unavailable(dep)
    status: dict[str, Any] = {
        "observedGeneration": dep.meta.generation,
        "replicas": len(pods),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired - available),
    }
    previous_available = dep.status.get("availableReplicas", 0)
    if available > previous_available or updated > dep.status.get("updatedReplicas", 0):
        dep.last_progress = cluster.now
    complete = updated == desired and available == desired and len(pods) == desired
    rs_name = new.name if new is not None else ""
    current = dep.conditions.get("Progressing") or {}
    timed_out = current.get("reason") == "ProgressDeadlineExceeded"
    if dep.spec.get("paused") and not timed_out:
        # no progress deadline while paused: it counts again from the resume
        dep.last_progress = cluster.now
        progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
    elif complete:
        progressing = (
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
        )
    elif cluster.now - dep.last_progress > float(dep.spec.get("progressDeadlineSeconds", 600)):
        progressing = (
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
        )
    else:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        cluster.dirty_deployments.add(dep)  # keep watching an unfinished rollout
    if available >= desired - max_unavailable:
        avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        avail = (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    _set_condition(cluster, dep.conditions, "Available", *avail)
    _set_condition(cluster, dep.conditions, "Progressing", *progressing)
    status["conditions"] = [dict(c) for c in dep.conditions.values()]
    if status != dep.status:
        dep.status = status
        cluster.changed("deployments", dep)


def _set_condition(
    cluster: Cluster,
    conditions: dict[str, dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
) -> None:
    now = iso(cluster.now)
    current = conditions.get(type_)
    if current is None or current["status"] != status:
        conditions[type_] = {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        }
    elif current["reason"] != reason or current["message"] != message:
        current.update(reason=reason, message=message, lastUpdateTime=now)


# ---------------------------------------------------------------------- endpoints and budgets


def update_endpoints(cluster: Cluster) -> None:
    """Recompute which pods serve each Service, for namespaces where something changed."""
    if not cluster.dirty_namespaces:
        return
    dirty = cluster.dirty_namespaces
    cluster.dirty_namespaces = set()
    arrays = cluster.arrays
    by_ns: dict[str, list[Service]] = {}
    for (svc_ns, _), svc in cluster.services.items():
        if svc_ns in dirty:
            by_ns.setdefault(svc_ns, []).append(svc)
    for ns in sorted(dirty):  # a set of names: its order differs from process to process
        pods = list(cluster.pods_by_ns.get(ns, {}).values())
        for pod in pods:
            arrays.serving[pod.slot] = False
            arrays.refused[pod.slot] = False
        for svc in by_ns.get(ns, []):
            _service_endpoints(cluster, svc, pods)
        cluster.traffic.update_auth(ns, pods)
        for pdb in [p for (pns, _), p in cluster.pdbs.items() if pns == ns]:
            status = pdb_status(cluster, pdb)
            if status != pdb.status:
                pdb.status = status
                cluster.changed("poddisruptionbudgets", pdb)


def _service_endpoints(cluster: Cluster, svc: Service, pods: list[Pod]) -> None:
    """Mark the pods serving ``svc`` and record an endpoints change when its members change."""
    arrays = cluster.arrays
    comp = cluster.traffic.component_of(svc.meta.namespace or "", svc.name)
    selector = svc.selector
    targets = svc.target_ports()
    target = targets[0] if targets else None
    members: list[tuple[str, bool]] = []
    for pod in pods if selector else []:
        labels = pod.meta.labels
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        if pod.node is None or not pod.address:
            continue
        ready = pod.ready and not pod.deleting
        members.append((pod.name, ready))
        if not ready or comp < 0 or not pod.node.kubelet_up or arrays.comp[pod.slot] != comp:
            continue
        arrays.serving[pod.slot] = True
        ports = pod.template.port_numbers()
        ok = target in ports.values() if isinstance(target, int) else target in ports
        arrays.refused[pod.slot] = not ok
    signature = tuple(sorted(members))
    if signature != svc.endpoints_signature:
        svc.endpoints_signature = signature
        cluster.changed("endpoints", svc)


def pdb_status(cluster: Cluster, pdb: PodDisruptionBudget) -> dict[str, Any]:
    ns = pdb.meta.namespace or ""
    selector = pdb.selector
    pods = [p for p in cluster.pods_in(ns) if selector.matches(p.meta.labels)]
    controllers: dict[int, int] = {}
    for p in pods:
        dep = p.rs.deployment if p.rs is not None else None
        if dep is not None:
            controllers[id(dep)] = dep.replicas
    expected = sum(controllers.values()) if controllers else len(pods)
    healthy = sum(1 for p in pods if p.ready and not p.deleting)
    if pdb.spec.get("maxUnavailable") is not None:
        desired = expected - resolve_int_or_percent(pdb.spec["maxUnavailable"], expected, True)
    else:
        desired = resolve_int_or_percent(pdb.spec.get("minAvailable", 1), expected, True)
    desired = max(0, desired)
    allowed = max(0, healthy - desired)
    return {
        "observedGeneration": pdb.meta.generation,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if allowed > 0 else "False",
                "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                "message": "",
                "observedGeneration": pdb.meta.generation,
                "lastTransitionTime": iso(pdb.meta.created),
            }
        ],
    }


# ---------------------------------------------------------------------- nodes


def sync_unschedulable_taint(cluster: Cluster, node: Node) -> None:
    taints = [t for t in node.taints if t.get("key") != UNSCHEDULABLE]
    if node.unschedulable:
        taints.append({"key": UNSCHEDULABLE, "effect": "NoSchedule", "timeAdded": iso(cluster.now)})
    if taints:
        node.spec["taints"] = taints
    else:
        node.spec.pop("taints", None)


def node_lifecycle(cluster: Cluster) -> None:
    grace = cluster.timing.node_monitor_grace_s
    for node in cluster.node_list:
        if not node.kubelet_up and node.ready == "True" and cluster.now - node.heartbeat >= grace:
            _mark_unreachable(cluster, node)
        if "taints" in node.spec:
            taints = [t for t in node.taints if t.get("effect") == "NoExecute"]
            if taints:
                _evict_for_taints(cluster, node, taints)


def _mark_unreachable(cluster: Cluster, node: Node) -> None:
    node.ready = "Unknown"
    node.ready_reason = "NodeStatusUnknown"
    node.ready_message = "Kubelet stopped posting node status."
    node.ready_transition = cluster.now
    taints = [t for t in node.taints if t.get("key") not in (UNREACHABLE, NOT_READY)]
    stamp = iso(cluster.now)
    taints += [
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": stamp},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": stamp},
    ]
    node.spec["taints"] = taints
    node.meta.annotations["testbed.aiops.dev/unreachable-since"] = str(cluster.now)
    cluster.nodes_version += 1
    cluster.changed("nodes", node)
    cluster.record(
        node,
        "Normal",
        "NodeNotReady",
        f"Node {node.name} status is now: NodeNotReady",
        "node-controller",
    )
    for pod in sorted(node.pods, key=lambda p: (p.namespace, p.name)):
        if pod.ready:
            pod.ready = False
            pod.ready_since = None
            cluster.pod_changed(pod)
        cluster.record(pod, "Warning", "NodeNotReady", "Node is not ready", "node-controller")


def toleration_seconds(pod: Pod, taint: dict[str, Any], default: float) -> float | None:
    """How long the pod tolerates a NoExecute ``taint``: seconds, or None for ever.

    Admission adds ``not-ready`` and ``unreachable`` tolerations of ``default`` seconds to every
    pod that does not tolerate those taints itself (DefaultTolerationSeconds); any other
    NoExecute taint the pod does not tolerate evicts it at once.
    """
    tol = matching_toleration(pod.template.tolerations, taint)
    if tol is None:
        return default if taint.get("key") in (NOT_READY, UNREACHABLE) else 0.0
    secs = tol.get("tolerationSeconds")
    return None if secs is None else max(0.0, float(secs))


def default_tolerations(seconds: float) -> list[dict[str, Any]]:
    return [
        {
            "key": NOT_READY,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": int(seconds),
        },
        {
            "key": UNREACHABLE,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": int(seconds),
        },
    ]


def _taint_since(node: Node, taint: dict[str, Any]) -> float:
    if taint.get("key") in (NOT_READY, UNREACHABLE):
        return node.ready_transition
    added = taint.get("timeAdded")
    if isinstance(added, str):
        try:
            return datetime.strptime(added, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return node.meta.created


def _evict_for_taints(cluster: Cluster, node: Node, taints: list[dict[str, Any]]) -> None:
    """The taint eviction controller: evict pods once their toleration of a taint runs out."""
    default = cluster.timing.default_toleration_s
    for pod in sorted(node.pods, key=lambda p: (p.namespace, p.name)):
        if pod.deleting:
            continue
        for taint in taints:
            limit = toleration_seconds(pod, taint, default)
            if limit is not None and cluster.now - _taint_since(node, taint) >= limit:
                cluster.record(
                    pod,
                    "Normal",
                    "TaintManagerEviction",
                    f"Marking for deletion Pod {pod.namespace}/{pod.name}",
                    "taint-eviction-controller",
                )
                cluster.delete_pod(pod)
                break


def node_recovered(cluster: Cluster, node: Node) -> None:
    """The node's kubelet reports again: clear NotReady and resume what its pods were doing.

    The kubelet's timers that fell due while it was silent were dropped, so even after an outage
    shorter than the grace period a pod that was starting, restarting or terminating resumes.
    """
    from . import kubelet

    if node.ready != "True":
        _mark_ready(cluster, node)
        resume = list(node.pods)
    else:
        resume = [p for p in node.pods if p.deleting or not (p.container == "running" and p.ready)]
    for pod in sorted(resume, key=lambda p: (p.namespace, p.name)):
        kubelet.node_back(cluster, pod)


def _mark_ready(cluster: Cluster, node: Node) -> None:
    node.ready = "True"
    node.ready_reason = "KubeletReady"
    node.ready_message = "kubelet is posting ready status"
    node.ready_transition = cluster.now
    taints = [t for t in node.taints if t.get("key") not in (UNREACHABLE, NOT_READY)]
    if taints:
        node.spec["taints"] = taints
    else:
        node.spec.pop("taints", None)
    node.meta.annotations.pop("testbed.aiops.dev/unreachable-since", None)
    cluster.nodes_version += 1
    cluster.changed("nodes", node)
    cluster.record(
        node,
        "Normal",
        "NodeReady",
        f"Node {node.name} status is now: NodeReady",
        "kubelet",
        node.name,
    )
