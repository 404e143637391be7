"""The chat's change tools: the same path as an action asked for through the API.

A change needs a role: ``operator`` to scale or restart, ``admin`` to pause or resume; a weaker
token gets an answer saying so, and nothing is changed or recorded (as the API's 403). A scale
or restart becomes an :class:`~controlplane.ActionRequest` decided by ``chat/<caller>``; the
executor's ``preview`` gives the guardrails' verdict on the cluster as it is now. Refused:
nothing is claimed, the refusal goes to the audit trail (``chat.refused``). Otherwise the action
is claimed in the store (``pending``, with an ``action.requested`` audit event whose actor is
the caller), and the leading loop's executor guards and runs it, or asks a person, on its next
tick. Pause and resume are operator controls in the store.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Protocol

from actions.kubernetes import ActionBackend
from controlplane import ActionKind, ActionRequest, ReplicasState, RestartState
from controlplane.store import FINAL_ACTION_STATUSES, Role, Store

from .choose import one_line
from .events import Answer
from .intents import Intent, IntentKind
from .tools import ToolResult, describe_request

__all__ = ["REFUSED_EVENT", "ROLE_RULE", "ClusterGate", "Preview", "change", "needed_role"]

REFUSED_EVENT = "chat.refused"
ROLE_RULE = "role"


class Preview(Protocol):
    """The guardrails' verdict on a request, nothing recorded (``Executor.preview``)."""

    @property
    def outcome(self) -> str:
        """``allowed``, ``needs_approval``, ``refused`` or ``dry_run``."""

    @property
    def rule(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def satisfied(self) -> bool: ...


class ClusterGate(Protocol):
    """What the chat needs of an :class:`~actions.Executor`: its backend (to confirm names)
    and the guardrails' verdict on a request."""

    @property
    def backend(self) -> ActionBackend: ...

    def preview(self, request: ActionRequest) -> Preview: ...


def needed_role(intent: Intent) -> Role:
    controls = intent.kind in (IntentKind.PAUSE, IntentKind.RESUME)
    return Role.ADMIN if controls else Role.OPERATOR


def change(
    store: Store,
    gate: ClusterGate | None,
    intent: Intent,
    *,
    caller: str,
    role: Role,
    message: str,
    now: float,
) -> ToolResult:
    """Carry out a change intent as far as chat may: controls set, actions claimed."""
    need = needed_role(intent)
    if not Role(role).allows(need):  # as the API's 403: nothing recorded
        text = f"This needs the {need} role; your token has {role}. Nothing was changed."
        return ToolResult("refused", Answer().say(text), {"rule": ROLE_RULE})
    if intent.kind in (IntentKind.PAUSE, IntentKind.RESUME):
        return _control(store, intent, caller, message)
    if gate is None:
        text = "This API process has no cluster connection, so it cannot ask for actions."
        return ToolResult("error", Answer().say(text))
    return _act(store, gate, _request(intent, caller, now), caller, message)


def _request(intent: Intent, caller: str, now: float) -> ActionRequest:
    assert intent.target is not None  # the parser fills it for scale and restart
    desired: ReplicasState | RestartState
    if intent.kind is IntentKind.SCALE:
        kind, desired = ActionKind.SCALE, ReplicasState(replicas=intent.replicas or 0)
    else:
        at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        kind, desired = ActionKind.RESTART, RestartState(restarted_at=at)
    return ActionRequest(
        kind=kind,
        target=intent.target,
        desired=desired,
        reason=f"asked in chat by {caller}: {intent.describe()}",
        decided_by=f"chat/{caller}",
        created_at=now,
    )


def _act(
    store: Store, gate: ClusterGate, request: ActionRequest, caller: str, message: str
) -> ToolResult:
    verdict = gate.preview(request)
    outcome, rule, reason = str(verdict.outcome), str(verdict.rule), str(verdict.reason)
    what = describe_request(request)
    if outcome == "refused":
        _refused(store, caller, what, rule, reason, message, str(request.target))
        text = f"Refused by {rule}: {one_line(reason, 300)}. Nothing was changed."
        return ToolResult("refused", Answer().say(text), {"rule": rule})
    seen = {"outcome": outcome, "rule": rule, "reason": reason, "satisfied": verdict.satisfied}
    with store.write() as tx:
        key = request.idempotency_key
        earlier = tx.actions.by_key(key)
        if earlier is not None and earlier.status in FINAL_ACTION_STATUSES:
            # the same change asked for again after the first one ended: a new action
            key = hashlib.sha256(f"{key}:{request.id}".encode()).hexdigest()
            request = request.model_copy(update={"idempotency_key": key})
        claim = tx.actions.claim(key, request, None)
        tx.audit.append(
            "action.requested",
            claim.record.id,
            {"preview": seen, "replayed": not claim.created, "via": "chat"},
            actor=caller,
        )
    answer = Answer()
    if not claim.created:
        answer.say("Already asked for as action ").action(claim.record)
        answer.say(f" ({what}, {claim.record.status}).")
        return ToolResult("queued", answer, {"action": claim.record.id, "preview": seen})
    answer.say("Queued as action ").action(claim.record).say(f": {what}. ")
    answer.say(_next(outcome, rule, reason, verdict.satisfied))
    return ToolResult("queued", answer, {"action": claim.record.id, "preview": seen})


def _next(outcome: str, rule: str, reason: str, satisfied: bool) -> str:
    why = one_line(reason, 200)
    if satisfied:
        return "The target is already in that state: the leader will find nothing to change."
    if outcome == "needs_approval":
        return f"It needs a person's approval ({rule}: {why}); decide it on the approvals route."
    if outcome == "dry_run":
        return f"It runs on the leader's next tick as a dry run ({why})."
    return f"It runs on the leader's next tick (the guardrails allow it now: {why})."


def _control(store: Store, intent: Intent, caller: str, message: str) -> ToolResult:
    where = f"namespace {intent.namespace}" if intent.namespace else "every namespace"
    answer = Answer()
    with store.write() as tx:
        if intent.kind is IntentKind.PAUSE:
            control = tx.controls.pause(
                intent.namespace, by=caller, comment=f"chat: {one_line(message)}"
            )
            answer.say(f"Paused automated actions in {where} (").control(control)
            answer.say("): nothing changes there until it is resumed.")
            return ToolResult("ok", answer, {"control": control.id})
        lifted = tx.controls.resume(intent.namespace, by=caller)
    if not lifted:
        return ToolResult("no_data", answer.say(f"Automated actions in {where} were not paused."))
    answer.say(f"Resumed automated actions in {where}: lifted")
    for control in lifted:
        answer.say(" ").control(control)
    return ToolResult("ok", answer.say("."), {"controls": [c.id for c in lifted]})


def _refused(
    store: Store, caller: str, what: str, rule: str, reason: str, message: str, subject: str
) -> None:
    details: dict[str, Any] = {
        "request": what,
        "rule": rule,
        "reason": reason[:500],
        "message": one_line(message),
    }
    with store.write() as tx:
        tx.audit.append(REFUSED_EVENT, subject[:64], details, actor=caller)
