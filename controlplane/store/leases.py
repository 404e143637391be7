"""Leases: one row per name saying which process holds it, under which epoch, until when.

The repository only reads and writes rows; the election's rules (renew, take over, release)
live in :mod:`controlplane.leader`. :meth:`LeaseRepository.get` with ``lock`` holds the row
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the writer holds the database), and
:meth:`LeaseRepository.create` inserts with ``ON CONFLICT DO NOTHING``, so of two processes that
both found no row exactly one creates it (the other waits for its commit and gets ``False``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.store._sql import dialect_insert, for_update, table
from controlplane.store.models import LeaseRow
from controlplane.store.records import Lease

__all__ = ["LeaseRepository"]


class LeaseRepository:
    """Lease rows in one session's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, name: str, *, lock: bool = False) -> Lease | None:
        """The lease ``name``; ``lock`` holds its row until the transaction ends."""
        query = select(_LEASES).where(_LEASES.c.name == name)
        row = self._session.execute(for_update(query) if lock else query).mappings().first()
        return None if row is None else Lease(**row)

    def create(self, lease: Lease) -> bool:
        """Insert ``lease`` unless its name exists; whether this call inserted it."""
        statement = (
            dialect_insert(self._session, LeaseRow)
            .values(**lease.model_dump())
            .on_conflict_do_nothing(index_elements=[LeaseRow.name])
            .returning(LeaseRow.name)
        )
        return self._session.execute(statement).scalar_one_or_none() is not None

    def put(self, lease: Lease) -> None:
        """Overwrite the stored row of ``lease.name`` (which must exist)."""
        values = lease.model_dump(exclude={"name"})
        self._session.execute(_LEASES.update().where(_LEASES.c.name == lease.name).values(**values))

    def all(self) -> list[Lease]:
        """Every lease, by name."""
        rows = self._session.execute(select(_LEASES).order_by(_LEASES.c.name)).mappings()
        return [Lease(**row) for row in rows]


_LEASES = table(LeaseRow)
