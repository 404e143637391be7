"""Actions: claimed once by idempotency key, moved through their states, fenced by epoch.

The executor's exactly-once protocol rests on three writes, each one transaction:

1. :meth:`ActionRepository.claim` inserts the request under its idempotency key (``ON CONFLICT DO
   NOTHING``): a replay, a second executor or a restarted one gets the existing row back, with
   ``created=False``, instead of a duplicate. The claim is the intent on record.
2. :meth:`ActionRepository.mark_running` locks the row, checks the epoch and the state
   (``pending``/``approved`` → ``running``): of two racing executors exactly one gets past it.
3. :meth:`ActionRepository.record_result` moves ``running`` to ``succeeded``/``failed``
   (``pending``/``approved`` to ``dry_run``).

On restart :meth:`ActionRepository.unfinished` lists what was claimed or started and not
finished, for the executor to reconcile against the cluster. Every state change appends an
audit event in the same transaction. With ``epoch`` given, each write first checks it against the
lease's newest epoch (:class:`~controlplane.store.fencing.Fencing`), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.domain import ActionRequest
from controlplane.exceptions import IllegalTransition, RecordNotFound, StoreError
from controlplane.store._sql import dialect_insert, for_update
from controlplane.store.audit import AuditLog
from controlplane.store.fencing import DEFAULT_LEASE, Fencing
from controlplane.store.models import ActionRow
from controlplane.store.records import (
    ACTION_TRANSITIONS,
    UNFINISHED_ACTION_STATUSES,
    ActionRecord,
    ActionStatus,
    Claim,
    VerdictKind,
)

__all__ = ["ActionRepository"]

_VERDICT_STATUS = {
    VerdictKind.ALLOWED: ActionStatus.APPROVED,
    VerdictKind.NEEDS_APPROVAL: ActionStatus.AWAITING_APPROVAL,
    VerdictKind.REFUSED: ActionStatus.REFUSED,
    VerdictKind.DRY_RUN: ActionStatus.DRY_RUN,
}
_RESULTS = frozenset({ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.DRY_RUN})


class ActionRepository:
    """Actions in one session's transaction."""

    def __init__(self, session: Session, clock: Clock, audit: AuditLog, fencing: Fencing) -> None:
        self._session, self._clock, self._audit, self._fencing = session, clock, audit, fencing

    # --- claiming and reading ---------------------------------------------------------------

    def claim(
        self,
        idempotency_key: str,
        request: ActionRequest,
        epoch: int | None,
        *,
        lease: str = DEFAULT_LEASE,
    ) -> Claim:
        """Store ``request`` as ``pending`` under ``idempotency_key``, once.

        When the key is already taken the stored action comes back with ``created=False`` and
        nothing is written. Raises ``StaleEpoch`` when ``epoch`` is older than the lease's.
        """
        if not idempotency_key:
            raise StoreError("an action needs a non-empty idempotency key")
        if epoch is not None:
            self._fencing.check(epoch, lease)
        now = self._clock.now()
        values = {
            "id": request.id,
            "idempotency_key": idempotency_key,
            "incident_id": request.incident_id,
            "kind": str(request.kind),
            "target": str(request.target),
            "request": request.model_dump(mode="json"),
            "status": str(ActionStatus.PENDING),
            "epoch": epoch,
            "created_at": now,
            "updated_at": now,
        }
        insert = dialect_insert(self._session, ActionRow)
        statement = (
            insert.values(values)
            .on_conflict_do_nothing(index_elements=[ActionRow.idempotency_key])
            .returning(ActionRow.id)
        )
        created = self._session.execute(statement).scalar_one_or_none() is not None
        row = self._session.scalars(
            select(ActionRow).where(ActionRow.idempotency_key == idempotency_key)
        ).one()
        if created:
            self._audit.append(
                "action.claimed",
                row.id,
                {"kind": row.kind, "target": row.target, "epoch": epoch, "key": idempotency_key},
            )
        return Claim(record=_record(row), created=created)

    def get(self, action_id: str) -> ActionRecord | None:
        row = self._session.get(ActionRow, action_id)
        return None if row is None else _record(row)

    def by_key(self, idempotency_key: str) -> ActionRecord | None:
        row = self._session.scalars(
            select(ActionRow).where(ActionRow.idempotency_key == idempotency_key)
        ).one_or_none()
        return None if row is None else _record(row)

    def unfinished(self) -> list[ActionRecord]:
        """Actions claimed, approved or running but not finished, oldest first."""
        return self.find(statuses=UNFINISHED_ACTION_STATUSES)

    def find(
        self,
        *,
        statuses: frozenset[ActionStatus] | set[ActionStatus] | None = None,
        incident_id: str | None = None,
        limit: int | None = None,
    ) -> list[ActionRecord]:
        """Actions, oldest first, optionally filtered by status and incident."""
        query = select(ActionRow).order_by(ActionRow.created_at, ActionRow.id)
        if statuses is not None:
            query = query.where(ActionRow.status.in_([str(s) for s in statuses]))
        if incident_id is not None:
            query = query.where(ActionRow.incident_id == incident_id)
        if limit is not None:
            query = query.limit(limit)
        return [_record(row) for row in self._session.scalars(query)]

    def page(
        self,
        *,
        statuses: Iterable[ActionStatus] | None = None,
        incident_id: str | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[ActionRecord]:
        """One page of actions, newest first; ``after``: the ``(created_at, id)`` of the last
        action of the previous page."""
        query = select(ActionRow).order_by(ActionRow.created_at.desc(), ActionRow.id).limit(limit)
        if statuses is not None:
            query = query.where(ActionRow.status.in_([str(s) for s in statuses]))
        if incident_id is not None:
            query = query.where(ActionRow.incident_id == incident_id)
        if after is not None:
            at, last_id = after
            query = query.where(
                (ActionRow.created_at < at)
                | ((ActionRow.created_at == at) & (ActionRow.id > last_id))
            )
        return [_record(row) for row in self._session.scalars(query)]

    def last_started(self, target: str, *, exclude_kinds: tuple[str, ...] = ()) -> float | None:
        """When an action on ``target`` last started running (any later status counts)."""
        query = select(func.max(ActionRow.started_at)).where(
            ActionRow.target == target, *self._started(exclude_kinds)
        )
        value = self._session.execute(query).scalar_one_or_none()
        return None if value is None else float(value)

    def count_started_since(self, since: float, *, exclude_kinds: tuple[str, ...] = ()) -> int:
        """How many actions started running at or after ``since``."""
        query = select(func.count()).where(
            ActionRow.started_at >= since, *self._started(exclude_kinds)
        )
        return int(self._session.execute(query).scalar_one())

    @staticmethod
    def _started(exclude_kinds: tuple[str, ...]) -> tuple[Any, ...]:
        ran = (ActionStatus.RUNNING, ActionStatus.SUCCEEDED, ActionStatus.FAILED)
        return (
            ActionRow.status.in_([str(s) for s in ran]),
            ActionRow.started_at.is_not(None),
            ActionRow.kind.not_in(exclude_kinds),
        )

    # --- state changes ----------------------------------------------------------------------

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
        """Record the guardrails' verdict: allowed → ``approved``, needs approval →
        ``awaiting_approval``, refused → ``refused`` (``rule`` names the rule that refused it),
        dry run → ``dry_run`` (final). ``rule`` goes to the audit event in every case."""
        if verdict is VerdictKind.REFUSED and not rule:
            raise StoreError("a refusal must name the rule that refused the action")
        refused_by = rule if verdict is VerdictKind.REFUSED else None
        fields: dict[str, Any] = {
            "verdict": str(verdict),
            "refused_by": refused_by,
            "verdict_reason": reason,
        }
        if verdict is VerdictKind.DRY_RUN:
            fields["finished_at"] = self._clock.now()
        details = {"rule": rule, "reason": reason}
        return self._move(action_id, _VERDICT_STATUS[verdict], fields, details, epoch, lease)

    def mark_running(
        self, action_id: str, epoch: int | None, *, lease: str = DEFAULT_LEASE
    ) -> ActionRecord:
        """``pending``/``approved`` → ``running``; the row keeps the running leader's epoch.

        Of several executors racing on one action exactly one succeeds; the others get
        ``IllegalTransition`` (it is already running) or ``StaleEpoch``.
        """
        fields: dict[str, Any] = {"started_at": self._clock.now()}
        if epoch is not None:
            fields["epoch"] = epoch
        return self._move(action_id, ActionStatus.RUNNING, fields, {}, epoch, lease)

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
        """Finish an action: ``succeeded`` or ``failed`` (from ``running``) or ``dry_run``."""
        if status not in _RESULTS:
            raise StoreError(f"a result is succeeded, failed or dry_run, not {status}")
        fields = {"result": dict(result or {}), "error": error, "finished_at": self._clock.now()}
        details = {"error": error} if error else {}
        return self._move(action_id, status, fields, details, epoch, lease)

    def _move(
        self,
        action_id: str,
        to: ActionStatus,
        fields: Mapping[str, Any],
        details: Mapping[str, Any],
        epoch: int | None,
        lease: str,
    ) -> ActionRecord:
        if epoch is not None:
            self._fencing.check(epoch, lease)
        row = self._locked(action_id)
        current = ActionStatus(row.status)
        if to not in ACTION_TRANSITIONS[current]:
            allowed = sorted(str(s) for s in ACTION_TRANSITIONS[current])
            raise IllegalTransition(f"action {action_id}", str(current), str(to), allowed)
        for name, value in fields.items():
            setattr(row, name, value)
        row.status = str(to)
        row.updated_at = self._clock.now()
        self._session.flush()
        event = {"from": str(current), "to": str(to), "epoch": epoch, **details}
        self._audit.append(f"action.{to}", action_id, event)
        return _record(row)

    def _locked(self, action_id: str) -> ActionRow:
        row = self._session.scalars(
            for_update(select(ActionRow).where(ActionRow.id == action_id))
        ).one_or_none()
        if row is None:
            raise RecordNotFound("action", action_id)
        return row


def _record(row: ActionRow) -> ActionRecord:
    return ActionRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        request=ActionRequest.model_validate(row.request),
        status=ActionStatus(row.status),
        verdict=None if row.verdict is None else VerdictKind(row.verdict),
        refused_by=row.refused_by,
        verdict_reason=row.verdict_reason,
        epoch=row.epoch,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
