"""``/incidents``: list with filters and pagination, one with its timeline, create by hand,
acknowledge, resolve, reopen."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import Caller, operator, viewer
from api.routes.paging import decode_cursor, encode_cursor
from api.schemas import (
    ERRORS,
    ActionView,
    CreateIncident,
    IncidentDetail,
    IncidentPage,
    IncidentSummary,
    Note,
    TimelineItem,
)
from controlplane.domain import Incident, IncidentState, Severity, TimelineEntry
from controlplane.store import Store, Transaction
from controlplane.store.incidents import IncidentSnapshot

__all__ = ["IncidentId", "router"]

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=ERRORS)

IncidentId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="id")
]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


@router.get(
    "", summary="Incidents, newest first, filtered and paginated.", response_model=IncidentPage
)
async def list_incidents(
    request: Request,
    _: Annotated[Caller, Depends(viewer)],
    state: Annotated[list[IncidentState] | None, Query(max_length=6)] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=5)] = None,
    service: Annotated[str | None, Query(min_length=1, max_length=253)] = None,
    opened_after: Annotated[float | None, Query(ge=0, le=4_102_444_800)] = None,
    opened_before: Annotated[float | None, Query(ge=0, le=4_102_444_800)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    after = decode_cursor(cursor)
    # on the event loop, not a worker thread: one indexed read of a few milliseconds, and under
    # load requests queue in order instead of threads contending for the GIL and the pool
    with _store(request).read() as tx:
        found = tx.incidents.page(
            states=state,
            severities=severity,
            service=service,
            opened_after=opened_after,
            opened_before=opened_before,
            after=after,
            limit=limit + 1,
        )
    more = len(found) > limit
    items = found[:limit]
    last = items[-1] if more else None
    cursor_out = None if last is None else encode_cursor(last.opened_at, last.id)
    body = '{"items": [' + ", ".join(map(_summary_json, items)) + "]"
    body += f', "next_cursor": {json.dumps(cursor_out)}}}'
    return Response(body, media_type="application/json")


def _summary_json(s: IncidentSnapshot) -> str:
    """One :class:`IncidentSummary` as JSON, its services and nodes spliced in as the store
    keeps them (valid JSON arrays: this list is the API's busiest answer, built without
    decoding and re-encoding them)."""
    d = json.dumps
    return (
        f'{{"id": {d(s.id)}, "state": {d(s.state)}, "severity": {d(s.severity)}, '
        f'"namespace": {d(s.namespace)}, "services": {s.services_json}, "nodes": {s.nodes_json}, '
        f'"opened_at": {d(s.opened_at)}, "updated_at": {d(s.updated_at)}, '
        f'"resolved_at": {d(s.resolved_at)}}}'
    )


@router.post("", status_code=201, summary="Open an incident by hand.")
def create_incident(
    request: Request, body: CreateIncident, caller: Annotated[Caller, Depends(operator)]
) -> IncidentSummary:
    store = _store(request)
    now = store.clock.now()
    incident = Incident(
        opened_at=now,
        services=body.services,
        nodes=body.nodes,
        namespace=body.namespace,
        severity=body.severity,
        timeline=[
            TimelineEntry(at=now, kind="created", summary=f"by {caller.name}: {body.summary}")
        ],
    )
    with store.write() as tx:
        stored = tx.incidents.add(incident)
        tx.audit.append("incident.created", stored.id, {"summary": body.summary}, actor=caller.name)
    return IncidentSummary.of(stored)


@router.get("/{incident_id}", summary="One incident with its timeline.")
def get_incident(
    request: Request, incident_id: IncidentId, _: Annotated[Caller, Depends(viewer)]
) -> IncidentDetail:
    with _store(request).read() as tx:
        return detail(tx, incident_id)


def detail(tx: Transaction, incident_id: str) -> IncidentDetail:
    """Everything known about one incident: signals, decisions (with their candidates, tier
    and confidence), actions with their approvals, the timeline and the audit trail."""
    incident = tx.incidents.require(incident_id)
    actions = tx.actions.find(incident_id=incident_id)
    audit = tx.audit.events(subject_id=incident_id)
    for action in actions:
        audit += tx.audit.events(subject_id=action.id)
    audit.sort(key=lambda e: e.id)
    acks = [e for e in audit if e.kind == "incident.acknowledged"]
    return IncidentDetail(
        incident=IncidentSummary.of(incident),
        acknowledged_by=acks[-1].actor if acks else None,
        timeline=[TimelineItem.model_validate(e.model_dump()) for e in incident.timeline],
        signals=tx.signals.for_incident(incident_id),
        decisions=tx.decisions.for_incident(incident_id),
        actions=[ActionView(action=a, approvals=tx.approvals.for_action(a.id)) for a in actions],
        audit=audit,
    )


@router.post("/{incident_id}/acknowledge", summary="Say a person is on it.")
def acknowledge(
    request: Request,
    incident_id: IncidentId,
    body: Note,
    caller: Annotated[Caller, Depends(operator)],
) -> IncidentDetail:
    with _store(request).write() as tx:
        tx.incidents.acknowledge(incident_id, caller.name, body.reason)
        return detail(tx, incident_id)


@router.post("/{incident_id}/resolve", summary="Resolve by hand.")
def resolve(
    request: Request,
    incident_id: IncidentId,
    body: Note,
    caller: Annotated[Caller, Depends(operator)],
) -> IncidentDetail:
    return _move(request, incident_id, IncidentState.RESOLVED, body, caller, "resolved")


@router.post("/{incident_id}/reopen", summary="Reopen a resolved incident.")
def reopen(
    request: Request,
    incident_id: IncidentId,
    body: Note,
    caller: Annotated[Caller, Depends(operator)],
) -> IncidentDetail:
    return _move(request, incident_id, IncidentState.OPEN, body, caller, "reopened")


def _move(
    request: Request,
    incident_id: str,
    to: IncidentState,
    body: Note,
    caller: Caller,
    verb: str,
) -> IncidentDetail:
    store = _store(request)
    reason = f"{verb} by {caller.name}" + (f": {body.reason}" if body.reason else "")
    with store.write() as tx:
        tx.incidents.move(incident_id, to, reason, store.clock.now(), "operator", actor=caller.name)
        return detail(tx, incident_id)
