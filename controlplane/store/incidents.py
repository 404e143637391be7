"""Incidents, their timeline and their links to signals.

The state machine is the domain's (:data:`~controlplane.domain.INCIDENT_TRANSITIONS`): a move
it does not allow raises :class:`~controlplane.exceptions.IllegalTransition` and writes nothing.
Every state change appends a timeline entry and an audit event in the same transaction.

Besides the one-record methods, the ``*_many`` methods and :meth:`IncidentRepository.candidates`
serve the correlator, which writes a whole tick's signals in a handful of statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.orm import Session, selectinload

from controlplane.clock import Clock
from controlplane.domain import (
    INCIDENT_TRANSITIONS,
    Incident,
    IncidentState,
    Severity,
    TimelineEntry,
    can_transition,
)
from controlplane.exceptions import IllegalTransition, RecordNotFound
from controlplane.store._sql import core, table, update_by_id, update_statement
from controlplane.store.audit import AuditLog
from controlplane.store.models import IncidentRow, IncidentSignalRow, SignalRow, TimelineRow

__all__ = ["IncidentRepository", "IncidentSnapshot", "json_list"]

_RESOLVED = str(IncidentState.RESOLVED)


class IncidentSnapshot(NamedTuple):
    """An incident's columns the correlator needs (no timeline, no links).

    Services and nodes stay JSON text (:func:`json_list` writes them as the database holds
    them), so comparing a snapshot with a remembered one decodes nothing.
    """

    id: str
    state: str
    severity: str
    namespace: str | None
    services_json: str
    nodes_json: str
    opened_at: float
    updated_at: float
    last_signal_at: float | None
    resolved_at: float | None
    capacity_only: bool

    @property
    def services(self) -> list[str]:
        return list(json.loads(self.services_json))

    @property
    def nodes(self) -> list[str]:
        return list(json.loads(self.nodes_json))


def json_list(values: Sequence[str]) -> str:
    """A list as the JSON columns store it (SQLAlchemy's default serializer: ``json.dumps``)."""
    return json.dumps(list(values))


class IncidentRepository:
    """Incidents in one session's transaction."""

    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self._session, self._clock, self._audit = session, clock, audit

    # --- one incident -----------------------------------------------------------------------

    def add(self, incident: Incident) -> Incident:
        """Store a new incident with its timeline, linked to its (already stored) signals."""
        starts = self._session.scalars(
            select(SignalRow.start).where(SignalRow.id.in_(incident.signal_ids))
        ).all()
        row = IncidentRow(
            id=incident.id,
            state=str(incident.state),
            severity=str(incident.severity),
            namespace=incident.namespace,
            services=list(incident.services),
            nodes=list(incident.nodes),
            opened_at=incident.opened_at,
            updated_at=incident.updated_at,
            resolved_at=incident.resolved_at,
            last_signal_at=max(starts, default=incident.opened_at),
            capacity_only=False,
        )
        self._session.add(row)
        self._session.flush()
        self.timeline_many([_timeline_values(incident.id, e) for e in incident.timeline])
        self.link_many(
            [
                {"incident_id": incident.id, "signal_id": sid, "linked_at": incident.opened_at}
                for sid in incident.signal_ids
            ]
        )
        self._audit.append("incident.opened", incident.id, {"severity": str(incident.severity)})
        return self.require(incident.id)

    def get(self, incident_id: str) -> Incident | None:
        query = _with_children(select(IncidentRow).where(IncidentRow.id == incident_id))
        row = self._session.scalars(query).one_or_none()
        return None if row is None else _incident(row)

    def require(self, incident_id: str) -> Incident:
        """The incident, or ``RecordNotFound``."""
        incident = self.get(incident_id)
        if incident is None:
            raise RecordNotFound("incident", incident_id)
        return incident

    def find(
        self,
        *,
        states: Iterable[IncidentState] | None = None,
        service: str | None = None,
        limit: int | None = None,
    ) -> list[Incident]:
        """Incidents, newest first, optionally only in ``states`` or about ``service``."""
        query = select(IncidentRow).order_by(IncidentRow.opened_at.desc(), IncidentRow.id)
        if states is not None:
            query = query.where(IncidentRow.state.in_([str(s) for s in states]))
        if limit is not None and service is None:
            query = query.limit(limit)
        rows = self._session.scalars(_with_children(query)).all()
        incidents = [_incident(row) for row in rows]
        if service is not None:  # services are a JSON list: filter here, portably
            incidents = [i for i in incidents if service in i.services]
        return incidents[:limit] if limit is not None else incidents

    def page(
        self,
        *,
        states: Iterable[IncidentState] | None = None,
        severities: Iterable[Severity] | None = None,
        service: str | None = None,
        opened_after: float | None = None,
        opened_before: float | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[IncidentSnapshot]:
        """One page of incidents, newest first, as snapshots (no timeline, no links; services
        and nodes as their stored JSON text, which the API splices into its answer as is).

        ``after`` is the ``(opened_at, id)`` of the last incident of the previous page (keyset
        pagination: a page costs the same however deep it is). Filters run in SQL; ``service``
        matches an element of the JSON list by its quoted text, so it works on both backends.
        """
        t = _INCIDENTS
        query = select(*_SUMMARY_COLUMNS).order_by(t.c.opened_at.desc(), t.c.id).limit(limit)
        if states is not None:
            query = query.where(t.c.state.in_([str(s) for s in states]))
        if severities is not None:
            query = query.where(t.c.severity.in_([str(s) for s in severities]))
        if service is not None:
            quoted = json.dumps(service).replace("\\", "\\\\")
            pattern = "%" + quoted.replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(cast(t.c.services, Text).like(pattern, escape="\\"))
        if opened_after is not None:
            query = query.where(t.c.opened_at >= opened_after)
        if opened_before is not None:
            query = query.where(t.c.opened_at < opened_before)
        if after is not None:
            at, last_id = after
            query = query.where((t.c.opened_at < at) | ((t.c.opened_at == at) & (t.c.id > last_id)))
        return [IncidentSnapshot(*row) for row in core(self._session).execute(query)]

    def unresolved(self) -> list[Incident]:
        """Every incident not resolved, newest first."""
        return self.find(states=[s for s in IncidentState if s is not IncidentState.RESOLVED])

    def merged_into(self, incident_id: str) -> str | None:
        """The incident this one was merged into, if it was."""
        return self._session.scalar(
            select(IncidentRow.merged_into).where(IncidentRow.id == incident_id)
        )

    def transition(
        self,
        incident_id: str,
        to: IncidentState,
        reason: str,
        *,
        at: float | None = None,
        kind: str = "transition",
    ) -> Incident:
        """Move the incident to ``to``: a timeline entry and an audit event record why.

        Raises ``IllegalTransition`` when the state machine does not allow the move.
        """
        self.move(incident_id, to, reason, self._clock.now() if at is None else at, kind)
        return self.require(incident_id)

    def move(
        self,
        incident_id: str,
        to: IncidentState,
        reason: str,
        at: float,
        kind: str = "transition",
        *,
        merged_into: str | None = None,
        actor: str | None = None,
    ) -> None:
        """:meth:`transition` without loading the incident back (for batches); ``actor``
        defaults to the store's."""
        conn = core(self._session)
        state = conn.execute(_STATE_FOR_UPDATE, {"id": incident_id}).scalar_one_or_none()
        if state is None:
            raise RecordNotFound("incident", incident_id)
        current = IncidentState(state)
        if not can_transition(current, to):
            allowed = sorted(str(s) for s in INCIDENT_TRANSITIONS[current])
            raise IllegalTransition(f"incident {incident_id}", str(current), str(to), allowed)
        values = {
            "row_id": incident_id,
            "v_state": str(to),
            "v_updated_at": at,
            "v_resolved_at": at if to is IncidentState.RESOLVED else None,
        }
        if merged_into is None:
            conn.execute(_MOVE, values)
        else:
            conn.execute(_MERGE_AWAY, {**values, "v_merged_into": merged_into})
        self.append_timeline(incident_id, kind, f"{current} -> {to}: {reason}", at=at)
        details = {"from": str(current), "to": str(to), "reason": reason}
        self._audit.append(f"incident.{kind}", incident_id, details, actor=actor)

    def acknowledge(self, incident_id: str, by: str, comment: str = "") -> None:
        """A person says they are on it: a timeline entry and an audit event name them (the
        state does not change; the loop carries on unless a control stops it)."""
        state = core(self._session).execute(_STATE_FOR_UPDATE, {"id": incident_id}).scalar()
        if state is None:
            raise RecordNotFound("incident", incident_id)
        if state == _RESOLVED:
            allowed = sorted(str(s) for s in INCIDENT_TRANSITIONS[IncidentState.RESOLVED])
            raise IllegalTransition(f"incident {incident_id}", state, "acknowledged", allowed)
        summary = f"acknowledged by {by}" + (f": {comment}" if comment else "")
        self.append_timeline(incident_id, "acknowledged", summary)
        self._audit.append("incident.acknowledged", incident_id, {"comment": comment}, actor=by)

    def append_timeline(
        self,
        incident_id: str,
        kind: str,
        summary: str,
        *,
        ref_id: str | None = None,
        at: float | None = None,
    ) -> TimelineEntry:
        entry = TimelineEntry(
            at=self._clock.now() if at is None else at, kind=kind, summary=summary, ref_id=ref_id
        )
        self.timeline_many([_timeline_values(incident_id, entry)])
        return entry

    def set_severity(
        self, incident_id: str, severity: Severity, reason: str, *, at: float | None = None
    ) -> None:
        """Change the severity; a timeline entry and an audit event record it."""
        at = self._clock.now() if at is None else at
        conn = core(self._session)
        query = select(_INCIDENTS.c.severity).where(_INCIDENTS.c.id == incident_id)
        before = conn.execute(query.with_for_update()).scalar_one_or_none()
        if before is None:
            raise RecordNotFound("incident", incident_id)
        conn.execute(
            _INCIDENTS.update()
            .where(_INCIDENTS.c.id == incident_id)
            .values(severity=str(severity), updated_at=at)
        )
        self.append_timeline(incident_id, "severity", f"{before} -> {severity}: {reason}", at=at)
        details = {"from": before, "to": str(severity), "reason": reason}
        self._audit.append("incident.severity", incident_id, details)

    def merge(
        self, into_id: str, absorbed_id: str, *, at: float | None = None, actor: str | None = None
    ) -> None:
        """Resolve ``absorbed_id`` as merged into ``into_id`` and move its signals there."""
        at = self._clock.now() if at is None else at
        self.merge_many([(into_id, absorbed_id, at)], actor=actor)

    def merge_many(
        self, merges: Sequence[tuple[str, str, float]], *, actor: str | None = None
    ) -> None:
        """Apply ``(into, absorbed, at)`` merges in order: each absorbed incident is resolved
        with ``merged_into`` set and its signals move to ``into`` (which may itself be absorbed
        by a later merge). Timeline entries and audit events on both sides record it."""
        if not merges:
            return
        conn = core(self._session)
        ids = [absorbed for _, absorbed, _ in merges]
        states = dict(conn.execute(_STATES_FOR_UPDATE, {"ids": ids}).all())
        timeline: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for into_id, absorbed_id, at in merges:
            current = self._resolvable(absorbed_id, states.get(absorbed_id))
            summary = f"{current} -> resolved: merged into {into_id}"
            timeline.append(_entry(absorbed_id, at, "merged", summary, into_id))
            timeline.append(_entry(into_id, at, "merged", f"absorbed {absorbed_id}", absorbed_id))
            details = {"from": str(current), "to": _RESOLVED, "into": into_id}
            events.append(_event("incident.merged", absorbed_id, details, actor))
            events.append(_event("incident.absorbed", into_id, {"absorbed": absorbed_id}, actor))
        away = [
            {"row_id": a, "v_state": _RESOLVED, "v_updated_at": at, "v_resolved_at": at}
            | {"v_merged_into": into_id}
            for into_id, a, at in merges
        ]
        conn.execute(_MERGE_AWAY, away)
        for into_id, absorbed_id, _ in merges:  # in order: a later merge moves earlier ones' too
            conn.execute(_UNLINK_SHARED, {"into": into_id, "absorbed": absorbed_id})
            conn.execute(_RELINK, {"into": into_id, "absorbed": absorbed_id})
        self.timeline_many(timeline)
        self._audit.append_many(events)

    @staticmethod
    def _resolvable(incident_id: str, state: str | None) -> IncidentState:
        if state is None:
            raise RecordNotFound("incident", incident_id)
        current = IncidentState(state)
        if not can_transition(current, IncidentState.RESOLVED):
            allowed = sorted(str(s) for s in INCIDENT_TRANSITIONS[current])
            raise IllegalTransition(f"incident {incident_id}", str(current), _RESOLVED, allowed)
        return current

    # --- batches (the correlator) -----------------------------------------------------------

    def candidates(self, reopen_since: float | None = None) -> list[IncidentSnapshot]:
        """Incidents a signal may join, locked until commit: every unresolved one, and those
        resolved (not merged) since ``reopen_since``."""
        t = _INCIDENTS
        live = t.c.state != _RESOLVED
        if reopen_since is not None:
            live = live | (t.c.resolved_at >= reopen_since)
        query = select(
            t.c.id,
            t.c.state,
            t.c.severity,
            t.c.namespace,
            cast(t.c.services, Text),  # the stored text, not decoded
            cast(t.c.nodes, Text),
            t.c.opened_at,
            t.c.updated_at,
            t.c.last_signal_at,
            t.c.resolved_at,
            t.c.capacity_only,
        )
        # Locked in id order, so two writers locking several incidents cannot deadlock.
        query = query.where(t.c.merged_into.is_(None), live).order_by(t.c.id).with_for_update()
        return [IncidentSnapshot(*row) for row in core(self._session).execute(query)]

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert incident rows (column values, as in :class:`~.models.IncidentRow`)."""
        if rows:
            core(self._session).execute(table(IncidentRow).insert(), list(rows))

    def update_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Update incident rows by ``id``; every mapping must hold the same columns."""
        update_by_id(self._session, table(IncidentRow), rows)

    def timeline_many(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append timeline entries (``incident_id``, ``at``, ``kind``, ``summary``, ``ref_id``)."""
        if entries:
            core(self._session).execute(table(TimelineRow).insert(), list(entries))

    def link_many(self, links: Sequence[Mapping[str, Any]]) -> None:
        """Link signals (``incident_id``, ``signal_id``, ``linked_at``)."""
        if links:
            core(self._session).execute(table(IncidentSignalRow).insert(), list(links))


_INCIDENTS, _LINKS = table(IncidentRow), table(IncidentSignalRow)
_SUMMARY_COLUMNS = [
    *(_INCIDENTS.c[name] for name in ("id", "state", "severity", "namespace")),
    cast(_INCIDENTS.c.services, Text),  # the stored text, not decoded
    cast(_INCIDENTS.c.nodes, Text),
    *(
        _INCIDENTS.c[name]
        for name in ("opened_at", "updated_at", "last_signal_at", "resolved_at", "capacity_only")
    ),
]
"""The columns of :class:`IncidentSnapshot`, in its order."""
_STATES_FOR_UPDATE = (
    select(_INCIDENTS.c.id, _INCIDENTS.c.state)
    .where(_INCIDENTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_INCIDENTS.c.id)
    .with_for_update()
)
_STATE_FOR_UPDATE = (
    select(_INCIDENTS.c.state).where(_INCIDENTS.c.id == bindparam("id")).with_for_update()
)
_MOVE = update_statement(_INCIDENTS, ("state", "updated_at", "resolved_at"))
_MERGE_AWAY = update_statement(_INCIDENTS, ("state", "updated_at", "resolved_at", "merged_into"))
_UNLINK_SHARED = _LINKS.delete().where(
    _LINKS.c.incident_id == bindparam("absorbed"),
    _LINKS.c.signal_id.in_(
        select(_LINKS.c.signal_id).where(_LINKS.c.incident_id == bindparam("into"))
    ),
)
_RELINK = (
    _LINKS.update()
    .where(_LINKS.c.incident_id == bindparam("absorbed"))
    .values(incident_id=bindparam("into"))
)


def _with_children(query: Any) -> Any:
    # populate_existing: Core statements in this transaction may have changed loaded rows.
    return query.options(
        selectinload(IncidentRow.timeline), selectinload(IncidentRow.links)
    ).execution_options(populate_existing=True)


def _entry(incident_id: str, at: float, kind: str, summary: str, ref: str) -> dict[str, Any]:
    return {"incident_id": incident_id, "at": at, "kind": kind, "summary": summary, "ref_id": ref}


def _event(kind: str, subject: str, details: dict[str, Any], actor: str | None) -> dict[str, Any]:
    return {"kind": kind, "subject_id": subject, "details": details, "actor": actor}


def _timeline_values(incident_id: str, entry: TimelineEntry) -> dict[str, Any]:
    return {"incident_id": incident_id, **entry.model_dump()}


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        id=row.id,
        state=IncidentState(row.state),
        services=list(row.services),
        nodes=list(row.nodes),
        namespace=row.namespace,
        severity=Severity(row.severity),
        signal_ids=[link.signal_id for link in row.links],
        timeline=[
            TimelineEntry(at=e.at, kind=e.kind, summary=e.summary, ref_id=e.ref_id)
            for e in row.timeline
        ],
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
    )
