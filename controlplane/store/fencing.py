"""Fencing tokens: a monotonically increasing epoch per lease name.

A process that becomes leader calls :meth:`Fencing.advance` and carries the epoch it got on every
write that must not come from a deposed leader; :meth:`Fencing.check` refuses an epoch older
than the newest one issued, inside the writer's own transaction. On PostgreSQL the check holds a
share lock on the lease row until that transaction ends, so a new leader's ``advance`` cannot slip
between the check and the write it guards; on SQLite the writer already holds the database.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.exceptions import StaleEpoch, StoreError
from controlplane.store._sql import dialect_insert, for_update
from controlplane.store.models import FencingRow

__all__ = ["DEFAULT_LEASE", "Fencing"]

DEFAULT_LEASE = "controlplane"
"""The lease the control plane's leader holds (the default of every fenced write)."""


class Fencing:
    """Epochs per lease, in one session's transaction."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session, self._clock = session, clock

    def advance(self, name: str = DEFAULT_LEASE) -> int:
        """Issue the next epoch of ``name`` (1 for a new lease) atomically and return it."""
        now = self._clock.now()
        insert = dialect_insert(self._session, FencingRow)
        statement = (
            insert.values(name=name, epoch=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=[FencingRow.name],
                set_={"epoch": FencingRow.epoch + 1, "updated_at": now},
            )
            .returning(FencingRow.epoch)
        )
        return int(self._session.execute(statement).scalar_one())

    def current(self, name: str = DEFAULT_LEASE) -> int:
        """The newest epoch issued for ``name``; 0 when none was."""
        epoch = self._session.scalar(select(FencingRow.epoch).where(FencingRow.name == name))
        return int(epoch or 0)

    def check(self, epoch: int, name: str = DEFAULT_LEASE) -> None:
        """Refuse ``epoch`` unless it is the newest one issued for ``name``.

        Raises :class:`~controlplane.exceptions.StaleEpoch` when a newer epoch exists, and
        ``StoreError`` for an epoch that was never issued.
        """
        query = for_update(select(FencingRow.epoch).where(FencingRow.name == name), read=True)
        current = int(self._session.scalar(query) or 0)
        if epoch < current:
            raise StaleEpoch(name, epoch, current)
        if epoch > current:
            raise StoreError(
                f"epoch {epoch} was never issued for lease {name!r} (newest: {current})"
            )
