"""The domain types every package shares: targets, SLOs, signals, incidents, hypotheses,
actions and decisions.

All are frozen pydantic models (they cross process and LLM boundaries and go to the store), with
non-finite floats refused so that every model survives a JSON round trip unchanged. Times are
epoch seconds from an injected :class:`~controlplane.clock.Clock`; nothing here reads the time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Literal, Protocol, Self, runtime_checkable
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ACTION_DESIRED_STATES",
    "ACTION_TARGET_KINDS",
    "INCIDENT_TRANSITIONS",
    "LATENCY_QUANTILES",
    "SLO",
    "ActionKind",
    "ActionRequest",
    "BatchState",
    "Candidate",
    "Decision",
    "DesiredState",
    "DrainState",
    "EscalationState",
    "Evidence",
    "FaultLabel",
    "FaultType",
    "Hypothesis",
    "Incident",
    "IncidentState",
    "ModelCall",
    "NoActionState",
    "PlacementState",
    "PodDeletionState",
    "ReplicasState",
    "ResourcesState",
    "RestartState",
    "RevisionState",
    "SLOReader",
    "SLOStatus",
    "SchedulableState",
    "ServicePortState",
    "Severity",
    "Signal",
    "SignalKind",
    "SystemLevel",
    "TargetKind",
    "TargetRef",
    "Tier",
    "TimelineEntry",
    "WorkloadStep",
    "can_transition",
    "new_id",
]

Score = Annotated[float, Field(ge=0.0, le=1.0)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
# A Kubernetes resource quantity without sign: "250m", "1.5", "512Mi", "1e3".
Quantity = Annotated[
    str,
    Field(
        pattern=r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
        r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    ),
]


LATENCY_QUANTILES = (0.5, 0.9, 0.95, 0.99)
"""The latency quantiles an SLO may bound."""


def new_id() -> str:
    """A fresh random identifier (32 hex digits)."""
    return uuid4().hex


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# --- targets and fault labels ---------------------------------------------------------------


class TargetKind(StrEnum):
    SERVICE = "service"
    DEPLOYMENT = "deployment"
    POD = "pod"
    NODE = "node"
    NAMESPACE = "namespace"


class TargetRef(_Model):
    """A Kubernetes object an analysis points at or an action acts on."""

    kind: TargetKind
    name: str = Field(min_length=1)
    namespace: str | None = None

    def __str__(self) -> str:
        if self.namespace is None:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"


class SystemLevel(StrEnum):
    """AIOpsLab's system level of a fault."""

    HARDWARE = "Hardware"
    OPERATING_SYSTEM = "Operating System"
    VIRTUALIZATION = "Virtualization"
    APPLICATION = "Application"


class FaultType(StrEnum):
    """AIOpsLab's fault type."""

    MISCONFIGURATION = "Misconfiguration"
    CODE_DEFECT = "Code Defect"
    AUTHENTICATION_ISSUE = "Authentication Issue"
    NETWORK_STORAGE_ISSUE = "Network/Storage Issue"
    OPERATION_ERROR = "Operation Error"
    DEPENDENCY_PROBLEM = "Dependency Problem"


class FaultLabel(_Model):
    system_level: SystemLevel
    fault_type: FaultType


# --- SLOs -----------------------------------------------------------------------------------


class SLO(_Model):
    """A service's objective: a latency-quantile bound and/or an error-ratio bound over a window.

    ``objective`` is the fraction of time the bounds must hold; the error budget is
    ``1 - objective``. A burn rate above ``burn_rate_fast`` (or ``burn_rate_slow`` over a longer
    window) should page, after the multi-window burn-rate alerts of the Google SRE workbook.
    """

    service: str = Field(min_length=1)
    namespace: str = "default"
    latency_quantile: float = 0.99
    latency_ms: float | None = Field(default=None, gt=0)
    error_ratio: Ratio | None = None
    window_s: float = Field(default=300.0, gt=0)
    objective: float = Field(default=0.99, gt=0, lt=1)
    burn_rate_fast: float = Field(default=14.4, gt=0)
    burn_rate_slow: float = Field(default=6.0, gt=0)

    @field_validator("latency_quantile")
    @classmethod
    def _known_quantile(cls, value: float) -> float:
        if value not in LATENCY_QUANTILES:
            raise ValueError(f"latency_quantile must be one of {LATENCY_QUANTILES}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.latency_ms is None and self.error_ratio is None:
            raise ValueError("an SLO needs a latency_ms bound, an error_ratio bound or both")
        if self.burn_rate_slow > self.burn_rate_fast:
            raise ValueError("burn_rate_slow must not exceed burn_rate_fast")
        return self

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective

    def is_met(self, latency_ms: float | None, error_ratio: float | None) -> bool:
        """Whether observed values keep every bound; ``None`` (no data) breaks no bound."""
        # A NaN observation compares false, so it counts as a breach.
        latency_ok = self.latency_ms is None or latency_ms is None or latency_ms <= self.latency_ms
        errors_ok = (
            self.error_ratio is None or error_ratio is None or error_ratio <= self.error_ratio
        )
        return latency_ok and errors_ok

    def burn_rate(self, bad_fraction: float) -> float:
        """How fast the error budget burns when ``bad_fraction`` of the window is bad."""
        return bad_fraction / self.error_budget


class SLOStatus(_Model):
    """One service's SLO state at time ``at``."""

    service: str
    namespace: str = "default"
    latency_ms: NonNegative | None = None
    error_ratio: Ratio | None = None
    met: bool
    burn_rate: NonNegative = 0.0
    at: float


@runtime_checkable
class SLOReader(Protocol):
    """Current SLO status per service; implemented in ``telemetry/``."""

    def status(self) -> Mapping[str, SLOStatus]:
        """The latest status of every service with an SLO, keyed by service name."""
        ...


# --- signals --------------------------------------------------------------------------------


class Evidence(_Model):
    """One observation behind a signal or hypothesis, with the baseline it departs from."""

    name: str
    value: float | str
    baseline: float | None = None
    unit: str | None = None


class SignalKind(StrEnum):
    ANOMALY = "anomaly"
    CAPACITY = "capacity"
    ALERT = "alert"


class Signal(_Model):
    """Something a detector, forecaster or alert source saw, about a service or a node."""

    id: str = Field(default_factory=new_id)
    detector: str
    series: str
    service: str | None = None
    node: str | None = None
    namespace: str | None = None
    score: float
    start: float
    kind: SignalKind = SignalKind.ANOMALY
    evidence: list[Evidence] = Field(default_factory=list)


# --- incidents ------------------------------------------------------------------------------


class IncidentState(StrEnum):
    OPEN = "open"
    DIAGNOSING = "diagnosing"
    MITIGATING = "mitigating"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    NEEDS_HUMAN = "needs_human"


_S = IncidentState
INCIDENT_TRANSITIONS: Mapping[IncidentState, frozenset[IncidentState]] = MappingProxyType(
    {
        _S.OPEN: frozenset({_S.DIAGNOSING, _S.MITIGATING, _S.RESOLVED, _S.NEEDS_HUMAN}),
        _S.DIAGNOSING: frozenset({_S.MITIGATING, _S.RESOLVED, _S.NEEDS_HUMAN}),
        _S.MITIGATING: frozenset({_S.VERIFYING, _S.DIAGNOSING, _S.NEEDS_HUMAN}),
        _S.VERIFYING: frozenset({_S.RESOLVED, _S.MITIGATING, _S.DIAGNOSING, _S.NEEDS_HUMAN}),
        _S.RESOLVED: frozenset({_S.OPEN}),
        _S.NEEDS_HUMAN: frozenset({_S.DIAGNOSING, _S.MITIGATING, _S.RESOLVED}),
    }
)
del _S


def can_transition(current: IncidentState, target: IncidentState) -> bool:
    """Whether an incident may move from ``current`` to ``target``."""
    return target in INCIDENT_TRANSITIONS[current]


class Severity(StrEnum):
    """Incident severity; compares by gravity (``CRITICAL > HIGH > ... > INFO``)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank


_SEVERITY_RANK = {s: rank for rank, s in enumerate(reversed(list(Severity)))}


class TimelineEntry(_Model):
    """One line of an incident's history: ``kind`` is e.g. signal, transition, decision, action."""

    at: float
    kind: str
    summary: str
    ref_id: str | None = None


class Incident(_Model):
    """Correlated signals about one problem, and what was done about it."""

    id: str = Field(default_factory=new_id)
    state: IncidentState = IncidentState.OPEN
    services: list[str] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=list)
    namespace: str | None = None
    severity: Severity = Severity.MEDIUM
    signal_ids: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    opened_at: float
    updated_at: float = Field(default_factory=lambda data: data["opened_at"])
    """Last change; defaults to ``opened_at``."""
    resolved_at: float | None = None

    def transition(self, to: IncidentState, at: float, reason: str) -> Incident:
        """A copy of this incident moved to ``to``, with a timeline entry saying why.

        Raises ``ValueError`` when the move is not in :data:`INCIDENT_TRANSITIONS`.
        """
        if not can_transition(self.state, to):
            raise ValueError(f"incident {self.id}: illegal transition {self.state} -> {to}")
        entry = TimelineEntry(at=at, kind="transition", summary=f"{self.state} -> {to}: {reason}")
        return self.model_copy(
            update={
                "state": to,
                "updated_at": at,
                "resolved_at": at if to is IncidentState.RESOLVED else None,
                "timeline": [*self.timeline, entry],
            }
        )


# --- hypotheses -----------------------------------------------------------------------------


class Hypothesis(_Model):
    """A root-cause guess: which target, what kind of fault, how likely."""

    target: TargetRef
    label: FaultLabel
    score: Score
    evidence: list[Evidence] = Field(default_factory=list)
    summary: str = ""


# --- actions --------------------------------------------------------------------------------


class ActionKind(StrEnum):
    SCALE = "scale"
    RESTART = "restart"
    DELETE_POD = "delete_pod"
    ROLLBACK = "rollback"
    SET_RESOURCES = "set_resources"
    CORDON = "cordon"
    UNCORDON = "uncordon"
    DRAIN = "drain"
    MOVE = "move"
    REVERT_PORT = "revert_port"
    NOOP = "noop"
    ESCALATE = "escalate"
    BATCH = "batch"


class ReplicasState(_Model):
    """The workload runs exactly ``replicas`` pods."""

    type: Literal["replicas"] = "replicas"
    replicas: int = Field(ge=0)


class RestartState(_Model):
    """The pod template carries ``kubectl.kubernetes.io/restartedAt = restarted_at``."""

    type: Literal["restart"] = "restart"
    restarted_at: str = Field(min_length=1)


class PodDeletionState(_Model):
    """The pod with this UID no longer exists (a replacement may)."""

    type: Literal["pod_deletion"] = "pod_deletion"
    pod_uid: str = Field(min_length=1)


class RevisionState(_Model):
    """The pod template is the one of ReplicaSet revision ``revision``."""

    type: Literal["revision"] = "revision"
    revision: int = Field(ge=1)


class ResourcesState(_Model):
    """A container's requests and limits (Kubernetes quantities); ``None`` leaves one as is."""

    type: Literal["resources"] = "resources"
    container: str = Field(min_length=1)
    cpu_request: Quantity | None = None
    cpu_limit: Quantity | None = None
    memory_request: Quantity | None = None
    memory_limit: Quantity | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        values = (self.cpu_request, self.cpu_limit, self.memory_request, self.memory_limit)
        if all(v is None for v in values):
            raise ValueError("set at least one of cpu/memory request/limit")
        return self


class SchedulableState(_Model):
    """The node's ``spec.unschedulable`` flag."""

    type: Literal["schedulable"] = "schedulable"
    unschedulable: bool


class DrainState(_Model):
    """The node is cordoned and holds no evictable pods."""

    type: Literal["drain"] = "drain"


class PlacementState(_Model):
    """The workload's pods select these node labels and avoid these nodes."""

    type: Literal["placement"] = "placement"
    node_selector: dict[str, str] = Field(default_factory=dict)
    avoid_nodes: list[str] = Field(default_factory=list)


class ServicePortState(_Model):
    """The service's ``port`` forwards to ``target_port`` (a number or a named port)."""

    type: Literal["service_port"] = "service_port"
    port: int = Field(ge=1, le=65535)
    target_port: Annotated[int, Field(ge=1, le=65535)] | Annotated[str, Field(min_length=1)]


class WorkloadStep(_Model):
    """One Deployment of a batch (named within the batch's namespace) and its desired state."""

    name: str = Field(min_length=1)
    desired: Annotated[ReplicasState | RestartState, Field(discriminator="type")]
    precondition_generation: int | None = Field(default=None, ge=0)
    """The Deployment's ``metadata.generation`` when the batch was decided (as
    :attr:`ActionRequest.precondition_generation` for a single action)."""


class BatchState(_Model):
    """Every step's Deployment is in its desired state: several workloads fixed by one decision
    (every client of a database restarted, every saturated service scaled out)."""

    type: Literal["batch"] = "batch"
    steps: list[WorkloadStep] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"a Deployment appears twice in the batch: {names}")
        return self


class NoActionState(_Model):
    """Nothing changes."""

    type: Literal["none"] = "none"


class EscalationState(_Model):
    """A person is asked to decide."""

    type: Literal["escalation"] = "escalation"
    reason: str = Field(min_length=1)


DesiredState = Annotated[
    ReplicasState
    | RestartState
    | PodDeletionState
    | RevisionState
    | ResourcesState
    | SchedulableState
    | DrainState
    | PlacementState
    | ServicePortState
    | BatchState
    | NoActionState
    | EscalationState,
    Field(discriminator="type"),
]

ACTION_DESIRED_STATES: Mapping[ActionKind, type[BaseModel]] = MappingProxyType(
    {
        ActionKind.SCALE: ReplicasState,
        ActionKind.RESTART: RestartState,
        ActionKind.DELETE_POD: PodDeletionState,
        ActionKind.ROLLBACK: RevisionState,
        ActionKind.SET_RESOURCES: ResourcesState,
        ActionKind.CORDON: SchedulableState,
        ActionKind.UNCORDON: SchedulableState,
        ActionKind.DRAIN: DrainState,
        ActionKind.MOVE: PlacementState,
        ActionKind.REVERT_PORT: ServicePortState,
        ActionKind.NOOP: NoActionState,
        ActionKind.ESCALATE: EscalationState,
        ActionKind.BATCH: BatchState,
    }
)
"""The desired-state type each action kind takes."""

_WORKLOAD = frozenset({TargetKind.DEPLOYMENT})
ACTION_TARGET_KINDS: Mapping[ActionKind, frozenset[TargetKind]] = MappingProxyType(
    {
        ActionKind.SCALE: _WORKLOAD,
        ActionKind.RESTART: _WORKLOAD,
        ActionKind.DELETE_POD: frozenset({TargetKind.POD}),
        ActionKind.ROLLBACK: _WORKLOAD,
        ActionKind.SET_RESOURCES: _WORKLOAD,
        ActionKind.CORDON: frozenset({TargetKind.NODE}),
        ActionKind.UNCORDON: frozenset({TargetKind.NODE}),
        ActionKind.DRAIN: frozenset({TargetKind.NODE}),
        ActionKind.MOVE: _WORKLOAD,
        ActionKind.REVERT_PORT: frozenset({TargetKind.SERVICE}),
        ActionKind.NOOP: frozenset(TargetKind),
        ActionKind.ESCALATE: frozenset(TargetKind),
        ActionKind.BATCH: frozenset({TargetKind.NAMESPACE}),
    }
)
"""The target kinds each action kind may act on."""


class ActionRequest(_Model):
    """One action, stated as the absolute state the target should reach.

    Replaying a request never acts twice and never goes one step further: executors key on
    ``idempotency_key`` and refuse when the target's ``resourceVersion`` no longer matches
    ``precondition_resource_version``. ``epoch`` is the deciding leader's fencing token.
    """

    id: str = Field(default_factory=new_id)
    kind: ActionKind
    target: TargetRef
    desired: DesiredState
    precondition_resource_version: str | None = None
    precondition_generation: int | None = Field(default=None, ge=0)
    """A workload's ``metadata.generation`` when the action was decided: it moves only when the
    spec changes, so status churn (a crash-looping pod) does not invalidate the decision while
    someone else's rollout does."""
    idempotency_key: str = ""
    reason: str
    decided_by: str
    incident_id: str | None = None
    epoch: int | None = Field(default=None, ge=0)
    created_at: float

    @model_validator(mode="after")
    def _check(self) -> Self:
        expected = ACTION_DESIRED_STATES[self.kind]
        if not isinstance(self.desired, expected):
            raise ValueError(
                f"{self.kind} needs a {expected.__name__}, not a {type(self.desired).__name__}"
            )
        if isinstance(self.desired, SchedulableState):
            wanted = self.kind is ActionKind.CORDON
            if self.desired.unschedulable is not wanted:
                raise ValueError(f"{self.kind} needs unschedulable={wanted}")
        if self.target.kind not in ACTION_TARGET_KINDS[self.kind]:
            raise ValueError(f"{self.kind} cannot act on a {self.target.kind}")
        if not self.idempotency_key:
            key = self.derive_idempotency_key(
                self.incident_id, self.kind, self.target, self.desired
            )
            object.__setattr__(self, "idempotency_key", key)  # frozen: set once, while validating
        return self

    @staticmethod
    def derive_idempotency_key(
        incident_id: str | None, kind: ActionKind, target: TargetRef, desired: BaseModel
    ) -> str:
        """A stable key (sha256 hex) for this incident, kind, target and desired state."""
        payload = {
            "incident_id": incident_id,
            "kind": str(kind),
            "target": target.model_dump(mode="json"),
            "desired": desired.model_dump(mode="json"),
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- decisions ------------------------------------------------------------------------------


class Candidate(_Model):
    """An action an analyzer offers to a policy, with what it should do and what it risks."""

    action: ActionRequest
    expected_effect: str
    risk: Score
    cost: NonNegative = 0.0
    hypothesis_index: int | None = Field(default=None, ge=0)


class Tier(StrEnum):
    """Who decided: no model, the local small model, the cloud model, or a person."""

    NONE = "none"
    LOCAL = "local"
    CLOUD = "cloud"
    HUMAN = "human"


class ModelCall(_Model):
    """One call to a language model, accounted.

    ``outcome``: ``ok`` (a valid answer), ``low_confidence`` (valid, but its margin was under the
    router's threshold), ``invalid`` (unparseable or outside the offered options),
    ``unavailable`` (timeout, connection error, 5xx) or ``skipped`` (not made: spend limit or
    open circuit). ``escalation_reason`` says why the router went on past this call, if it did.
    """

    tier: Tier
    model: str
    agent: str = ""
    outcome: Literal["ok", "low_confidence", "invalid", "unavailable", "skipped"] = "ok"
    prompt_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_s: NonNegative = 0.0
    cost_usd: NonNegative = 0.0
    margin: float | None = None
    escalation_reason: str | None = None
    error: str | None = None


class Decision(_Model):
    """One policy decision, accounted: what was offered, what was chosen, and at what cost.

    ``calls``: every model call made for it (empty for the model-free policies); the token,
    latency and cost fields are their sums.
    """

    id: str = Field(default_factory=new_id)
    incident_id: str
    agent: str
    policy: str
    tier: Tier
    model: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    choice: int | None = None
    confidence: Score | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_s: NonNegative = 0.0
    cost_usd: NonNegative = 0.0
    escalation_reason: str | None = None
    calls: list[ModelCall] = Field(default_factory=list)
    at: float

    @model_validator(mode="after")
    def _check_choice(self) -> Self:
        if self.choice is not None and not 0 <= self.choice < len(self.candidates):
            raise ValueError(
                f"choice {self.choice} is out of range for {len(self.candidates)} candidates"
            )
        return self

    @property
    def chosen(self) -> Candidate | None:
        """The chosen candidate, or ``None`` when nothing was chosen."""
        return None if self.choice is None else self.candidates[self.choice]
