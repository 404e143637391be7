"""What applying an action did."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from controlplane import ActionKind, TargetRef

__all__ = ["ActionResult", "ResultStatus"]


class ResultStatus(StrEnum):
    APPLIED = "applied"
    """The cluster was changed toward the desired state."""
    ALREADY_SATISFIED = "already_satisfied"
    """The desired state already held: nothing was sent (a replay, or someone did it first)."""
    PARTIAL = "partial"
    """Part of it was done (a drain whose evictions a disruption budget still refuses, a batch
    stopped at a step)."""
    NOTHING_TO_DO = "nothing_to_do"
    """``noop``: no cluster call."""
    ESCALATED = "escalated"
    """``escalate``: no cluster call; a person is to decide."""


class ActionResult(BaseModel):
    """The outcome of one :meth:`~actions.KubernetesBackend.apply`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    kind: ActionKind
    target: TargetRef
    status: ResultStatus
    message: str
    resource_version: str | None = None
    """The target's ``resourceVersion`` after the change (the inverse's precondition)."""
    evicted: list[str] = Field(default_factory=list)
    """Drain: pods evicted, as ``namespace/name``."""
    remaining: list[str] = Field(default_factory=list)
    """Drain: pods still on the node because their disruption budget refused the eviction;
    batch: the steps not applied."""

    @property
    def done(self) -> bool:
        """Whether the desired state was reached (or the action needed no cluster change)."""
        return self.status is not ResultStatus.PARTIAL
