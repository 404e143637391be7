"""The executor: validate → guardrails → intent on record → execute → result, exactly once.

Every action goes through the same steps, each a transaction of the store
(:class:`~controlplane.store.Store`) that also appends to the audit trail::

    claim (intent, under the request's idempotency key)        pending
    observe the target, validate, ask the guardrails           approved | refused |
    (under the operator controls in force now)                 awaiting_approval | dry_run
    mark running (the leader's epoch checked: fencing)         running
    apply through the backend (absolute desired state,
    resourceVersion precondition)                               succeeded | failed

**Exactly once.** A replayed request finds its claim and gets the stored record back; an action
that already finished is never run again. After a crash, :meth:`Executor.reconcile` reads what
was claimed and not finished and settles it by reading the cluster: a ``running`` action whose
desired state holds is recorded as succeeded without a second write; one whose target has not
changed since it was observed is applied (the first attempt never landed); one whose target
changed meanwhile fails with that reason (the decision was made on a state that is gone). A
``pending`` or ``approved`` one goes through the guardrails again, on the cluster as it is now.

**Fencing.** ``epoch`` is the leader's token (:meth:`Store.advance_epoch`); every state change
checks it against the newest epoch in the same transaction, so an executor that lost the lead
is refused (``StaleEpoch``) before it acts. What fencing cannot close: a leader that passed the
``running`` check and is paused before its API call can still make that call; the write's
``resourceVersion`` precondition then refuses it if the new leader has changed the target.

**Bad input.** :meth:`Executor.submit_payload` takes untrusted data (an API body, a model's
output): an unknown kind or out-of-range parameters raise ``ActionRejected`` (rule
``validation``) and the refusal is recorded in the audit trail; nothing is claimed. A missing
target and a stale precondition are recorded as refused actions naming their rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.clock import Clock, SystemClock
from controlplane.domain import ActionKind, ActionRequest, TargetRef
from controlplane.exceptions import ActionError, ActionFailed, ActionRejected, PreconditionFailed
from controlplane.store import (
    DEFAULT_LEASE,
    FINAL_ACTION_STATUSES,
    ActionRecord,
    ActionStatus,
    Store,
    VerdictKind,
)

from .catalogue import VALIDATION_RULE, ActionSpec, batch_steps, get_spec, parse_request
from .guardrails import Guardrails
from .history import ActionHistory
from .kubernetes import ActionBackend
from .observed import Observed
from .result import ActionResult

__all__ = [
    "APPROVAL_TTL_S",
    "MISSING_TARGET_RULE",
    "PRECONDITION_RULE",
    "Executor",
    "Preview",
    "StoreActionHistory",
]

log = logging.getLogger(__name__)

APPROVAL_TTL_S = 900.0
"""How long a person has to approve an action before the request expires."""
MISSING_TARGET_RULE = "target_missing"
PRECONDITION_RULE = "precondition"
_NO_CLUSTER_CALL = (str(ActionKind.NOOP), str(ActionKind.ESCALATE))


@dataclass(frozen=True)
class Preview:
    """The executor's verdict on a request, before (or instead of) running it."""

    outcome: VerdictKind
    rule: str
    reason: str
    satisfied: bool = False
    """The target is already in the desired state (nothing would be sent)."""


class StoreActionHistory:
    """:class:`~actions.history.ActionHistory` over the store's actions table.

    An action counts from the moment it started running (refused, dry-run and never-started
    actions do not), whichever process ran it: cooldowns and rate limits hold across restarts
    and across executors sharing one database.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def last_action_at(self, target: TargetRef) -> float | None:
        with self.store.read() as tx:
            return tx.actions.last_started(str(target), exclude_kinds=_NO_CLUSTER_CALL)

    def count_since(self, since: float) -> int:
        with self.store.read() as tx:
            return tx.actions.count_started_since(since, exclude_kinds=_NO_CLUSTER_CALL)


class Executor:
    """Carries out action requests against one backend, guarded, recorded, exactly once.

    ``history`` defaults to :class:`StoreActionHistory` over ``store``; ``dry_run`` turns every
    action that would change the cluster into a recorded dry run (the guardrails' own
    ``dry_run`` setting does the same from the config file, and a ``dry_run`` operator control
    from the store at run time). Before every verdict the operator controls in force (pauses,
    silences and maintenance windows, opt-outs, dry run) are read from the store, so a control
    set through the API holds from the next action on, in every executor sharing the database.
    """

    def __init__(
        self,
        store: Store,
        backend: ActionBackend,
        guardrails: Guardrails | None = None,
        *,
        history: ActionHistory | None = None,
        clock: Clock | None = None,
        lease: str = DEFAULT_LEASE,
        dry_run: bool = False,
        approval_ttl_s: float = APPROVAL_TTL_S,
    ) -> None:
        self.store = store
        self.backend = backend
        self.guardrails = guardrails or Guardrails()
        self.history = history or StoreActionHistory(store)
        self.clock = clock or store.clock or SystemClock()
        self.lease = lease
        self.dry_run = dry_run
        self.approval_ttl_s = approval_ttl_s

    # --- entry points ---------------------------------------------------------------------------

    def submit_payload(self, payload: Mapping[str, Any], epoch: int | None = None) -> ActionRecord:
        """Parse untrusted ``payload`` into a request and :meth:`submit` it.

        Invalid input raises ``ActionRejected`` (rule ``validation``) after recording the
        refusal in the audit trail; nothing is claimed or executed.
        """
        try:
            request = parse_request(payload)
            get_spec(request.kind)
        except ActionRejected as exc:
            with self.store.write() as tx:
                tx.audit.append(
                    "action.rejected",
                    str(payload.get("id") or "-") if isinstance(payload, Mapping) else "-",
                    {"rule": VALIDATION_RULE, "reason": str(exc), "payload": _safe(payload)},
                )
            raise
        return self.submit(request, epoch)

    def submit(self, request: ActionRequest, epoch: int | None = None) -> ActionRecord:
        """Claim ``request`` once, guard it and (when allowed) run it; the record as it ends."""
        claim = self.store.claim_action(request.idempotency_key, request, epoch, lease=self.lease)
        record = claim.record
        if not claim.created:
            log.info("action %s replayed: stored as %s", record.id, record.status)
            if record.status in FINAL_ACTION_STATUSES:
                return record
            if record.status is ActionStatus.AWAITING_APPROVAL:
                return record
            return self._settle(record, epoch)
        return self._guard(record, epoch)

    def reconcile(self, epoch: int | None = None) -> list[ActionRecord]:
        """Settle every claimed-but-unfinished action (call on start-up, then each tick).

        Approvals past their deadline are expired first (their actions refused). An action
        the cluster cannot be asked about now (API unreachable) stays as it is for next time.
        """
        with self.store.write() as tx:
            tx.approvals.expire_due()
        settled = []
        for record in self.store.list_unfinished():
            try:
                settled.append(self._settle(record, epoch))
            except ActionFailed as exc:  # could not observe: leave it for the next reconcile
                log.warning("cannot reconcile action %s yet: %s", record.id, exc)
        return settled

    # --- the steps ------------------------------------------------------------------------------

    def _settle(self, record: ActionRecord, epoch: int | None) -> ActionRecord:
        if record.status is ActionStatus.PENDING:
            return self._guard(record, epoch)
        if record.status is ActionStatus.APPROVED:
            return self._guard(record, epoch, approved=True)
        if record.status is ActionStatus.RUNNING:
            return self._recover(record, epoch)
        return record

    def _guard(
        self, record: ActionRecord, epoch: int | None, *, approved: bool = False
    ) -> ActionRecord:
        """Observe, validate and ask the guardrails; run when allowed.

        ``approved``: the action was already approved (by the guardrails before a crash, or by
        a person); it is checked again against the cluster as it is now, and an approval the
        guardrails ask for is the one it already has.
        """
        request = record.request
        spec = get_spec(request.kind)
        observed = self._observe(request)  # ActionFailed: stays pending
        seen = self._verdict(request, spec, observed, approved=approved)
        kind, rule, reason = seen.outcome, seen.rule, seen.reason
        if kind is VerdictKind.REFUSED:
            return self._refuse(record, rule, reason, epoch)
        if kind is VerdictKind.DRY_RUN:
            if record.status is ActionStatus.APPROVED:
                return self.store.record_result(
                    record.id,
                    ActionStatus.DRY_RUN,
                    {"rule": rule, "reason": reason},
                    epoch=epoch,
                    lease=self.lease,
                )
            return self.store.set_verdict(
                record.id, kind, rule=rule, reason=reason, epoch=epoch, lease=self.lease
            )
        if kind is VerdictKind.NEEDS_APPROVAL:
            with self.store.write() as tx:
                if epoch is not None:
                    tx.fencing.check(epoch, self.lease)
                updated = tx.actions.set_verdict(record.id, kind, rule=rule, reason=reason)
                tx.approvals.request(record.id, self.clock.now() + self.approval_ttl_s)
            return updated
        if record.status is not ActionStatus.APPROVED:
            record = self.store.set_verdict(
                record.id, kind, rule=rule, reason=reason, epoch=epoch, lease=self.lease
            )
        return self._run(record, spec, observed, epoch)

    def preview(self, request: ActionRequest) -> Preview:
        """What would happen to ``request`` now: the verdict of every check :meth:`submit`
        makes (target exists, preconditions, guardrails under the operator controls in force,
        dry run), on the cluster as it is. Nothing is claimed, recorded or sent."""
        spec = get_spec(request.kind)
        return self._verdict(request, spec, self._observe(request))

    def _verdict(
        self,
        request: ActionRequest,
        spec: ActionSpec[Any],
        observed: Observed,
        *,
        approved: bool = False,
    ) -> Preview:
        satisfied = spec.is_satisfied(request, observed) if observed.exists else False
        if spec.changes_cluster and not observed.exists:
            missing = [str(o.target) for o in observed.steps if not o.exists]
            what = ", ".join(missing) if missing else str(request.target)
            return Preview(VerdictKind.REFUSED, MISSING_TARGET_RULE, f"{what} does not exist")
        try:
            spec.validate(request, observed)
        except PreconditionFailed as exc:
            return Preview(VerdictKind.REFUSED, PRECONDITION_RULE, str(exc), satisfied)
        except ActionRejected as exc:
            return Preview(VerdictKind.REFUSED, exc.rule or VALIDATION_RULE, str(exc), satisfied)
        now = self.clock.now()
        with self.store.read() as tx:  # the operator controls as they are now
            controls = tx.controls.state(now)
        verdict = self.guardrails.evaluate(request, observed, self.history, now, controls=controls)
        outcome, rule, reason = (
            VerdictKind(verdict.outcome.value),
            str(verdict.rule),
            verdict.reason,
        )
        if outcome is VerdictKind.NEEDS_APPROVAL and approved:
            outcome, reason = VerdictKind.ALLOWED, "approved; guardrails re-checked"
        wants_change = spec.changes_cluster and not satisfied
        if outcome is VerdictKind.ALLOWED and self.dry_run and wants_change:
            outcome, rule, reason = VerdictKind.DRY_RUN, "dry_run", "executor in dry-run"
        return Preview(outcome, rule, reason, satisfied)

    def _run(
        self, record: ActionRecord, spec: ActionSpec[Any], observed: Observed, epoch: int | None
    ) -> ActionRecord:
        record = self.store.mark_running(record.id, epoch, lease=self.lease)
        return self._apply(record, observed, epoch)

    def _apply(self, record: ActionRecord, observed: Observed, epoch: int | None) -> ActionRecord:
        spec = get_spec(record.request.kind)
        inverse = spec.inverse(record.request, observed, at=self.clock.now())
        try:
            result = self.backend.apply(record.request, observed)
        except ActionError as exc:
            return self.store.record_result(
                record.id,
                ActionStatus.FAILED,
                {"rule": getattr(exc, "rule", None)},
                error=str(exc),
                epoch=epoch,
                lease=self.lease,
            )
        return self._finish(record, result, inverse, epoch)

    def _finish(
        self,
        record: ActionRecord,
        result: ActionResult,
        inverse: ActionRequest | None,
        epoch: int | None,
    ) -> ActionRecord:
        body = result.model_dump(mode="json")
        # the undo, computed from the state before the action (the verifier's no-regression)
        body["inverse"] = None if inverse is None else inverse.model_dump(mode="json")
        if not result.done:
            left = ", ".join(result.remaining) or "unknown"
            return self.store.record_result(
                record.id,
                ActionStatus.FAILED,
                body,
                error=f"partly done: {result.message} (remaining: {left})",
                epoch=epoch,
                lease=self.lease,
            )
        return self.store.record_result(
            record.id, ActionStatus.SUCCEEDED, body, epoch=epoch, lease=self.lease
        )

    def _recover(self, record: ActionRecord, epoch: int | None) -> ActionRecord:
        """A ``running`` action found after a crash: did its write land?"""
        request = record.request
        spec = get_spec(request.kind)
        observed = self._observe(request)
        if not spec.changes_cluster or spec.is_satisfied(request, observed):
            log.info("action %s had reached its desired state before the restart", record.id)
            return self._apply(record, observed, epoch)  # sends nothing: already satisfied
        try:
            spec.validate(request, observed)
        except ActionError as exc:
            return self.store.record_result(
                record.id,
                ActionStatus.FAILED,
                {"reconciled": True},
                error=f"the target changed while the action was in flight: {exc}",
                epoch=epoch,
                lease=self.lease,
            )
        log.info("action %s had not reached the cluster before the restart: applying", record.id)
        return self._apply(record, observed, epoch)

    def _observe(self, request: ActionRequest) -> Observed:
        """The request's target as it is now; a batch's as each of its steps' Deployments."""
        if request.kind is not ActionKind.BATCH:
            return self.backend.observe(request.target)
        steps = [self.backend.observe(step.target) for step in batch_steps(request)]
        return Observed(
            target=request.target,
            exists=all(o.exists for o in steps),
            steps=steps,
            workloads=[w for o in steps for w in o.workloads],
        )

    def _refuse(
        self, record: ActionRecord, rule: str, reason: str, epoch: int | None
    ) -> ActionRecord:
        log.info("action %s refused by %s: %s", record.id, rule, reason)
        return self.store.set_verdict(
            record.id,
            VerdictKind.REFUSED,
            rule=rule,
            reason=reason,
            epoch=epoch,
            lease=self.lease,
        )


def _safe(payload: object) -> object:
    """What of an invalid payload goes into the audit trail (bounded, JSON-safe)."""
    text = repr(payload)
    return text if len(text) <= 2000 else text[:2000] + "…"
