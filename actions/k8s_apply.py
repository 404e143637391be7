"""Writing an action's desired state through the Kubernetes API, the way kubectl does it.

Every write names the ``resourceVersion`` it was decided on (``metadata.resourceVersion`` in a
strategic merge patch, ``preconditions`` on a delete), so the API server answers 409 when the
target changed in between. Each function returns the target's ``resourceVersion`` after the
write. API errors propagate; the backend maps them to the domain's exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client import ApiException

from controlplane import (
    Clock,
    PlacementState,
    PreconditionFailed,
    ResourcesState,
    ServicePortState,
    TargetKind,
    TargetRef,
)

from .k8s_client import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    RESTARTED_AT,
    REVISION,
    REVISION_HISTORY,
    Apis,
)
from .k8s_observe import AVOID_FIELD, controller_of
from .observed import Observed, PodOnNode, rolled_by_drain

__all__ = [
    "EvictionPolicy",
    "cordon",
    "delete_pod",
    "drain",
    "move",
    "restart",
    "revert_port",
    "rollback",
    "scale",
    "set_resources",
]

# kubectl rollout undo keeps these Deployment annotations and does not copy them from the
# ReplicaSet (rollback.go's annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def _ns(target: TargetRef) -> str:
    return target.namespace or ""


def _precondition(rv: str | None) -> dict[str, Any]:
    return {"resourceVersion": rv} if rv is not None else {}


def scale(apis: Apis, target: TargetRef, replicas: int, rv: str | None) -> str:
    """``kubectl scale``: a patch of the scale subresource."""
    body = {"metadata": _precondition(rv), "spec": {"replicas": replicas}}
    out: Any = apis.apps.patch_namespaced_deployment_scale(
        target.name, _ns(target), body, _request_timeout=apis.timeout_s
    )
    return str(out.metadata.resource_version)


def _patch_deployment(apis: Apis, target: TargetRef, body: dict[str, Any]) -> str:
    out: Any = apis.apps.patch_namespaced_deployment(
        target.name, _ns(target), body, _request_timeout=apis.timeout_s
    )
    return str(out.metadata.resource_version)


def restart(apis: Apis, target: TargetRef, restarted_at: str, rv: str | None) -> str:
    """``kubectl rollout restart``: stamp the pod template with ``restartedAt``."""
    template = {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}
    return _patch_deployment(
        apis, target, {"metadata": _precondition(rv), "spec": {"template": template}}
    )


def rollback(apis: Apis, target: TargetRef, replicaset: str, rv: str | None) -> str:
    """``kubectl rollout undo --to-revision``: the ReplicaSet's pod template (without
    ``pod-template-hash``) replaces the Deployment's, and the ReplicaSet's annotations other than
    the revision bookkeeping are copied onto the Deployment. kubectl sends a JSON patch; this is
    the same change as a strategic merge patch with ``$patch: replace`` on the template, because
    only a patch object can carry the ``resourceVersion`` precondition. Unlike kubectl, annotations
    the ReplicaSet lacks are kept (an ``aiops.io/opt-out`` must survive a rollback)."""
    rs: Any = apis.apps.read_namespaced_replica_set(
        replicaset, _ns(target), _request_timeout=apis.timeout_s
    )
    template: dict[str, Any] = apis.dump(rs.spec.template)
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    copied = {
        k: v for k, v in (rs.metadata.annotations or {}).items() if k not in SKIPPED_ANNOTATIONS
    }
    metadata: dict[str, Any] = _precondition(rv)
    if copied:
        metadata["annotations"] = copied
    body = {"metadata": metadata, "spec": {"template": {**template, "$patch": "replace"}}}
    return _patch_deployment(apis, target, body)


def set_resources(apis: Apis, target: TargetRef, desired: ResourcesState, rv: str | None) -> str:
    """``kubectl set resources -c NAME``: a strategic merge patch of one container."""
    resources: dict[str, dict[str, str]] = {}
    for kind in ("requests", "limits"):
        values = {
            resource: getattr(desired, f"{resource}_{kind[:-1]}")
            for resource in ("cpu", "memory")
            if getattr(desired, f"{resource}_{kind[:-1]}") is not None
        }
        if values:
            resources[kind] = values
    container = {"name": desired.container, "resources": resources}
    spec = {"template": {"spec": {"containers": [container]}}}
    return _patch_deployment(apis, target, {"metadata": _precondition(rv), "spec": spec})


def _required_terms(pod_spec: dict[str, Any], avoid: list[str]) -> list[dict[str, Any]]:
    """The required node-affinity terms with our ``metadata.name NotIn`` replaced by ``avoid``
    (terms are ORed, so the exclusion goes into every one)."""
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    ours = {"key": AVOID_FIELD, "operator": "NotIn", "values": sorted(avoid)}
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        fields = [
            f
            for f in term.get("matchFields") or []
            if not (f.get("key") == AVOID_FIELD and f.get("operator") == "NotIn")
        ]
        if avoid:
            fields.append(ours)
        term = {**term, "matchFields": fields} if fields else _without(term, "matchFields")
        if term:
            terms.append(term)
    if not terms and avoid:
        terms = [{"matchFields": [ours]}]
    return terms


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def move(apis: Apis, target: TargetRef, desired: PlacementState, rv: str | None) -> str:
    """Set the pod template's node selector (exactly) and the nodes it avoids (a required node
    anti-affinity on ``metadata.name``), keeping any other node-affinity terms."""
    dep: Any = apis.apps.read_namespaced_deployment(
        target.name, _ns(target), _request_timeout=apis.timeout_s
    )
    if rv is not None and dep.metadata.resource_version != rv:
        raise PreconditionFailed(f"{target} changed since it was observed (resourceVersion)")
    pod_spec: dict[str, Any] = apis.dump(dep.spec.template.spec)
    current = pod_spec.get("nodeSelector") or {}
    selector: dict[str, str | None] = {k: None for k in current if k not in desired.node_selector}
    selector.update(desired.node_selector)
    patch: dict[str, Any] = {}
    if selector:
        patch["nodeSelector"] = selector
    terms = _required_terms(pod_spec, desired.avoid_nodes)
    had_affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if terms or had_affinity:
        required = {"nodeSelectorTerms": terms} if terms else None
        patch["affinity"] = {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}
        }
    body = {"metadata": _precondition(rv), "spec": {"template": {"spec": patch}}}
    return _patch_deployment(apis, target, body)


def cordon(apis: Apis, name: str, unschedulable: bool, rv: str | None) -> str:
    """``kubectl cordon`` / ``uncordon``: ``spec.unschedulable``."""
    body = {"metadata": _precondition(rv), "spec": {"unschedulable": unschedulable}}
    out: Any = apis.core.patch_node(name, body, _request_timeout=apis.timeout_s)
    return str(out.metadata.resource_version)


def revert_port(apis: Apis, target: TargetRef, desired: ServicePortState, rv: str | None) -> str:
    """Point the Service's ``port`` at ``target_port`` (ports merge on ``port``)."""
    port = {"port": desired.port, "targetPort": desired.target_port}
    body = {"metadata": _precondition(rv), "spec": {"ports": [port]}}
    out: Any = apis.core.patch_namespaced_service(
        target.name, _ns(target), body, _request_timeout=apis.timeout_s
    )
    return str(out.metadata.resource_version)


def delete_pod(apis: Apis, target: TargetRef, uid: str, rv: str | None) -> str:
    """Graceful delete with a UID (and ``resourceVersion``) precondition."""
    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=uid, resource_version=rv)
    )
    out = apis.core.delete_namespaced_pod(
        target.name, _ns(target), body=options, _request_timeout=apis.timeout_s
    )
    metadata = out.metadata if isinstance(out, client.V1Pod) else None
    return str(metadata.resource_version) if metadata is not None else ""


# -- drain ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvictionPolicy:
    """How a drain retries evictions a PodDisruptionBudget refuses (429): ``attempts`` rounds,
    sleeping ``backoff_s`` (doubling up to ``backoff_max_s``) on the backend's clock between."""

    attempts: int = 6
    backoff_s: float = 5.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_s < 0 or self.backoff_max_s < self.backoff_s:
            raise ValueError(f"invalid eviction policy {self}")


@dataclass
class DrainOutcome:
    resource_version: str | None
    evicted: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    refusal: str = ""
    rolled: list[str] = field(default_factory=list)


def _pods_to_evict(apis: Apis, node: str) -> list[PodOnNode]:
    pods: Any = apis.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node}", _request_timeout=apis.timeout_s
    ).items
    out = []
    for pod in pods:
        on_node = PodOnNode(
            namespace=pod.metadata.namespace,
            name=pod.metadata.name,
            uid=pod.metadata.uid,
            deleting=pod.metadata.deletion_timestamp is not None,
            owner=controller_of(pod),
            mirror="kubernetes.io/config.mirror" in (pod.metadata.annotations or {}),
        )
        if on_node.evictable:
            out.append(on_node)
    return out


def _evict(apis: Apis, pod: PodOnNode) -> str | None:
    """Evict one pod: ``None`` when it went (or was already gone), else the refusal's message."""
    body = client.V1Eviction(
        metadata=client.V1ObjectMeta(name=pod.name, namespace=pod.namespace),
        delete_options=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=pod.uid)),
    )
    try:
        apis.core.create_namespaced_pod_eviction(
            pod.name, pod.namespace, body, _request_timeout=apis.timeout_s
        )
    except ApiException as exc:
        if exc.status in (404, 409):  # gone, or replaced by a pod of the same name
            return None
        if exc.status == 429:  # a disruption budget refuses it for now
            return str(exc.body or exc.reason)
        raise
    return None


def drain(
    apis: Apis,
    observed: Observed,
    rv: str | None,
    clock: Clock,
    policy: EvictionPolicy,
    restarted_at: str = "",
) -> DrainOutcome:
    """``kubectl drain`` without ``--force``, carefully: cordon; roll the Deployments whose every
    available pod is on the node (:func:`~actions.observed.rolled_by_drain`; a rollout restart
    stamped ``restarted_at``, so a replay changes nothing); then evict each other pod through
    the eviction subresource, retrying the ones a disruption budget refuses with back-off. Pods
    without a controller, DaemonSet pods and mirror pods stay. Never deletes past a budget."""
    name = observed.target.name
    outcome = DrainOutcome(resource_version=observed.resource_version)
    if observed.node is None or not observed.node.unschedulable:
        outcome.resource_version = cordon(apis, name, True, rv)
    rolled = rolled_by_drain(observed) if restarted_at else set()
    for key in sorted(rolled):
        namespace, _, deployment = key.partition("/")
        target = TargetRef(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=deployment)
        restart(apis, target, restarted_at, None)
        outcome.rolled.append(key)
    node = observed.node
    kept = {p.uid for p in node.evictable if p.workload in rolled} if node else set()
    pods = [p for p in _pods_to_evict(apis, name) if p.uid not in kept]
    bare = [p.ref for p in pods if p.owner is None]  # appeared after validation: left alone
    waiting = [p for p in pods if p.owner is not None]
    delay = policy.backoff_s
    for attempt in range(policy.attempts):
        refused = []
        for pod in waiting:
            refusal = _evict(apis, pod)
            if refusal is None:
                outcome.evicted.append(pod.ref)
            else:
                refused.append(pod)
                outcome.refusal = refusal
        waiting = refused
        if not refused:
            break
        if attempt < policy.attempts - 1:
            clock.sleep(delay)
            delay = min(delay * 2, policy.backoff_max_s)
    outcome.remaining = [p.ref for p in waiting] + bare
    if bare and not outcome.refusal:
        outcome.refusal = f"pods without a controller were left: {', '.join(bare)}"
    return outcome
