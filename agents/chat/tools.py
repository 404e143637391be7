"""The chat's read tools: each reads the store and composes an answer citing what it read.

``explain`` (open incidents about a service, their newest decision and their signals' metric
values), ``history`` (actions on a service, with the decisions behind them and their verdicts)
and ``status`` (open incidents, approvals waiting, controls in force). Each returns a
:class:`ToolResult` with a status instead of raising into the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from controlplane import ActionRequest, Decision, Incident, IncidentState, ReplicasState
from controlplane.store import ActionRecord, ActionStatus, Store, Transaction

from .choose import one_line
from .events import Answer

__all__ = ["OPEN", "ToolResult", "describe_request", "explain", "history", "status"]

OPEN = [s for s in IncidentState if s is not IncidentState.RESOLVED]
SHOWN = 3
"""Incidents, candidates, signals or actions shown per answer, at most."""


@dataclass(frozen=True)
class ToolResult:
    status: Literal["ok", "no_data", "refused", "queued", "error"]
    answer: Answer
    details: dict[str, Any] = field(default_factory=dict)


def describe_request(request: ActionRequest) -> str:
    """``scale deployment/hotel/search to 4 replicas`` (names and numbers only)."""
    desired = request.desired
    to = f" to {desired.replicas} replicas" if isinstance(desired, ReplicasState) else ""
    return f"{request.kind} {request.target}{to}"


def _ago(now: float, at: float) -> str:
    minutes = max(0.0, now - at) / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def explain(store: Store, services: Sequence[str], now: float) -> ToolResult:
    answer = Answer()
    with store.read() as tx:
        incidents = _open_about(tx, services)
        if not incidents:
            answer.say(f"No open incident is about {', '.join(services)}.")
            last = next(iter(tx.incidents.find(service=services[0], limit=1)), None)
            if last is not None:
                answer.say(" The last one was ").incident(last)
                answer.say(f", {last.state}, opened {_ago(now, last.opened_at)}.")
            return ToolResult("no_data", answer)
        answer.say(f"{len(incidents)} open incident(s) about {', '.join(services)}.")
        for incident in incidents[:SHOWN]:
            _incident(tx, answer, incident, now)
    return ToolResult("ok", answer)


def _open_about(tx: Transaction, services: Sequence[str]) -> list[Incident]:
    found = {i.id: i for s in services for i in tx.incidents.find(states=OPEN, service=s)}
    return sorted(found.values(), key=lambda i: -i.opened_at)


def _incident(tx: Transaction, answer: Answer, incident: Incident, now: float) -> None:
    answer.say("\n").incident(incident)
    answer.say(
        f" {incident.severity}, {incident.state}, opened {_ago(now, incident.opened_at)}, "
        f"about {', '.join(incident.services or incident.nodes)}."
    )
    analysed = [e.summary for e in incident.timeline if "analysed: " in e.summary]
    if analysed:
        answer.say(f" Analysis: {one_line(analysed[-1].split('analysed: ', 1)[1])}.")
    decisions = tx.decisions.for_incident(incident.id)
    if decisions:
        _decision(answer, decisions[-1])
    signals = sorted(tx.signals.for_incident(incident.id), key=lambda s: -s.score)[:SHOWN]
    for signal in signals:
        answer.say("\nSignal ").signal(signal).say(f" score {signal.score:.2f}")
        for evidence in [e for e in signal.evidence if not isinstance(e.value, str)][:2]:
            answer.say(": ").metric(signal, evidence)
            if evidence.baseline is not None:
                answer.say(f" (baseline {evidence.baseline:.4g})")
        answer.say(".")
    actions = tx.actions.find(incident_id=incident.id)
    if actions:
        last = actions[-1]
        answer.say("\nLatest action ").action(last)
        answer.say(f": {describe_request(last.request)}, {last.status}.")


def _decision(answer: Answer, decision: Decision) -> None:
    answer.say("\nNewest decision ").decision(decision)
    answer.say(f" ({decision.policy}, tier {decision.tier})")
    chosen = decision.chosen
    if chosen is None:
        answer.say(" chose nothing")
    else:
        answer.say(
            f" chose {describe_request(chosen.action)}: {one_line(chosen.expected_effect, 80)} "
            f"(risk {chosen.risk:.1f})"
        )
    if decision.escalation_reason:
        answer.say(f", escalated: {one_line(decision.escalation_reason, 60)}")
    others = [c for c in decision.candidates if c is not chosen][:SHOWN]
    if others:
        answer.say(
            ". Other candidates: "
            + "; ".join(f"{describe_request(c.action)} (risk {c.risk:.1f})" for c in others)
        )
    answer.say(".")


def history(store: Store, services: Sequence[str], now: float) -> ToolResult:
    answer = Answer()
    about = ", ".join(services) or "any service"
    with store.read() as tx:
        records = [
            r
            for r in tx.actions.page(limit=200)
            if not services or r.request.target.name in services
        ][:SHOWN]
        if not records:
            return ToolResult("no_data", answer.say(f"I have taken no action on {about}."))
        answer.say(f"The newest actions on {about}:")
        for record in records:
            _action(tx, answer, record, now)
    return ToolResult("ok", answer)


def _action(tx: Transaction, answer: Answer, record: ActionRecord, now: float) -> None:
    request = record.request
    answer.say("\n").action(record)
    answer.say(
        f" {describe_request(request)}, asked {_ago(now, record.created_at)} by "
        f"{one_line(request.decided_by, 60)}: {record.status}"
    )
    if record.status is ActionStatus.REFUSED:
        answer.say(f" by {record.refused_by}: {one_line(record.verdict_reason or '', 120)}")
    elif record.verdict is not None:
        answer.say(f" (guardrails: {record.verdict})")
    if record.error:
        answer.say(f"; error: {one_line(record.error, 120)}")
    answer.say(f". Why: {one_line(request.reason, 160)}.")
    for approval in tx.approvals.for_action(record.id):
        if approval.decision is None:
            answer.say(" It waits for a person's approval (the approvals route).")
        else:
            answer.say(f" {approval.decision} by {one_line(approval.decided_by or '-', 40)}.")
    if request.incident_id is None:
        return
    incident = tx.incidents.get(request.incident_id)
    if incident is None:
        return
    answer.say(" For ").incident(incident)
    decision = _decided(tx.decisions.for_incident(incident.id), record)
    if decision is not None:
        answer.say(", decided in ").decision(decision)
        answer.say(f" ({decision.policy}, tier {decision.tier}")
        if decision.confidence is not None:
            answer.say(f", confidence {decision.confidence:.2f}")
        answer.say(")")
    answer.say(".")


def _decided(decisions: Sequence[Decision], record: ActionRecord) -> Decision | None:
    """The decision whose chosen candidate is this action, if one is."""
    for decision in reversed(decisions):
        chosen = decision.chosen
        if chosen is not None and (
            chosen.action.idempotency_key == record.idempotency_key
            or chosen.action.id == record.request.id
        ):
            return decision
    return None


def status(store: Store, now: float) -> ToolResult:
    answer = Answer()
    with store.read() as tx:
        incidents = tx.incidents.find(states=OPEN, limit=10)
        waiting = tx.approvals.pending()
        controls = tx.controls.state(now)
        if not incidents:
            answer.say("No incident is open.")
        else:
            answer.say(f"{len(incidents)} open incident(s), newest first:")
            for incident in incidents[:5]:
                answer.say("\n").incident(incident)
                answer.say(
                    f" {incident.severity}, {incident.state}, about "
                    f"{', '.join(incident.services or incident.nodes)}, "
                    f"opened {_ago(now, incident.opened_at)}."
                )
        for approval in waiting[:SHOWN]:
            record = tx.actions.get(approval.action_id)
            if record is not None:
                answer.say("\nWaiting for a person's approval: ").action(record)
                answer.say(f" {describe_request(record.request)}.")
    if controls.paused:
        answer.say("\nAutomated actions are paused everywhere.")
    if controls.paused_namespaces:
        answer.say(f"\nPaused namespaces: {', '.join(controls.paused_namespaces)}.")
    if controls.dry_run:
        answer.say("\nThe control plane is in dry run.")
    return ToolResult("ok" if incidents else "no_data", answer)
