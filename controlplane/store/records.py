"""What the store keeps beside the domain types: action records, approvals, audit events, leases.

Frozen pydantic models, like the domain types, so the API can serve them as they are. An
action's life is a small state machine, :data:`ACTION_TRANSITIONS`::

    pending ──▶ approved ──▶ running ──▶ succeeded | failed
       │  ╲         │
       │   ╲        └──▶ refused | dry_run
       │    ▶ awaiting_approval ──▶ approved | refused
       └──▶ refused | running | dry_run

``refused``, ``succeeded``, ``failed`` and ``dry_run`` are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict

from controlplane.domain import ActionRequest

__all__ = [
    "ACTION_TRANSITIONS",
    "FINAL_ACTION_STATUSES",
    "UNFINISHED_ACTION_STATUSES",
    "ActionRecord",
    "ActionStatus",
    "Approval",
    "ApprovalDecision",
    "AuditEvent",
    "Claim",
    "Lease",
    "VerdictKind",
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
