"""The store: an engine, a clock, and transactions that hand out the repositories.

Everything in one ``with store.write() as tx:`` block commits together or not at all::

    store = Store(make_engine(settings.database_url))
    with store.write() as tx:
        incident = tx.incidents.transition(incident_id, IncidentState.DIAGNOSING, "agent started")
        tx.audit.append("note", incident.id, {"by": "operator"})

``write()`` starts ``BEGIN IMMEDIATE`` on SQLite (the writer holds the database from the start,
so concurrent writers queue on the busy timeout instead of failing mid-transaction) and a plain
``READ COMMITTED`` transaction on PostgreSQL, where the repositories lock the rows they change
(``SELECT ... FOR UPDATE``). ``read()`` is for reads only. The executor's exactly-once calls are
also offered one transaction each (:meth:`Store.claim_action` and the methods after it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.clock import Clock, SystemClock
from controlplane.domain import ActionRequest
from controlplane.store.actions import ActionRepository
from controlplane.store.approvals import ApprovalRepository
from controlplane.store.audit import AuditLog
from controlplane.store.controls import ControlRepository
from controlplane.store.decisions import DecisionRepository
from controlplane.store.engine import WRITE, make_engine, store_errors
from controlplane.store.evaluations import EvaluationRepository
from controlplane.store.fencing import DEFAULT_LEASE, Fencing
from controlplane.store.inbox import SignalInbox
from controlplane.store.incidents import IncidentRepository
from controlplane.store.leases import LeaseRepository
from controlplane.store.migrate import upgrade
from controlplane.store.records import ActionRecord, ActionStatus, Claim, VerdictKind
from controlplane.store.signals import SignalRepository
from controlplane.store.tokens import TokenRepository

__all__ = ["Store", "Transaction"]


class Transaction:
    """One transaction's repositories; all share its session."""

    def __init__(self, session: Session, clock: Clock, actor: str) -> None:
        self.session, self.clock, self.actor = session, clock, actor

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.session, self.clock, self.actor)

    @cached_property
    def fencing(self) -> Fencing:
        return Fencing(self.session, self.clock)

    @cached_property
    def leases(self) -> LeaseRepository:
        return LeaseRepository(self.session)

    @cached_property
    def incidents(self) -> IncidentRepository:
        return IncidentRepository(self.session, self.clock, self.audit)

    @cached_property
    def signals(self) -> SignalRepository:
        return SignalRepository(self.session)

    @cached_property
    def decisions(self) -> DecisionRepository:
        return DecisionRepository(self.session, self.audit, self.incidents)

    @cached_property
    def actions(self) -> ActionRepository:
        return ActionRepository(self.session, self.clock, self.audit, self.fencing)

    @cached_property
    def evaluations(self) -> EvaluationRepository:
        return EvaluationRepository(self.session)

    @cached_property
    def approvals(self) -> ApprovalRepository:
        return ApprovalRepository(self.session, self.clock, self.audit, self.actions)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.session, self.clock, self.audit)

    @cached_property
    def controls(self) -> ControlRepository:
        return ControlRepository(self.session, self.clock, self.audit)

    @cached_property
    def inbox(self) -> SignalInbox:
        return SignalInbox(self.session, self.clock)


class Store:
    """Transactions over one database; ``actor`` names this process in the audit trail."""

    def __init__(
        self, engine: Engine, *, clock: Clock | None = None, actor: str = "controlplane"
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.actor = actor
        # autobegin off: a Transaction used after its block raises instead of quietly opening
        # (and holding) a new database transaction.
        options: dict[str, Any] = {"expire_on_commit": False, "autobegin": False}
        self._reader = sessionmaker(engine, **options)
        self._writer = sessionmaker(engine.execution_options(**WRITE), **options)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        actor: str = "controlplane",
        migrate: bool = True,
        connect_args: Mapping[str, Any] | None = None,
    ) -> Store:
        """A store on ``url``, migrated to the newest schema unless ``migrate`` is false."""
        engine = make_engine(url, connect_args=connect_args)
        if migrate:
            upgrade(engine)
        return cls(engine, clock=clock, actor=actor)

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with store_errors(self.engine.url, "reading"), self._reader() as session, session.begin():
            yield Transaction(session, self.clock, self.actor)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        with store_errors(self.engine.url, "writing"), self._writer() as session, session.begin():
            session.connection()  # begin now: on SQLite, take the write lock before any read
            yield Transaction(session, self.clock, self.actor)

    # --- the executor's calls, one transaction each ----------------------------------------

    def claim_action(
        self,
        idempotency_key: str,
        request: ActionRequest,
        epoch: int | None,
        *,
        lease: str = DEFAULT_LEASE,
    ) -> Claim:
        """Store the action once under its key (see :meth:`ActionRepository.claim`)."""
        with self.write() as tx:
            return tx.actions.claim(idempotency_key, request, epoch, lease=lease)

    def set_verdict(
        self,
        action_id: str,
        verdict: VerdictKind,
        *,
        rule: str | None = None,
        reason: str | None = None,
        epoch: int | None = None,
        lease: str = DEFAULT_LEASE,
    ) -> ActionRecord:
        with self.write() as tx:
            return tx.actions.set_verdict(
                action_id, verdict, rule=rule, reason=reason, epoch=epoch, lease=lease
            )

    def mark_running(
        self, action_id: str, epoch: int | None, *, lease: str = DEFAULT_LEASE
    ) -> ActionRecord:
        with self.write() as tx:
            return tx.actions.mark_running(action_id, epoch, lease=lease)

    def record_result(
        self,
        action_id: str,
        status: ActionStatus,
        result: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
        epoch: int | None = None,
        lease: str = DEFAULT_LEASE,
    ) -> ActionRecord:
        with self.write() as tx:
            return tx.actions.record_result(
                action_id, status, result, error=error, epoch=epoch, lease=lease
            )

    def list_unfinished(self) -> list[ActionRecord]:
        """Actions to reconcile after a restart (pending, approved or running)."""
        with self.read() as tx:
            return tx.actions.unfinished()

    def advance_epoch(self, name: str = DEFAULT_LEASE) -> int:
        """Issue the next epoch of lease ``name`` (a new leader calls this once)."""
        with self.write() as tx:
            return tx.fencing.advance(name)

    def current_epoch(self, name: str = DEFAULT_LEASE) -> int:
        with self.read() as tx:
            return tx.fencing.current(name)
