"""Reading an action's target through the Kubernetes API into an :class:`Observed` snapshot.

Each ``observe_*`` function reads one kind of target and what its preconditions and guardrails
need (a Deployment's ReplicaSet history, the Services selecting it, the autoscalers targeting it;
a node's pods and their owners; a Service's pods' declared ports). A 404 on the target itself is
an :meth:`Observed.missing` snapshot, not an error; other API errors propagate to the backend,
which wraps them.
"""

from __future__ import annotations

import math
from typing import Any

from kubernetes.client import ApiException

from controlplane import TargetKind, TargetRef

from .k8s_client import MIRROR, RESTARTED_AT, REVISION, REVISION_HISTORY, Apis, template_hash
from .observed import (
    Autoscaler,
    ContainerPort,
    ContainerResources,
    NodeInfo,
    NodeState,
    Observed,
    Owner,
    PodOnNode,
    PodState,
    Revision,
    ServicePort,
    ServiceState,
    WorkloadState,
    WorkloadSummary,
)

__all__ = ["AVOID_FIELD", "observe_target"]

AVOID_FIELD = "metadata.name"
"""The node field a ``move``'s required anti-affinity (``NotIn``) matches."""


def observe_target(apis: Apis, target: TargetRef) -> Observed:
    readers = {
        TargetKind.DEPLOYMENT: observe_deployment,
        TargetKind.POD: observe_pod,
        TargetKind.NODE: observe_node,
        TargetKind.SERVICE: observe_service,
        TargetKind.NAMESPACE: observe_namespace,
    }
    try:
        return readers[target.kind](apis, target)
    except ApiException as exc:
        if exc.status == 404:
            return Observed.missing(target)
        raise


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.metadata
    owner = controller_of(obj)
    return {
        "exists": True,
        "resource_version": meta.resource_version,
        "generation": meta.generation,
        "uid": meta.uid,
        "labels": dict(meta.labels or {}),
        "annotations": dict(meta.annotations or {}),
        "controller": owner,
    }


def controller_of(obj: Any) -> Owner | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return Owner(kind=ref.kind, name=ref.name)
    return None


def is_ready(pod: Any) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


# -- deployments ---------------------------------------------------------------------------------


def _int_or_percent(value: Any, replicas: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        share = replicas * float(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def max_unavailable(dep: Any) -> int:
    """The pods a template change takes down at once (``maxUnavailable`` resolved, as the
    deployment controller resolves it; every pod for ``Recreate``)."""
    replicas = dep.spec.replicas if dep.spec.replicas is not None else 1
    strategy = dep.spec.strategy
    if strategy is not None and strategy.type == "Recreate":
        return replicas
    rolling = strategy.rolling_update if strategy is not None else None
    unavailable = _int_or_percent(rolling.max_unavailable if rolling else None, replicas, False)
    surge = _int_or_percent(rolling.max_surge if rolling else None, replicas, True)
    return 1 if unavailable == 0 and surge == 0 else unavailable


def avoided_nodes(pod_spec: Any) -> list[str]:
    """Node names a required node affinity excludes with ``metadata.name NotIn``."""
    affinity = pod_spec.affinity.node_affinity if pod_spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    for term in required.node_selector_terms if required else []:
        for field in term.match_fields or []:
            if field.key == AVOID_FIELD and field.operator == "NotIn":
                return sorted(field.values or [])
    return []


def _containers(pod_spec: Any) -> list[ContainerResources]:
    out = []
    for c in pod_spec.containers or []:
        requests = (c.resources.requests if c.resources else None) or {}
        limits = (c.resources.limits if c.resources else None) or {}
        out.append(
            ContainerResources(
                name=c.name,
                cpu_request=requests.get("cpu"),
                cpu_limit=limits.get("cpu"),
                memory_request=requests.get("memory"),
                memory_limit=limits.get("memory"),
                ports=[ContainerPort(name=p.name, number=p.container_port) for p in c.ports or []],
            )
        )
    return out


def _revisions(apis: Apis, dep: Any) -> list[Revision]:
    labels = (dep.spec.selector.match_labels or {}) if dep.spec.selector else {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
    replicasets: Any = apis.apps.list_namespaced_replica_set(
        dep.metadata.namespace, label_selector=selector, _request_timeout=apis.timeout_s
    ).items
    out = []
    for rs in replicasets:
        if not any(
            o.controller and o.uid == dep.metadata.uid for o in rs.metadata.owner_references or []
        ):
            continue
        annotations = rs.metadata.annotations or {}
        if REVISION not in annotations:
            continue
        history = [int(v) for v in annotations.get(REVISION_HISTORY, "").split(",") if v]
        out.append(
            Revision(
                number=int(annotations[REVISION]),
                replicaset=rs.metadata.name,
                template_hash=template_hash(apis.dump(rs.spec.template)),
                history=history,
            )
        )
    return sorted(out, key=lambda r: r.number)


def _services(apis: Apis, namespace: str, template_labels: dict[str, str]) -> list[str]:
    services: Any = apis.core.list_namespaced_service(
        namespace, _request_timeout=apis.timeout_s
    ).items
    return sorted(
        s.metadata.name
        for s in services
        if s.spec.selector and all(template_labels.get(k) == v for k, v in s.spec.selector.items())
    )


def _autoscalers(apis: Apis, namespace: str, name: str) -> list[Autoscaler]:
    """HorizontalPodAutoscalers (autoscaling/v2) targeting the Deployment; none where the API
    server does not serve autoscaling/v2 (404)."""
    try:
        hpas: Any = apis.autoscaling.list_namespaced_horizontal_pod_autoscaler(
            namespace, _request_timeout=apis.timeout_s
        ).items
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise
    return [
        Autoscaler(
            name=h.metadata.name,
            min_replicas=h.spec.min_replicas,
            max_replicas=h.spec.max_replicas,
        )
        for h in hpas
        if h.spec.scale_target_ref.kind == "Deployment" and h.spec.scale_target_ref.name == name
    ]


def _nodes(apis: Apis) -> list[NodeInfo]:
    nodes: Any = apis.core.list_node(_request_timeout=apis.timeout_s).items
    return [
        NodeInfo(
            name=n.metadata.name,
            labels=dict(n.metadata.labels or {}),
            unschedulable=bool(n.spec.unschedulable),
        )
        for n in nodes
    ]


def summarize(dep: Any) -> WorkloadSummary:
    return WorkloadSummary(
        namespace=dep.metadata.namespace,
        name=dep.metadata.name,
        replicas=dep.spec.replicas if dep.spec.replicas is not None else 1,
        available=(dep.status.available_replicas or 0) if dep.status else 0,
        max_unavailable=max_unavailable(dep),
        annotations=dict(dep.metadata.annotations or {}),
    )


def observe_deployment(apis: Apis, target: TargetRef) -> Observed:
    namespace = target.namespace or ""
    dep: Any = apis.apps.read_namespaced_deployment(
        target.name, namespace, _request_timeout=apis.timeout_s
    )
    template = dep.spec.template
    pod_spec = template.spec
    annotations = dep.metadata.annotations or {}
    status = dep.status
    workload = WorkloadState(
        replicas=dep.spec.replicas if dep.spec.replicas is not None else 1,
        ready_replicas=(status.ready_replicas or 0) if status else 0,
        available_replicas=(status.available_replicas or 0) if status else 0,
        revision=int(annotations[REVISION]) if REVISION in annotations else None,
        template_hash=template_hash(apis.dump(template)),
        revisions=_revisions(apis, dep),
        restarted_at=((template.metadata.annotations or {}) if template.metadata else {}).get(
            RESTARTED_AT
        ),
        containers=_containers(pod_spec),
        node_selector=dict(pod_spec.node_selector or {}),
        avoid_nodes=avoided_nodes(pod_spec),
        max_unavailable=max_unavailable(dep),
        services=_services(apis, namespace, dict(template.metadata.labels or {})),
        autoscalers=_autoscalers(apis, namespace, target.name),
        nodes=_nodes(apis),
    )
    return Observed(target=target, workload=workload, workloads=[summarize(dep)], **_meta(dep))


# -- pods and nodes ------------------------------------------------------------------------------


class _Owners:
    """Resolves pods to their Deployments (pod → ReplicaSet → Deployment), reading each once."""

    def __init__(self, apis: Apis) -> None:
        self.apis = apis
        self.replicasets: dict[tuple[str, str], str | None] = {}
        self.summaries: dict[str, WorkloadSummary] = {}

    def workload(self, namespace: str, owner: Owner | None) -> str | None:
        if owner is None or owner.kind != "ReplicaSet":
            return None
        key = (namespace, owner.name)
        if key not in self.replicasets:
            self.replicasets[key] = self._resolve(namespace, owner.name)
        return self.replicasets[key]

    def _resolve(self, namespace: str, replicaset: str) -> str | None:
        apis = self.apis
        try:
            rs: Any = apis.apps.read_namespaced_replica_set(
                replicaset, namespace, _request_timeout=apis.timeout_s
            )
            owner = controller_of(rs)
            if owner is None or owner.kind != "Deployment":
                return None
            dep: Any = apis.apps.read_namespaced_deployment(
                owner.name, namespace, _request_timeout=apis.timeout_s
            )
        except ApiException as exc:
            if exc.status == 404:  # deleted meanwhile: an orphan for our purposes
                return None
            raise
        summary = summarize(dep)
        self.summaries[summary.key] = summary
        return summary.key


def observe_pod(apis: Apis, target: TargetRef) -> Observed:
    namespace = target.namespace or ""
    pod: Any = apis.core.read_namespaced_pod(
        target.name, namespace, _request_timeout=apis.timeout_s
    )
    owners = _Owners(apis)
    meta = _meta(pod)
    state = PodState(
        uid=pod.metadata.uid,
        node=pod.spec.node_name,
        phase=(pod.status.phase if pod.status else None) or "Unknown",
        ready=is_ready(pod),
        deleting=pod.metadata.deletion_timestamp is not None,
        owner=meta["controller"],
        workload=owners.workload(namespace, meta["controller"]),
    )
    return Observed(target=target, pod=state, workloads=list(owners.summaries.values()), **meta)


def observe_node(apis: Apis, target: TargetRef) -> Observed:
    node: Any = apis.core.read_node(target.name, _request_timeout=apis.timeout_s)
    pods: Any = apis.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={target.name}", _request_timeout=apis.timeout_s
    ).items
    owners = _Owners(apis)
    on_node = []
    for pod in pods:
        owner = controller_of(pod)
        on_node.append(
            PodOnNode(
                namespace=pod.metadata.namespace,
                name=pod.metadata.name,
                uid=pod.metadata.uid,
                ready=is_ready(pod),
                deleting=pod.metadata.deletion_timestamp is not None,
                owner=owner,
                mirror=MIRROR in (pod.metadata.annotations or {}),
                workload=owners.workload(pod.metadata.namespace, owner),
            )
        )
    state = NodeState(unschedulable=bool(node.spec.unschedulable), pods=on_node)
    summaries = sorted(owners.summaries.values(), key=lambda s: s.key)
    return Observed(target=target, node=state, workloads=summaries, **_meta(node))


# -- services and namespaces ---------------------------------------------------------------------


def observe_service(apis: Apis, target: TargetRef) -> Observed:
    namespace = target.namespace or ""
    svc: Any = apis.core.read_namespaced_service(
        target.name, namespace, _request_timeout=apis.timeout_s
    )
    selector = dict(svc.spec.selector or {})
    declared: list[ContainerPort] = []
    if selector:
        pods: Any = apis.core.list_namespaced_pod(
            namespace,
            label_selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())),
            _request_timeout=apis.timeout_s,
        ).items
        for pod in pods:
            for c in pod.spec.containers or []:
                for p in c.ports or []:
                    port = ContainerPort(name=p.name, number=p.container_port)
                    if port not in declared:
                        declared.append(port)
    ports = [
        ServicePort(name=p.name, port=p.port, target_port=_target_port(p.target_port, p.port))
        for p in svc.spec.ports or []
    ]
    state = ServiceState(selector=selector, ports=ports, container_ports=declared)
    return Observed(target=target, service=state, **_meta(svc))


def _target_port(value: Any, port: int) -> int | str:
    if value is None:
        return port  # the API server defaults targetPort to port
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return str(value)


def observe_namespace(apis: Apis, target: TargetRef) -> Observed:
    ns: Any = apis.core.read_namespace(target.name, _request_timeout=apis.timeout_s)
    return Observed(target=target, **_meta(ns))
