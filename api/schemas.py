"""The API's request and response bodies (the kernel's records are served as they are).

Request bodies forbid unknown fields and bound every string and list, so a malformed or
oversized payload is a 422 naming the field, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from controlplane.domain import (
    Decision,
    Incident,
    IncidentState,
    Severity,
    Signal,
)
from controlplane.store import ActionRecord, Approval, AuditEvent, Control, ControlState

__all__ = [
    "ERRORS",
    "ActionPage",
    "ActionView",
    "AlertmanagerPayload",
    "ChatRequest",
    "CreateIncident",
    "DecideApproval",
    "DryRunResult",
    "DryRunSwitch",
    "IncidentDetail",
    "IncidentPage",
    "Note",
    "OptOutRequest",
    "PauseRequest",
    "Problem",
    "ResumeRequest",
    "SilenceRequest",
    "Submitted",
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9.\-]+$")]
"""A Kubernetes object name (DNS subdomain)."""
Text = Annotated[str, StringConstraints(max_length=2000)]
Epoch = Annotated[float, Field(ge=0, le=4_102_444_800, allow_inf_nan=False)]
"""Seconds since 1970, up to 2100."""
TargetPattern = Annotated[
    str,
    StringConstraints(min_length=3, max_length=600, pattern=r"^[a-z*]+(/[a-z0-9.\-*]+){1,2}$"),
]
"""``kind/namespace/name`` or ``node/NAME``; ``*`` matches any run of characters in a part."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- errors -------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One field of a malformed request (FastAPI's validation error item)."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error's body: why, in a sentence, or for a malformed request the fields at fault."""

    detail: str | list[FieldError]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body cannot be read (not UTF-8 JSON)."},
    401: {"model": Problem, "description": "No token, or one unknown, revoked or expired."},
    403: {"model": Problem, "description": "The token's role is too weak."},
    404: {"model": Problem, "description": "No record with that id."},
    409: {"model": Problem, "description": "The state machine forbids it, or it was decided."},
    413: {"model": Problem, "description": "The request body is too large."},
    422: {"model": Problem, "description": "Malformed (the field named), or refused as invalid."},
    503: {"model": Problem, "description": "The database or the cluster cannot be reached."},
}
"""The errors any route may answer (:mod:`api.app`), for the OpenAPI document."""


# --- incidents ----------------------------------------------------------------------------------


class IncidentSummary(BaseModel):
    id: str
    state: IncidentState
    severity: Severity
    namespace: str | None
    services: list[str]
    nodes: list[str]
    opened_at: float
    updated_at: float
    resolved_at: float | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentSummary:
        return cls.model_validate(incident.model_dump(exclude={"timeline", "signal_ids"}))


class IncidentPage(BaseModel):
    items: list[IncidentSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")


class TimelineItem(BaseModel):
    at: float
    kind: str
    summary: str
    ref_id: str | None = None


class ActionView(BaseModel):
    action: ActionRecord
    approvals: list[Approval]


class IncidentDetail(BaseModel):
    incident: IncidentSummary
    acknowledged_by: str | None
    timeline: list[TimelineItem]
    signals: list[Signal]
    decisions: list[Decision]
    actions: list[ActionView]
    audit: list[AuditEvent]


class CreateIncident(_Body):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    namespace: Name | None = None
    services: list[Name] = Field(default_factory=list, max_length=50)
    nodes: list[Name] = Field(default_factory=list, max_length=50)
    severity: Severity = Severity.MEDIUM

    @model_validator(mode="after")
    def _about_something(self) -> CreateIncident:
        if not self.services and not self.nodes:
            raise ValueError("name at least one service or node the incident is about")
        return self


class Note(_Body):
    reason: Text = ""


# --- actions and approvals ----------------------------------------------------------------------


class ActionPage(BaseModel):
    items: list[ActionView]
    next_cursor: str | None


class DecideApproval(_Body):
    reason: Text = ""


class DryRunResult(BaseModel):
    outcome: Literal["allowed", "needs_approval", "refused", "dry_run"]
    rule: str
    reason: str
    satisfied: bool = Field(description="The target is already in the desired state.")


class Submitted(BaseModel):
    action: ActionRecord
    preview: DryRunResult


# --- controls -----------------------------------------------------------------------------------


class PauseRequest(_Body):
    namespace: Name | None = Field(default=None, description="Unset: the whole control plane.")
    comment: Text = ""
    ends_at: Epoch | None = None


class ResumeRequest(_Body):
    namespace: Name | None = None


class SilenceRequest(_Body):
    target: TargetPattern
    starts_at: Epoch | None = Field(default=None, description="Unset: now.")
    ends_at: Epoch
    comment: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    maintenance: bool = False


class OptOutRequest(_Body):
    target: TargetPattern
    comment: Text = ""


class DryRunSwitch(_Body):
    on: bool
    comment: Text = ""


class ControlsView(BaseModel):
    state: ControlState
    controls: list[Control]


# --- alerts -------------------------------------------------------------------------------------


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, Annotated[str, StringConstraints(max_length=1000)]] = Field(max_length=100)
    annotations: dict[str, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default_factory=dict, max_length=100
    )
    startsAt: str | None = None
    endsAt: str | None = None
    fingerprint: Annotated[str, StringConstraints(max_length=128)] | None = None


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body (version 4); fields this API does not use are ignored."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    status: Literal["firing", "resolved"] = "firing"
    alerts: list[Alert] = Field(max_length=1000)


class AlertsAccepted(BaseModel):
    accepted: int
    ignored: int


# --- chat ---------------------------------------------------------------------------------------


class ChatRequest(_Body):
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
