"""Signals as stored: the domain :class:`~controlplane.domain.Signal` plus how often it was seen.

A duplicate (the same detector and series again while the first is still current) is not stored
twice: the first signal's ``count`` grows and its ``last_seen`` moves on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from controlplane.domain import Evidence, Signal, SignalKind
from controlplane.store._sql import chunked, core, table, update_by_id
from controlplane.store.models import IncidentSignalRow, SignalRow

__all__ = ["KnownSignal", "SignalRepository", "signal_values"]


class KnownSignal(NamedTuple):
    """A stored signal as the correlator needs it; ``incident_id`` is ``None`` when unlinked."""

    id: str
    detector: str
    series: str
    occurrences: int
    last_seen: float
    score: float
    incident_id: str | None


def signal_values(signal: Signal) -> dict[str, Any]:
    """The column values of a first sighting of ``signal``."""
    return {
        "id": signal.id,
        "detector": signal.detector,
        "series": signal.series,
        "service": signal.service,
        "node": signal.node,
        "namespace": signal.namespace,
        "score": signal.score,
        "start": signal.start,
        "kind": str(signal.kind),
        "evidence": [e.model_dump(mode="json") for e in signal.evidence],
        "count": 1,
        "last_seen": signal.start,
    }


class SignalRepository:
    """Signals in one session's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, signal: Signal) -> Signal:
        self.add_many([signal_values(signal)])
        return signal

    def get(self, signal_id: str) -> Signal | None:
        row = self._session.get(SignalRow, signal_id)
        return None if row is None else _signal(row)

    def occurrences(self, signal_id: str) -> int:
        """How many times the signal was seen (0 when unknown)."""
        count = self._session.scalar(select(SignalRow.count).where(SignalRow.id == signal_id))
        return int(count or 0)

    def for_incident(self, incident_id: str) -> list[Signal]:
        """The incident's signals, in the order they joined."""
        query = (
            select(SignalRow)
            .join(IncidentSignalRow, IncidentSignalRow.signal_id == SignalRow.id)
            .where(IncidentSignalRow.incident_id == incident_id)
            .order_by(IncidentSignalRow.id)
        )
        return [_signal(row) for row in self._session.scalars(query)]

    # --- batches (the correlator) -----------------------------------------------------------

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert first sightings (:func:`signal_values`)."""
        if rows:
            core(self._session).execute(table(SignalRow).insert(), list(rows))

    def known(self, signal_ids: Collection[str]) -> list[KnownSignal]:
        """The stored signals among ``signal_ids`` (replays of signals already ingested)."""
        conn = core(self._session)
        return [
            KnownSignal(*row)
            for ids in chunked(signal_ids)
            for row in conn.execute(_BY_ID, {"ids": ids})
        ]

    def in_incidents(
        self, incident_ids: Collection[str], series: Collection[str]
    ) -> list[KnownSignal]:
        """The signals of ``incident_ids`` on ``series`` (to find duplicates among)."""
        if not incident_ids:
            return []
        conn, incidents = core(self._session), list(incident_ids)
        return [
            KnownSignal(*row)
            for names in chunked(series)
            for row in conn.execute(_IN_INCIDENTS, {"incidents": incidents, "series": names})
        ]

    def seen_again(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record repeat sightings: ``id`` with the new ``count``, ``last_seen`` and ``score``."""
        update_by_id(self._session, table(SignalRow), rows)


_SIGNALS, _LINKS = table(SignalRow), table(IncidentSignalRow)
_KNOWN = select(
    _SIGNALS.c.id,
    _SIGNALS.c.detector,
    _SIGNALS.c.series,
    _SIGNALS.c.count,
    _SIGNALS.c.last_seen,
    _SIGNALS.c.score,
    _LINKS.c.incident_id,
)
_BY_ID = _KNOWN.select_from(_SIGNALS.outerjoin(_LINKS, _LINKS.c.signal_id == _SIGNALS.c.id)).where(
    _SIGNALS.c.id.in_(bindparam("ids", expanding=True))
)
_LINKED = _SIGNALS.join(_LINKS, _LINKS.c.signal_id == _SIGNALS.c.id)
_IN_INCIDENTS = _KNOWN.select_from(_LINKED).where(
    _LINKS.c.incident_id.in_(bindparam("incidents", expanding=True)),
    _SIGNALS.c.series.in_(bindparam("series", expanding=True)),
)


def _signal(row: SignalRow) -> Signal:
    return Signal(
        id=row.id,
        detector=row.detector,
        series=row.series,
        service=row.service,
        node=row.node,
        namespace=row.namespace,
        score=row.score,
        start=row.start,
        kind=SignalKind(row.kind),
        evidence=[Evidence.model_validate(e) for e in row.evidence],
    )
