"""The audit trail: append-only events (who did what to which record, when, with details).

The repository offers no update and no delete, and the migration installs triggers that refuse
both in the database itself, so not even a hand-written statement rewrites history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.store._sql import core, table
from controlplane.store.models import AuditRow
from controlplane.store.records import AuditEvent

__all__ = ["AuditLog"]


class AuditLog:
    """Append and read audit events in one session's transaction."""

    def __init__(self, session: Session, clock: Clock, actor: str) -> None:
        self._session, self._clock, self._actor = session, clock, actor

    def append(
        self,
        kind: str,
        subject_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        at: float | None = None,
    ) -> AuditEvent:
        """Record one event; ``actor`` defaults to the store's, ``at`` to the clock's now."""
        values = self._values(kind, subject_id, details, actor, at)
        new_id = core(self._session).execute(_INSERT_RETURNING_ID, values).scalar_one()
        return AuditEvent(id=int(new_id), **values)

    def append_many(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Record several events at once; each mapping holds :meth:`append`'s arguments."""
        if events:
            rows = [
                self._values(
                    e["kind"], e.get("subject_id"), e.get("details"), e.get("actor"), e.get("at")
                )
                for e in events
            ]
            core(self._session).execute(table(AuditRow).insert(), rows)

    def _values(
        self,
        kind: str,
        subject_id: str | None,
        details: Mapping[str, Any] | None,
        actor: str | None,
        at: float | None,
    ) -> dict[str, Any]:
        return {
            "at": self._clock.now() if at is None else at,
            "actor": actor or self._actor,
            "kind": kind,
            "subject_id": subject_id,
            "details": dict(details or {}),
        }

    def events(
        self,
        *,
        subject_id: str | None = None,
        kind: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events in the order they were appended, optionally filtered."""
        query = select(AuditRow).where(AuditRow.id > after_id).order_by(AuditRow.id)
        if subject_id is not None:
            query = query.where(AuditRow.subject_id == subject_id)
        if kind is not None:
            query = query.where(AuditRow.kind == kind)
        if limit is not None:
            query = query.limit(limit)
        return [_event(row) for row in self._session.scalars(query)]


_AUDIT = table(AuditRow)
_INSERT_RETURNING_ID = _AUDIT.insert().returning(_AUDIT.c.id)


def _event(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        subject_id=row.subject_id,
        details=row.details,
    )
