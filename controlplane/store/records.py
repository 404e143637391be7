"""What the store keeps beside the domain types: action records, approvals, audit events, leases,
API tokens and the operator controls.

Frozen pydantic models, like the domain types, so the API can serve them as they are. An
action's life is a small state machine, :data:`ACTION_TRANSITIONS`::

    pending ──▶ approved ──▶ running ──▶ succeeded | failed
       │  ╲         │
       │   ╲        └──▶ refused | dry_run
       │    ▶ awaiting_approval ──▶ approved | refused
       └──▶ refused | running | dry_run

``refused``, ``succeeded``, ``failed`` and ``dry_run`` are final.

An operator :class:`Control` is one of :class:`ControlKind`: a ``pause`` (of the whole control
plane, or of one namespace), a ``silence`` of the targets a pattern matches, an ``opt_out`` of one
target, or ``dry_run``. A *maintenance window* is a silence with ``maintenance`` set (planned
ahead: a start, usually in the future, and an end). A control is in force from ``starts_at``
until ``ends_at`` (``None``: until lifted) unless lifted; :class:`ControlState` is what is in
force at one moment, as the guardrails read it.

Targets are written ``kind/namespace/name`` (``deployment/hotel/frontend``) or, for the kinds
without a namespace, ``kind/name`` (``node/general-003``). A silence's pattern may put the glob
``*`` in any part (``deployment/payments/*``, ``*/payments/*``, ``node/gpu-*``); a part never
matches across a ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controlplane.domain import ActionRequest, TargetKind, TargetRef
from controlplane.exceptions import InvalidRecord

__all__ = [
    "ACTION_TRANSITIONS",
    "FINAL_ACTION_STATUSES",
    "UNFINISHED_ACTION_STATUSES",
    "ActionRecord",
    "ActionStatus",
    "AlertStatus",
    "ApiToken",
    "Approval",
    "ApprovalDecision",
    "AuditEvent",
    "Claim",
    "Control",
    "ControlKind",
    "ControlState",
    "Lease",
    "Role",
    "VerdictKind",
    "parse_target",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ActionStatus(StrEnum):
    PENDING = "pending"
    """Claimed (its intent is on record); not yet through the guardrails."""
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    """Cleared to run, by the guardrails or by a person."""
    REFUSED = "refused"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    """Validated and guarded but deliberately not executed."""


_A = ActionStatus
ACTION_TRANSITIONS: Mapping[ActionStatus, frozenset[ActionStatus]] = MappingProxyType(
    {
        _A.PENDING: frozenset(
            {_A.AWAITING_APPROVAL, _A.APPROVED, _A.REFUSED, _A.RUNNING, _A.DRY_RUN}
        ),
        _A.AWAITING_APPROVAL: frozenset({_A.APPROVED, _A.REFUSED}),
        _A.APPROVED: frozenset({_A.RUNNING, _A.REFUSED, _A.DRY_RUN}),
        _A.RUNNING: frozenset({_A.SUCCEEDED, _A.FAILED}),
        _A.REFUSED: frozenset(),
        _A.SUCCEEDED: frozenset(),
        _A.FAILED: frozenset(),
        _A.DRY_RUN: frozenset(),
    }
)
del _A

FINAL_ACTION_STATUSES = frozenset(s for s, nxt in ACTION_TRANSITIONS.items() if not nxt)
UNFINISHED_ACTION_STATUSES = frozenset(
    {ActionStatus.PENDING, ActionStatus.APPROVED, ActionStatus.RUNNING}
)
"""What an executor reconciles on restart (an action awaiting a person waits for the person)."""


class VerdictKind(StrEnum):
    """The guardrails' answer to an action (the values of ``actions.guardrails.VerdictKind``)."""

    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    REFUSED = "refused"
    DRY_RUN = "dry_run"


class ActionRecord(_Record):
    """One action as stored: the request, the guardrails' verdict, where it stands, its result."""

    id: str
    idempotency_key: str
    request: ActionRequest
    status: ActionStatus
    verdict: VerdictKind | None = None
    """The guardrails' answer; ``refused_by`` names the rule when it is a refusal."""
    refused_by: str | None = None
    verdict_reason: str | None = None
    epoch: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None


class Claim(_Record):
    """The answer to a claim: the stored action and whether this call created it."""

    record: ActionRecord
    created: bool


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Approval(_Record):
    """A person's go-ahead asked for one action; undecided while ``decision`` is ``None``."""

    id: str
    action_id: str
    requested_at: float
    expires_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    decision: ApprovalDecision | None = None
    reason: str | None = None


class AuditEvent(_Record):
    """One line of the append-only audit trail; ``id`` grows with every event."""

    id: int
    at: float
    actor: str
    kind: str
    subject_id: str | None = None
    details: dict[str, Any]


class Lease(_Record):
    """A leader lease as stored: who holds it, under which fencing epoch, until when."""

    name: str
    holder: str
    epoch: int
    """The fencing epoch issued when ``holder`` took the lease."""
    acquired_at: float
    renewed_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        """Free to take at ``now``: past its expiry (or released)."""
        return self.expires_at <= now

    @property
    def released(self) -> bool:
        """Given up by its holder (a release sets ``expires_at`` to ``renewed_at``)."""
        return self.expires_at == self.renewed_at


# --- API tokens -----------------------------------------------------------------------------


class Role(StrEnum):
    """What an API token may do; each role may do everything the roles below it may:
    ``viewer`` < ``operator`` < ``admin`` (compared by rank, not alphabetically). Which role a
    request needs is the API's to say."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_ORDER.index(self)

    def allows(self, required: Role) -> bool:
        """Whether a holder of this role may do what ``required`` may."""
        return self.rank >= Role(required).rank

    def __lt__(self, other: str) -> bool:
        return self.rank < other.rank if isinstance(other, Role) else NotImplemented

    def __le__(self, other: str) -> bool:
        return self.rank <= other.rank if isinstance(other, Role) else NotImplemented

    def __gt__(self, other: str) -> bool:
        return self.rank > other.rank if isinstance(other, Role) else NotImplemented

    def __ge__(self, other: str) -> bool:
        return self.rank >= other.rank if isinstance(other, Role) else NotImplemented


_ROLE_ORDER = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


class ApiToken(_Record):
    """An API token as stored: never the token itself (only its SHA-256 digest is kept, and not
    here either)."""

    id: str
    name: str
    role: Role
    created_at: float
    created_by: str
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def active(self, now: float) -> bool:
        """Accepted at ``now``: not revoked and not expired."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


# --- operator controls ----------------------------------------------------------------------


class ControlKind(StrEnum):
    PAUSE = "pause"
    """No cluster-changing action: everywhere (``namespace`` ``None``) or in ``namespace``."""
    SILENCE = "silence"
    """No action on a target ``target`` matches (a maintenance window when ``maintenance``)."""
    OPT_OUT = "opt_out"
    """No action on ``target``, nor one that would disrupt it."""
    DRY_RUN = "dry_run"
    """Every action is guarded and recorded as a dry run, none executed."""


_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9._]{0,251}[A-Za-z0-9])?")
_GLOB = re.compile(r"[-A-Za-z0-9._*]{1,253}")
_NAMESPACED = frozenset({TargetKind.SERVICE, TargetKind.DEPLOYMENT, TargetKind.POD})
_KINDS = ", ".join(k.value for k in TargetKind)


def parse_target(text: str, *, pattern: bool = False) -> tuple[str, ...]:
    """``text``'s parts (``kind``, ``namespace``, ``name`` or ``kind``, ``name``), checked.

    A namespaced kind (service, deployment, pod) takes three parts, a node or namespace two;
    with ``pattern`` any part may hold ``*`` (a kind of ``*`` takes either form). Anything else
    raises :class:`~controlplane.exceptions.InvalidRecord` saying what is expected.
    """
    what = "target pattern" if pattern else "target"
    parts = tuple(text.split("/")) if isinstance(text, str) else ()
    expected = f"expected kind/namespace/name or kind/name, kind one of {_KINDS}" + (
        " (each part may use the glob *)" if pattern else ""
    )
    if len(parts) not in (2, 3):
        raise InvalidRecord(f"{what} {text!r}: {expected}")
    syntax = _GLOB if pattern else _NAME
    for part in parts:
        if not syntax.fullmatch(part):
            raise InvalidRecord(f"{what} {text!r}: bad part {part!r}; {expected}")
    kind = parts[0]
    if pattern and "*" in kind:
        kinds = {k for k in TargetKind if fnmatchcase(k.value, kind)}
    else:
        kinds = {k for k in TargetKind if k.value == kind}
    if not kinds:
        raise InvalidRecord(f"{what} {text!r}: unknown kind {kind!r}; {expected}")
    fits = {k for k in kinds if (k in _NAMESPACED) == (len(parts) == 3)}
    if not fits:
        form = "kind/namespace/name" if len(parts) == 2 else "kind/name"
        raise InvalidRecord(f"{what} {text!r}: a {kind} target is written {form}")
    return parts


def _matches(pattern: str, target: str) -> bool:
    """Whether ``target`` (``kind/namespace/name``) fits ``pattern``, part by part."""
    wanted, parts = pattern.split("/"), target.split("/")
    return len(wanted) == len(parts) and all(
        fnmatchcase(part, glob) for part, glob in zip(parts, wanted, strict=True)
    )


class Control(_Record):
    """One operator control as stored (see :class:`ControlKind`)."""

    id: str
    kind: ControlKind
    namespace: str | None = None
    """A pause's namespace (``None``: the whole control plane)."""
    target: str | None = None
    """An opt-out's target, or a silence's pattern (``*`` globs in any part)."""
    maintenance: bool = False
    """A silence planned as a maintenance window."""
    starts_at: float
    ends_at: float | None = None
    """``None``: until lifted."""
    comment: str = ""
    created_by: str
    created_at: float
    lifted_at: float | None = None
    lifted_by: str | None = None

    def active(self, now: float) -> bool:
        """In force at ``now``: started, not ended, not lifted."""
        return (
            self.lifted_at is None
            and self.starts_at <= now
            and (self.ends_at is None or now < self.ends_at)
        )

    def matches(self, target: TargetRef | str) -> bool:
        """Whether ``target`` falls under this control's ``target`` (pattern)."""
        return self.target is not None and _matches(self.target, str(target))

    def describe(self) -> str:
        """``control <id>`` with its comment, for reasons people read."""
        what = "maintenance window" if self.maintenance else f"control {self.kind}"
        comment = f": {self.comment}" if self.comment else ""
        return f"{what} {self.id} by {self.created_by}{comment}"


class ControlState(_Record):
    """The operator controls in force at ``at``: what the guardrails overlay on their config.

    The default (no control) changes nothing.
    """

    at: float = 0.0
    paused: bool = False
    """The whole control plane is paused."""
    paused_namespaces: list[str] = Field(default_factory=list)
    silences: list[Control] = Field(default_factory=list)
    """Silences and maintenance windows in force at ``at``."""
    opt_outs: list[str] = Field(default_factory=list)
    """Targets opted out, as ``kind/namespace/name`` (``node/NAME``)."""
    dry_run: bool = False
    controls: list[Control] = Field(default_factory=list)
    """Every control in force, oldest first (to name the one that decided)."""

    @classmethod
    def of(cls, controls: list[Control], now: float) -> ControlState:
        """The state ``controls`` (those of them in force at ``now``) put in place."""
        active = [c for c in controls if c.active(now)]
        kinds = {kind: [c for c in active if c.kind is kind] for kind in ControlKind}
        pauses = kinds[ControlKind.PAUSE]
        return cls(
            at=now,
            paused=any(c.namespace is None for c in pauses),
            paused_namespaces=sorted({c.namespace for c in pauses if c.namespace is not None}),
            silences=kinds[ControlKind.SILENCE],
            opt_outs=sorted({c.target for c in kinds[ControlKind.OPT_OUT] if c.target}),
            dry_run=bool(kinds[ControlKind.DRY_RUN]),
            controls=active,
        )

    def matching_silence(self, target: TargetRef | str) -> Control | None:
        """The first silence (or maintenance window) in force whose pattern matches ``target``
        (``kind/namespace/name`` globbed part by part; nodes ``node/NAME``)."""
        return next((c for c in self.silences if c.matches(target)), None)

    def namespace_silence(self, namespace: str) -> Control | None:
        """The first silence in force on a whole namespace (a pattern ``KIND/NAMESPACE/*``
        whose name part is ``*``) that covers ``namespace``."""
        for control in self.silences:
            parts = (control.target or "").split("/")
            if len(parts) == 3 and parts[2] == "*" and fnmatchcase(namespace, parts[1]):
                return control
        return None

    def first(
        self, kind: ControlKind, *, namespace: str | None = None, target: str | None = None
    ) -> Control | None:
        """The oldest control of ``kind`` in force with this ``namespace`` and ``target`` (a
        pause of the whole control plane: neither), to name in a verdict."""
        return next(
            (
                c
                for c in self.controls
                if c.kind is kind and c.namespace == namespace and c.target == target
            ),
            None,
        )


class AlertStatus(StrEnum):
    """An outside alert's status, as Alertmanager sends it."""

    FIRING = "firing"
    RESOLVED = "resolved"
