"""Approvals: a person's go-ahead for one action, asked for with a deadline.

Deciding an approval moves its action in the same transaction (``awaiting_approval`` →
``approved`` or ``refused`` by rule ``approval``); an approval past its deadline can no longer be
granted, and :meth:`ApprovalRepository.expire_due` refuses the actions whose time ran out (rule
``approval_expired``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.domain import new_id
from controlplane.exceptions import RecordNotFound, StoreError
from controlplane.store._sql import for_update
from controlplane.store.actions import ActionRepository
from controlplane.store.audit import AuditLog
from controlplane.store.models import ActionRow, ApprovalRow
from controlplane.store.records import ActionStatus, Approval, ApprovalDecision, VerdictKind

__all__ = ["ApprovalRepository"]


class ApprovalRepository:
    """Approvals in one session's transaction."""

    def __init__(
        self, session: Session, clock: Clock, audit: AuditLog, actions: ActionRepository
    ) -> None:
        self._session, self._clock, self._audit, self._actions = session, clock, audit, actions

    def request(self, action_id: str, expires_at: float) -> Approval:
        """Ask for a person's approval of ``action_id`` until ``expires_at``.

        A ``pending`` action moves to ``awaiting_approval``; one already there stays.
        """
        action = self._session.get(ActionRow, action_id)
        if action is None:
            raise RecordNotFound("action", action_id)
        now = self._clock.now()
        if expires_at <= now:
            raise StoreError(f"approval of action {action_id}: deadline {expires_at} is past")
        if action.status == ActionStatus.PENDING:
            self._actions.set_verdict(action_id, VerdictKind.NEEDS_APPROVAL)
        elif action.status != ActionStatus.AWAITING_APPROVAL:
            raise StoreError(f"action {action_id} is {action.status}; it cannot await approval")
        row = ApprovalRow(id=new_id(), action_id=action_id, requested_at=now, expires_at=expires_at)
        self._session.add(row)
        self._session.flush()
        self._audit.append("approval.requested", action_id, {"approval": row.id})
        return _approval(row)

    def decide(
        self, approval_id: str, decided_by: str, approve: bool, reason: str | None = None
    ) -> Approval:
        """A person's decision; refused once decided or past its deadline."""
        row = self._locked(approval_id)
        now = self._clock.now()
        if row.decision is not None:
            raise StoreError(f"approval {approval_id} was already decided ({row.decision})")
        if now > row.expires_at:
            raise StoreError(f"approval {approval_id} expired at {row.expires_at}")
        decision = ApprovalDecision.APPROVED if approve else ApprovalDecision.REJECTED
        row.decision, row.decided_by, row.decided_at, row.reason = (
            str(decision),
            decided_by,
            now,
            reason,
        )
        self._session.flush()
        self._audit.append(
            f"approval.{decision}",
            row.action_id,
            {"approval": approval_id, "reason": reason},
            actor=decided_by,
        )
        if approve:
            self._actions.set_verdict(row.action_id, VerdictKind.ALLOWED, reason=reason)
        else:
            self._actions.set_verdict(
                row.action_id, VerdictKind.REFUSED, rule="approval", reason=reason
            )
        return _approval(row)

    def expire_due(self) -> list[Approval]:
        """Mark undecided approvals past their deadline expired; refuse their actions."""
        now = self._clock.now()
        query = for_update(
            select(ApprovalRow).where(ApprovalRow.decision.is_(None), ApprovalRow.expires_at < now)
        )
        expired = []
        for row in self._session.scalars(query).all():
            row.decision, row.decided_at = str(ApprovalDecision.EXPIRED), now
            self._session.flush()
            self._audit.append("approval.expired", row.action_id, {"approval": row.id})
            action = self._session.get(ActionRow, row.action_id)
            if action is not None and action.status == ActionStatus.AWAITING_APPROVAL:
                self._actions.set_verdict(
                    row.action_id, VerdictKind.REFUSED, rule="approval_expired"
                )
            expired.append(_approval(row))
        return expired

    def get(self, approval_id: str) -> Approval | None:
        row = self._session.get(ApprovalRow, approval_id)
        return None if row is None else _approval(row)

    def pending(self) -> list[Approval]:
        """Undecided approvals, oldest first (expired ones included until ``expire_due``)."""
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.decision.is_(None))
            .order_by(ApprovalRow.requested_at, ApprovalRow.id)
        )
        return [_approval(row) for row in self._session.scalars(query)]

    def for_action(self, action_id: str) -> list[Approval]:
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.action_id == action_id)
            .order_by(ApprovalRow.requested_at, ApprovalRow.id)
        )
        return [_approval(row) for row in self._session.scalars(query)]

    def _locked(self, approval_id: str) -> ApprovalRow:
        row = self._session.scalars(
            for_update(select(ApprovalRow).where(ApprovalRow.id == approval_id))
        ).one_or_none()
        if row is None:
            raise RecordNotFound("approval", approval_id)
        return row


def _approval(row: ApprovalRow) -> Approval:
    return Approval(
        id=row.id,
        action_id=row.action_id,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decision=None if row.decision is None else ApprovalDecision(row.decision),
        reason=row.reason,
    )
