"""The signal inbox: signals from outside (the API's Alertmanager webhook) waiting for the leader.

Any process may :meth:`~SignalInbox.put` signals; the leading loop takes them
(:meth:`~SignalInbox.take`, oldest first) in the transaction that correlates them, so a signal is
either stored with its incident or still waiting. A taken row is marked, never taken again: on
PostgreSQL ``take`` locks the rows it reads with ``FOR UPDATE SKIP LOCKED`` (a second taker skips
them and, once the first commits, no longer sees them untaken); on SQLite the writing transaction
holds the whole database. An alert's ``resolved`` notice is kept and marked taken but not handed
to the correlator (incidents resolve when their SLOs recover, not when an alert stops).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.domain import Signal
from controlplane.exceptions import InvalidRecord
from controlplane.store.models import InboxRow
from controlplane.store.records import AlertStatus

__all__ = ["TAKE_LIMIT", "SignalInbox"]

TAKE_LIMIT = 500
"""Signals one :meth:`SignalInbox.take` hands out at most (the rest wait for the next)."""


class SignalInbox:
    """The inbox in one session's transaction."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session, self._clock = session, clock

    def put(
        self,
        signals: Sequence[Signal],
        *,
        fingerprint: str | None = None,
        status: AlertStatus | str = AlertStatus.FIRING,
    ) -> int:
        """Queue ``signals`` under one alert ``fingerprint`` (``None``: each signal's id) and
        ``status``; how many were queued."""
        try:
            status = AlertStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in AlertStatus)
            raise InvalidRecord(f"inbox status {status!r}: expected one of {allowed}") from None
        if fingerprint is not None and not 0 < len(fingerprint) <= 128:
            raise InvalidRecord(f"inbox fingerprint {fingerprint!r}: 1 to 128 characters")
        now = self._clock.now()
        rows = [
            InboxRow(
                received_at=now,
                signal=signal.model_dump(mode="json"),
                fingerprint=signal.id if fingerprint is None else fingerprint,
                status=str(status),
            )
            for signal in signals
        ]
        self._session.add_all(rows)
        self._session.flush()
        return len(rows)

    def take(self, limit: int = TAKE_LIMIT) -> list[Signal]:
        """Up to ``limit`` untaken rows, oldest first, marked taken in this transaction; the
        signals of the firing ones."""
        query = (
            select(InboxRow)
            .where(InboxRow.taken_at.is_(None))
            .order_by(InboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(self._session.scalars(query))
        if not rows:
            return []
        self._session.execute(
            update(InboxRow)
            .where(InboxRow.id.in_([row.id for row in rows]))
            .values(taken_at=self._clock.now())
            .execution_options(synchronize_session=False)
        )
        return [
            Signal.model_validate(row.signal) for row in rows if row.status == AlertStatus.FIRING
        ]

    def waiting(self) -> int:
        """How many rows wait to be taken."""
        query = select(func.count()).select_from(InboxRow).where(InboxRow.taken_at.is_(None))
        return int(self._session.scalar(query) or 0)
