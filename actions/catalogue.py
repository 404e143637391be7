"""The action catalogue: one :class:`ActionSpec` per :class:`~controlplane.ActionKind`.

A spec knows its typed parameters (the domain desired-state type), the preconditions a target
must meet (checked against an :class:`~actions.observed.Observed` snapshot, never by calling the
cluster), when the desired state already holds, how risky the action is, and the **inverse
action** computed from the state observed before it ran. The executor's calls::

    spec = CATALOGUE[request.kind]
    if not spec.is_satisfied(request, observed):
        spec.validate(request, observed)            # ActionRejected / PreconditionFailed
    undo = spec.inverse(request, observed)          # ActionRequest | None

Every method is pure. Bad input raises :class:`~controlplane.ActionRejected` with rule
``validation``; a target that does not allow the action raises
:class:`~controlplane.PreconditionFailed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from kubernetes.utils import parse_quantity
from pydantic import BaseModel, ValidationError

from controlplane import (
    ACTION_DESIRED_STATES,
    ACTION_TARGET_KINDS,
    ActionKind,
    ActionRejected,
    ActionRequest,
    BatchState,
    DrainState,
    EscalationState,
    NoActionState,
    PlacementState,
    PodDeletionState,
    PreconditionFailed,
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

from .observed import Observed, ServiceState, WorkloadState

__all__ = [
    "CATALOGUE",
    "VALIDATION_RULE",
    "ActionSpec",
    "Risk",
    "batch_steps",
    "get_spec",
    "parse_request",
    "step_pairs",
]

VALIDATION_RULE = "validation"
"""The ``rule`` of an :class:`~controlplane.ActionRejected` raised for malformed input."""

NAMESPACED = frozenset({TargetKind.DEPLOYMENT, TargetKind.POD, TargetKind.SERVICE})
RESOURCE_FIELDS = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")

D = TypeVar("D", bound=BaseModel)
Inverse = tuple[ActionKind, BaseModel]


class Risk(StrEnum):
    """How much harm a wrong action of this kind can do."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def parse_request(data: Mapping[str, Any]) -> ActionRequest:
    """Build an :class:`ActionRequest` from untrusted data (an API body, a model's output).

    Unknown kinds, out-of-range parameters and mismatched desired states raise
    :class:`ActionRejected` with rule ``validation`` and every field error in the message.
    """
    try:
        return ActionRequest.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        raise ActionRejected(VALIDATION_RULE, errors) from exc


def get_spec(kind: ActionKind | str) -> ActionSpec[Any]:
    """The spec of ``kind``; an unknown kind raises :class:`ActionRejected` (``validation``)."""
    try:
        return CATALOGUE[ActionKind(kind)]
    except ValueError:
        known = ", ".join(k.value for k in ActionKind)
        raise ActionRejected(
            VALIDATION_RULE, f"unknown action kind {kind!r} (known: {known})"
        ) from None


def _quantity(value: str | None) -> Decimal | None:
    return None if value is None else parse_quantity(value)


def _exceeds(request: str, limit: str) -> bool:
    return bool(parse_quantity(request) > parse_quantity(limit))


class ActionSpec(Generic[D]):
    """What one action kind needs, checks and undoes. Subclasses fill in the hooks."""

    kind: ClassVar[ActionKind]
    description: ClassVar[str]
    preconditions: ClassVar[tuple[str, ...]] = ()
    inverse_doc: ClassVar[str]
    risk: ClassVar[Risk]
    changes_cluster: ClassVar[bool] = True

    @property
    def desired_type(self) -> type[BaseModel]:
        return ACTION_DESIRED_STATES[self.kind]

    @property
    def target_kinds(self) -> frozenset[TargetKind]:
        return ACTION_TARGET_KINDS[self.kind]

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(name for name in self.desired_type.model_fields if name != "type")

    # -- the public API ------------------------------------------------------------------------

    def is_satisfied(self, request: ActionRequest, observed: Observed) -> bool:
        """Whether the target already is in the desired state (so applying does nothing)."""
        self._check_request(request, observed)
        if not self.changes_cluster:
            return False
        return self._satisfied(self._desired(request), observed)

    def validate(self, request: ActionRequest, observed: Observed) -> None:
        """Raise unless the action may run against ``observed``.

        A request whose desired state already holds is valid (applying it does nothing), so a
        replay never fails here. Otherwise the target must exist, its ``resourceVersion`` must
        still be the request's precondition, and the kind's own preconditions must hold.
        """
        self._check_request(request, observed)
        if not self.changes_cluster or self.is_satisfied(request, observed):
            return
        if not observed.exists:
            raise PreconditionFailed(f"{request.target} not found")
        wanted = request.precondition_resource_version
        writes = self._writes_target(self._desired(request), observed)
        if wanted is not None and writes and wanted != observed.resource_version:
            raise PreconditionFailed(
                f"{request.target} changed since the action was decided: resourceVersion "
                f"{observed.resource_version}, the request expects {wanted}"
            )
        generation = request.precondition_generation
        if generation is not None and writes and observed.generation not in (None, generation):
            raise PreconditionFailed(
                f"{request.target}'s spec changed since the action was decided: generation "
                f"{observed.generation}, the request expects {generation}"
            )
        self._check(self._desired(request), observed)

    def inverse(
        self,
        request: ActionRequest,
        observed: Observed,
        *,
        resource_version: str | None = None,
        at: float | None = None,
    ) -> ActionRequest | None:
        """The action that undoes ``request``, computed from the state observed *before* it ran.

        ``None`` when there is nothing to undo (the desired state already held) or the action
        cannot be undone (see :attr:`inverse_doc`). The inverse carries ``resource_version`` as
        its precondition: take it from a fresh observation when the undo is decided (a
        Deployment's ``resourceVersion`` moves with every status update, so the version right
        after ``request`` ran is soon stale). Its idempotency key is derived from the original's,
        so replaying the undo is idempotent and never mistaken for a new forward action.
        """
        if not observed.exists or self.is_satisfied(request, observed):
            return None
        found = self._inverse(self._desired(request), observed)
        if found is None:
            return None
        kind, desired = found
        key = hashlib.sha256(f"inverse:{request.idempotency_key}".encode()).hexdigest()
        return ActionRequest(
            kind=kind,
            target=request.target,
            desired=desired.model_dump(),
            precondition_resource_version=resource_version,
            idempotency_key=key,
            reason=f"undo {request.kind} {request.id}: {request.reason}",
            decided_by=request.decided_by,
            incident_id=request.incident_id,
            epoch=request.epoch,
            created_at=request.created_at if at is None else at,
        )

    # -- hooks -----------------------------------------------------------------------------------

    def _satisfied(self, desired: D, observed: Observed) -> bool:
        raise NotImplementedError

    def _check(self, desired: D, observed: Observed) -> None:
        """Kind-specific preconditions on an existing target (raise PreconditionFailed)."""

    def _writes_target(self, desired: D, observed: Observed) -> bool:
        """Whether applying writes the target object itself (so its resourceVersion matters)."""
        return True

    def _inverse(self, desired: D, observed: Observed) -> Inverse | None:
        return None

    # -- helpers ---------------------------------------------------------------------------------

    def _check_request(self, request: ActionRequest, observed: Observed) -> None:
        if observed.target != request.target:
            raise ActionRejected(
                VALIDATION_RULE,
                f"observed {observed.target}, but the request is for {request.target}",
            )
        if request.kind is not self.kind:
            raise ActionRejected(
                VALIDATION_RULE, f"the {self.kind} spec cannot handle a {request.kind} request"
            )
        target = request.target
        if target.kind in NAMESPACED and not target.namespace:
            raise ActionRejected(VALIDATION_RULE, f"a {target.kind} target needs a namespace")
        if target.kind not in NAMESPACED and target.namespace:
            raise ActionRejected(VALIDATION_RULE, f"a {target.kind} target has no namespace")

    def _desired(self, request: ActionRequest) -> D:
        desired: Any = request.desired
        return desired  # ActionRequest already checked it is ACTION_DESIRED_STATES[kind]


# -- workloads -----------------------------------------------------------------------------------


class _WorkloadSpec(ActionSpec[D]):
    """An action on a Deployment; refuses Deployments another controller owns."""

    def _check(self, desired: D, observed: Observed) -> None:
        if observed.controller is not None:
            owner = observed.controller
            raise PreconditionFailed(
                f"{observed.target} is controlled by {owner.kind} {owner.name}, which would "
                f"revert the change; act on the {owner.kind} instead"
            )
        self._check_workload(desired, _workload(observed))

    def _check_workload(self, desired: D, workload: WorkloadState) -> None:
        pass


def _workload(observed: Observed) -> WorkloadState:
    if observed.workload is None:
        raise PreconditionFailed(f"{observed.target} was observed without its Deployment state")
    return observed.workload


class ScaleSpec(_WorkloadSpec[ReplicasState]):
    kind = ActionKind.SCALE
    description = "Set a Deployment's replicas (the scale subresource, as `kubectl scale`)."
    preconditions = (
        "the Deployment exists and no other controller owns it",
        "no HorizontalPodAutoscaler targets it (refused: change the HPA's bounds instead)",
    )
    inverse_doc = "scale back to the replicas observed before"
    risk = Risk.LOW

    def _satisfied(self, desired: ReplicasState, observed: Observed) -> bool:
        return observed.workload is not None and observed.workload.replicas == desired.replicas

    def _check_workload(self, desired: ReplicasState, workload: WorkloadState) -> None:
        for hpa in workload.autoscalers:
            raise PreconditionFailed(
                f"HorizontalPodAutoscaler {hpa.name} manages the replicas "
                f"({hpa.min_replicas or 1}..{hpa.max_replicas}); scaling the Deployment would "
                "fight it: change the autoscaler's bounds instead"
            )

    def _inverse(self, desired: ReplicasState, observed: Observed) -> Inverse:
        return ActionKind.SCALE, ReplicasState(replicas=_workload(observed).replicas)


class RestartSpec(_WorkloadSpec[RestartState]):
    kind = ActionKind.RESTART
    description = (
        "Replace every pod by a rolling update, as `kubectl rollout restart` "
        "(pod template annotation `kubectl.kubernetes.io/restartedAt`)."
    )
    preconditions = ("the Deployment exists and no other controller owns it",)
    inverse_doc = "none: a restart replaces pods and cannot be undone (nor needs undoing)"
    risk = Risk.MEDIUM

    def _satisfied(self, desired: RestartState, observed: Observed) -> bool:
        workload = observed.workload
        return workload is not None and workload.restarted_at == desired.restarted_at


class RollbackSpec(_WorkloadSpec[RevisionState]):
    kind = ActionKind.ROLLBACK
    description = (
        "Put a revision's pod template back, as `kubectl rollout undo --to-revision` "
        "(the ReplicaSet's template without `pod-template-hash`)."
    )
    preconditions = (
        "the Deployment exists and no other controller owns it",
        "the revision is in its ReplicaSet history (a revision whose template is current: "
        "already satisfied, even after kubectl's renumbering)",
    )
    inverse_doc = "roll back to the revision current before"
    risk = Risk.HIGH

    def _satisfied(self, desired: RevisionState, observed: Observed) -> bool:
        workload = observed.workload
        if workload is None:
            return False
        entry = workload.revision_entry(desired.revision)
        return entry is not None and entry.template_hash == workload.template_hash

    def _check_workload(self, desired: RevisionState, workload: WorkloadState) -> None:
        if workload.revision_entry(desired.revision) is None:
            known = ", ".join(str(n) for n in sorted(r.number for r in workload.revisions))
            raise PreconditionFailed(
                f"revision {desired.revision} is not in the Deployment's history "
                f"(revisions: {known or 'none'})"
            )

    def _inverse(self, desired: RevisionState, observed: Observed) -> Inverse | None:
        current = _workload(observed).revision
        if current is None:
            return None
        return ActionKind.ROLLBACK, RevisionState(revision=current)


class SetResourcesSpec(_WorkloadSpec[ResourcesState]):
    kind = ActionKind.SET_RESOURCES
    description = "Set requests and/or limits of one named container (a rolling update)."
    preconditions = (
        "the Deployment exists and no other controller owns it",
        "the container exists; every request stays at or below its limit",
    )
    inverse_doc = (
        "the previous values of the fields it sets (none when one of them was unset before: "
        "an unset value cannot be expressed)"
    )
    risk = Risk.MEDIUM

    def _satisfied(self, desired: ResourcesState, observed: Observed) -> bool:
        if observed.workload is None:
            return False
        container = observed.workload.container(desired.container)
        if container is None:
            return False
        return all(
            _quantity(getattr(container, f)) == _quantity(getattr(desired, f))
            for f in RESOURCE_FIELDS
            if getattr(desired, f) is not None
        )

    def _check_workload(self, desired: ResourcesState, workload: WorkloadState) -> None:
        container = workload.container(desired.container)
        if container is None:
            names = ", ".join(c.name for c in workload.containers)
            raise PreconditionFailed(
                f"container {desired.container!r} is not in the pod template (containers: {names})"
            )
        for resource in ("cpu", "memory"):
            request = getattr(desired, f"{resource}_request") or getattr(
                container, f"{resource}_request"
            )
            limit = getattr(desired, f"{resource}_limit") or getattr(container, f"{resource}_limit")
            if request is not None and limit is not None and _exceeds(request, limit):
                raise PreconditionFailed(
                    f"{resource} request {request} would exceed its limit {limit} "
                    f"in container {desired.container!r}"
                )

    def _inverse(self, desired: ResourcesState, observed: Observed) -> Inverse | None:
        container = _workload(observed).container(desired.container)
        if container is None:
            return None
        previous = {f: getattr(container, f) for f in RESOURCE_FIELDS if getattr(desired, f)}
        if any(v is None for v in previous.values()):
            return None
        return ActionKind.SET_RESOURCES, ResourcesState(container=desired.container, **previous)


class MoveSpec(_WorkloadSpec[PlacementState]):
    kind = ActionKind.MOVE
    description = (
        "Place a workload's pods by node selector and/or a required node anti-affinity "
        "(`matchFields metadata.name NotIn`) to avoid nodes (a rolling update)."
    )
    preconditions = (
        "the Deployment exists and no other controller owns it",
        "at least one schedulable node matches the selector and is not avoided",
    )
    inverse_doc = "the previous node selector and avoided nodes"
    risk = Risk.HIGH

    def _satisfied(self, desired: PlacementState, observed: Observed) -> bool:
        workload = observed.workload
        return (
            workload is not None
            and workload.node_selector == desired.node_selector
            and sorted(workload.avoid_nodes) == sorted(desired.avoid_nodes)
        )

    def _check_workload(self, desired: PlacementState, workload: WorkloadState) -> None:
        if not workload.nodes:
            return  # nodes unknown: the scheduler will tell
        fits = [
            n.name
            for n in workload.nodes
            if not n.unschedulable
            and n.name not in desired.avoid_nodes
            and all(n.labels.get(k) == v for k, v in desired.node_selector.items())
        ]
        if not fits:
            raise PreconditionFailed(
                f"no schedulable node matches node selector {desired.node_selector} "
                f"outside {desired.avoid_nodes}: the pods could not be placed"
            )

    def _inverse(self, desired: PlacementState, observed: Observed) -> Inverse:
        workload = _workload(observed)
        state = PlacementState(
            node_selector=dict(workload.node_selector), avoid_nodes=list(workload.avoid_nodes)
        )
        return ActionKind.MOVE, state


# -- pods, nodes, services -----------------------------------------------------------------------


class DeletePodSpec(ActionSpec[PodDeletionState]):
    kind = ActionKind.DELETE_POD
    description = "Delete one pod (graceful; its controller replaces it), with a UID precondition."
    preconditions = (
        "the pod with that UID exists (absent or replaced: already satisfied)",
        "a controller owns it (a bare pod would be lost)",
    )
    inverse_doc = "none: a deleted pod is replaced by its controller and cannot be brought back"
    risk = Risk.LOW

    def _satisfied(self, desired: PodDeletionState, observed: Observed) -> bool:
        pod = observed.pod
        return not observed.exists or pod is None or pod.uid != desired.pod_uid or pod.deleting

    def _check(self, desired: PodDeletionState, observed: Observed) -> None:
        if observed.controller is None:
            raise PreconditionFailed(
                f"{observed.target} has no controller: deleting it would lose it for good"
            )


class _SchedulableSpec(ActionSpec[SchedulableState]):
    preconditions = ("the node exists",)
    risk = Risk.LOW

    def _satisfied(self, desired: SchedulableState, observed: Observed) -> bool:
        node = observed.node
        return node is not None and node.unschedulable == desired.unschedulable

    def _inverse(self, desired: SchedulableState, observed: Observed) -> Inverse:
        kind = ActionKind.UNCORDON if desired.unschedulable else ActionKind.CORDON
        return kind, SchedulableState(unschedulable=not desired.unschedulable)


class CordonSpec(_SchedulableSpec):
    kind = ActionKind.CORDON
    description = "Mark a node unschedulable (`spec.unschedulable`), as `kubectl cordon`."
    inverse_doc = "uncordon"


class UncordonSpec(_SchedulableSpec):
    kind = ActionKind.UNCORDON
    description = (
        "Mark a node schedulable again, as `kubectl uncordon` "
        "(a schedulable node: already satisfied)."
    )
    inverse_doc = "cordon"


class DrainSpec(ActionSpec[DrainState]):
    kind = ActionKind.DRAIN
    description = (
        "Cordon a node, roll (rollout restart) the Deployments whose only available pods are "
        "on it, then evict its other pods through the eviction subresource, respecting "
        "PodDisruptionBudgets (a refused eviction is retried with back-off, never forced); "
        "DaemonSet and mirror pods stay."
    )
    preconditions = (
        "the node exists",
        "every pod to evict has a controller (as `kubectl drain` without `--force`)",
        "the resourceVersion precondition guards the cordon; a cordoned node's partial drain "
        "resumes on replay",
    )
    inverse_doc = "uncordon (evicted pods are not moved back); none when it was cordoned before"
    risk = Risk.HIGH

    def _satisfied(self, desired: DrainState, observed: Observed) -> bool:
        node = observed.node
        return node is not None and node.unschedulable and not node.evictable

    def _writes_target(self, desired: DrainState, observed: Observed) -> bool:
        # Once cordoned, a drain only evicts pods (each under its budget and a UID
        # precondition): a partial drain resumes on replay although cordoning moved the
        # node's resourceVersion on.
        return observed.node is None or not observed.node.unschedulable

    def _check(self, desired: DrainState, observed: Observed) -> None:
        node = observed.node
        bare = [p.ref for p in node.evictable if p.owner is None] if node else []
        if bare:
            raise PreconditionFailed(
                f"pods without a controller on {observed.target} would be lost: {', '.join(bare)}"
            )

    def _inverse(self, desired: DrainState, observed: Observed) -> Inverse | None:
        if observed.node is None or observed.node.unschedulable:
            return None
        return ActionKind.UNCORDON, SchedulableState(unschedulable=False)


class RevertPortSpec(ActionSpec[ServicePortState]):
    kind = ActionKind.REVERT_PORT
    description = "Point one of a Service's ports at a target port (number or name)."
    preconditions = (
        "the Service exists and has that port",
        "a container of the selected pods declares the target port (when any pod is observed)",
    )
    inverse_doc = "the previous targetPort"
    risk = Risk.MEDIUM

    def _satisfied(self, desired: ServicePortState, observed: Observed) -> bool:
        service = observed.service
        port = service.port(desired.port) if service else None
        return port is not None and port.target_port == desired.target_port

    def _check(self, desired: ServicePortState, observed: Observed) -> None:
        service = _service(observed)
        if service.port(desired.port) is None:
            known = ", ".join(str(p.port) for p in service.ports)
            raise PreconditionFailed(f"{observed.target} has no port {desired.port} ({known})")
        declared = service.container_ports
        target = desired.target_port
        if declared and not any(
            (p.number == target) if isinstance(target, int) else (p.name == target)
            for p in declared
        ):
            ports = ", ".join(f"{p.name or '-'}:{p.number}" for p in declared)
            raise PreconditionFailed(
                f"no container of the pods {observed.target} selects declares port "
                f"{target!r} (declared: {ports})"
            )

    def _inverse(self, desired: ServicePortState, observed: Observed) -> Inverse | None:
        port = _service(observed).port(desired.port)
        if port is None:
            return None
        return ActionKind.REVERT_PORT, ServicePortState(
            port=desired.port, target_port=port.target_port
        )


def _service(observed: Observed) -> ServiceState:
    if observed.service is None:
        raise PreconditionFailed(f"{observed.target} was observed without its Service state")
    return observed.service


# -- several workloads ---------------------------------------------------------------------------


def batch_steps(request: ActionRequest) -> list[ActionRequest]:
    """A batch's steps as the single-Deployment requests they stand for (in step order).

    Each carries the batch's provenance and an idempotency key derived from the batch's, so
    guardrails, preconditions and writes treat it exactly as a scale or restart decided alone.
    Any other request is its own only step.
    """
    if not isinstance(request.desired, BatchState):
        return [request]
    out = []
    for step in request.desired.steps:
        kind = ActionKind.SCALE if isinstance(step.desired, ReplicasState) else ActionKind.RESTART
        target = TargetRef(
            kind=TargetKind.DEPLOYMENT, namespace=request.target.name, name=step.name
        )
        key = hashlib.sha256(f"{request.idempotency_key}:{step.name}".encode()).hexdigest()
        out.append(
            ActionRequest(
                kind=kind,
                target=target,
                desired=step.desired,
                precondition_generation=step.precondition_generation,
                idempotency_key=key,
                reason=request.reason,
                decided_by=request.decided_by,
                incident_id=request.incident_id,
                epoch=request.epoch,
                created_at=request.created_at,
            )
        )
    return out


def step_pairs(request: ActionRequest, observed: Observed) -> list[tuple[ActionRequest, Observed]]:
    """Each step of a batch with its Deployment as observed (:attr:`Observed.steps`)."""
    steps = batch_steps(request)
    if len(observed.steps) != len(steps):
        raise ActionRejected(
            VALIDATION_RULE,
            f"{request.target} was observed with {len(observed.steps)} step(s), "
            f"the batch has {len(steps)}",
        )
    return list(zip(steps, observed.steps, strict=True))


class BatchSpec(ActionSpec[BatchState]):
    kind = ActionKind.BATCH
    description = (
        "Scale and/or restart several Deployments of one namespace as one decision (every client "
        "of a rotated database, every saturated service of a surge); each step is observed, "
        "validated and guarded as its own `scale` or `restart`, then applied in order."
    )
    preconditions = (
        "every step's Deployment passes the preconditions of its step's kind",
        "each Deployment appears once; at most 20 steps",
    )
    inverse_doc = (
        "a batch scaling each scaled Deployment back to the replicas observed before "
        "(restarts need no undo); none when nothing was scaled"
    )
    risk = Risk.MEDIUM

    def is_satisfied(self, request: ActionRequest, observed: Observed) -> bool:
        self._check_request(request, observed)
        return all(CATALOGUE[r.kind].is_satisfied(r, o) for r, o in step_pairs(request, observed))

    def validate(self, request: ActionRequest, observed: Observed) -> None:
        self._check_request(request, observed)
        for step, seen in step_pairs(request, observed):
            CATALOGUE[step.kind].validate(step, seen)

    def inverse(
        self,
        request: ActionRequest,
        observed: Observed,
        *,
        resource_version: str | None = None,
        at: float | None = None,
    ) -> ActionRequest | None:
        steps = []
        for step, seen in step_pairs(request, observed):
            undo = CATALOGUE[step.kind].inverse(step, seen)
            if undo is not None and isinstance(undo.desired, ReplicasState):
                steps.append(WorkloadStep(name=step.target.name, desired=undo.desired))
        if not steps:
            return None
        key = hashlib.sha256(f"inverse:{request.idempotency_key}".encode()).hexdigest()
        return ActionRequest(
            kind=ActionKind.BATCH,
            target=request.target,
            desired=BatchState(steps=steps),
            idempotency_key=key,
            reason=f"undo {request.kind} {request.id}: {request.reason}",
            decided_by=request.decided_by,
            incident_id=request.incident_id,
            epoch=request.epoch,
            created_at=request.created_at if at is None else at,
        )


# -- no cluster change ---------------------------------------------------------------------------


class NoopSpec(ActionSpec[NoActionState]):
    kind = ActionKind.NOOP
    description = "Do nothing (a policy's explicit choice to wait); no cluster call."
    inverse_doc = "none"
    risk = Risk.NONE
    changes_cluster = False


class EscalateSpec(ActionSpec[EscalationState]):
    kind = ActionKind.ESCALATE
    description = "Ask a person to decide; no cluster call."
    inverse_doc = "none"
    risk = Risk.NONE
    changes_cluster = False


CATALOGUE: Mapping[ActionKind, ActionSpec[Any]] = MappingProxyType(
    {
        spec.kind: spec
        for spec in (
            ScaleSpec(),
            RestartSpec(),
            DeletePodSpec(),
            RollbackSpec(),
            SetResourcesSpec(),
            CordonSpec(),
            UncordonSpec(),
            DrainSpec(),
            MoveSpec(),
            RevertPortSpec(),
            NoopSpec(),
            EscalateSpec(),
            BatchSpec(),
        )
    }
)
"""Every action kind's spec."""
