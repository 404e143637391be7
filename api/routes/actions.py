"""``/actions`` and ``/approvals``: list, ask for an action, dry-run one, approve or reject.

An action asked for here is claimed in the database (status ``pending``) and the leading loop's
executor guards and runs it on its next tick; the answer carries the guardrails' verdict on it
as the cluster is now (``preview``). Approving or rejecting records the person's decision; the
leader re-checks an approved action against the cluster before it runs, and an approval past
its deadline is refused (409) and then expired.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from actions import Executor
from actions.catalogue import parse_request
from api.auth import Caller, operator, viewer
from api.routes.paging import decode_cursor, encode_cursor
from api.schemas import ERRORS, ActionPage, ActionView, DecideApproval, DryRunResult, Submitted
from controlplane.domain import ActionKind, ActionRequest, TargetRef
from controlplane.exceptions import RecordNotFound
from controlplane.store import ActionStatus, Approval, Store

__all__ = ["ActionOrder", "preview", "router"]

router = APIRouter(tags=["actions"], responses=ERRORS)

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class ActionOrder(BaseModel):
    """An action as a person asks for it: the absolute desired state of one target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActionKind
    target: TargetRef
    desired: dict[str, Any] = Field(
        description="The desired state, as the catalogue defines it for `kind` "
        '(scale: {"type": "replicas", "replicas": 4}).',
        max_length=20,
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    incident_id: Annotated[str, StringConstraints(max_length=64)] | None = None

    def request(self, caller: str, now: float) -> ActionRequest:
        """The request it stands for (422 naming the field when the catalogue refuses it)."""
        return parse_request(
            {
                "kind": self.kind,
                "target": self.target.model_dump(),
                "desired": self.desired,
                "reason": self.reason,
                "incident_id": self.incident_id,
                "decided_by": f"operator/{caller}",
                "created_at": now,
            }
        )


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _executor(request: Request) -> Executor:
    executor: Executor | None = request.app.state.ctx.executor
    if executor is None:
        raise HTTPException(503, "this API process has no cluster connection for dry runs")
    return executor


def preview(executor: Executor, request: ActionRequest) -> DryRunResult:
    """The guardrails' verdict on ``request`` against the cluster as it is now."""
    verdict = executor.preview(request)
    return DryRunResult(
        outcome=verdict.outcome,
        rule=verdict.rule,
        reason=verdict.reason,
        satisfied=verdict.satisfied,
    )


@router.get("/actions", summary="Actions, newest first.")
def list_actions(
    request: Request,
    _: Annotated[Caller, Depends(viewer)],
    status: Annotated[list[ActionStatus] | None, Query(max_length=8)] = None,
    incident_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> ActionPage:
    after = decode_cursor(cursor)
    with _store(request).read() as tx:
        found = tx.actions.page(
            statuses=status, incident_id=incident_id, after=after, limit=limit + 1
        )
        items = [ActionView(action=a, approvals=tx.approvals.for_action(a.id)) for a in found]
    more = len(items) > limit
    items = items[:limit]
    last = items[-1].action if more else None
    return ActionPage(
        items=items, next_cursor=None if last is None else encode_cursor(last.created_at, last.id)
    )


@router.get("/actions/{action_id}", summary="One action with its approvals.")
def get_action(
    request: Request, action_id: Id, _: Annotated[Caller, Depends(viewer)]
) -> ActionView:
    with _store(request).read() as tx:
        record = tx.actions.get(action_id)
        if record is None:
            raise RecordNotFound("action", action_id)
        return ActionView(action=record, approvals=tx.approvals.for_action(action_id))


@router.post("/actions/dry-run", summary="What the guardrails would say; nothing is recorded.")
def dry_run(
    request: Request, body: ActionOrder, caller: Annotated[Caller, Depends(operator)]
) -> DryRunResult:
    store = _store(request)
    return preview(_executor(request), body.request(caller.name, store.clock.now()))


@router.post(
    "/actions",
    status_code=202,
    summary="Ask for an action: the leading loop guards and runs it on its next tick.",
)
def submit(
    request: Request, body: ActionOrder, caller: Annotated[Caller, Depends(operator)]
) -> Submitted:
    store = _store(request)
    action = body.request(caller.name, store.clock.now())
    seen = preview(_executor(request), action)
    with store.write() as tx:
        if action.incident_id is not None:
            tx.incidents.require(action.incident_id)
        claim = tx.actions.claim(action.idempotency_key, action, None)
        tx.audit.append(
            "action.requested",
            claim.record.id,
            {"preview": seen.model_dump(), "replayed": not claim.created},
            actor=caller.name,
        )
    return Submitted(action=claim.record, preview=seen)


@router.get("/approvals", summary="Approvals, oldest first (pending only by default).")
def list_approvals(
    request: Request,
    _: Annotated[Caller, Depends(viewer)],
    pending: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ActionView]:
    with _store(request).read() as tx:
        if pending:
            approvals = tx.approvals.pending()[:limit]
            ids = dict.fromkeys(a.action_id for a in approvals)
            records = [r for r in map(tx.actions.get, ids) if r is not None]
        else:
            records = tx.actions.page(limit=limit)
        return [ActionView(action=r, approvals=tx.approvals.for_action(r.id)) for r in records]


def _decide(
    request: Request, approval_id: str, caller: Caller, approve: bool, reason: str
) -> Approval:
    with _store(request).write() as tx:
        return tx.approvals.decide(approval_id, caller.name, approve, reason or None)


@router.post(
    "/approvals/{approval_id}/approve",
    summary="Approve: the leader re-checks the action against the cluster, then runs it.",
)
def approve(
    request: Request,
    approval_id: Id,
    body: DecideApproval,
    caller: Annotated[Caller, Depends(operator)],
) -> Approval:
    return _decide(request, approval_id, caller, True, body.reason)


@router.post(
    "/approvals/{approval_id}/reject",
    summary="Reject: the action is refused and the incident handed to a person.",
)
def reject(
    request: Request,
    approval_id: Id,
    body: DecideApproval,
    caller: Annotated[Caller, Depends(operator)],
) -> Approval:
    return _decide(request, approval_id, caller, False, body.reason)
