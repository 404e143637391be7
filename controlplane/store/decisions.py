"""Decisions: what a policy was offered, what it chose, and what that cost.

Recording a decision also adds a ``decision`` entry to its incident's timeline and an audit
event, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.domain import Candidate, Decision, ModelCall, Tier
from controlplane.exceptions import RecordNotFound
from controlplane.store.audit import AuditLog
from controlplane.store.incidents import IncidentRepository
from controlplane.store.models import DecisionRow, IncidentRow

__all__ = ["DecisionRepository"]


class DecisionRepository:
    """Decisions in one session's transaction."""

    def __init__(self, session: Session, audit: AuditLog, incidents: IncidentRepository) -> None:
        self._session, self._audit, self._incidents = session, audit, incidents

    def add(self, decision: Decision) -> Decision:
        if self._session.get(IncidentRow, decision.incident_id) is None:
            raise RecordNotFound("incident", decision.incident_id)
        self._session.add(
            DecisionRow(
                id=decision.id,
                incident_id=decision.incident_id,
                agent=decision.agent,
                policy=decision.policy,
                tier=str(decision.tier),
                model=decision.model,
                candidates=[c.model_dump(mode="json") for c in decision.candidates],
                choice=decision.choice,
                confidence=decision.confidence,
                prompt_tokens=decision.prompt_tokens,
                output_tokens=decision.output_tokens,
                latency_s=decision.latency_s,
                cost_usd=decision.cost_usd,
                escalation_reason=decision.escalation_reason,
                calls=[c.model_dump(mode="json") for c in decision.calls],
                at=decision.at,
            )
        )
        self._session.flush()
        chosen = decision.chosen
        what = "nothing" if chosen is None else f"{chosen.action.kind} {chosen.action.target}"
        summary = f"{decision.agent} ({decision.policy}, {decision.tier}) chose {what}"
        if decision.escalation_reason:
            summary += f"; escalated: {decision.escalation_reason}"
        self._incidents.append_timeline(
            decision.incident_id, "decision", summary, ref_id=decision.id, at=decision.at
        )
        self._audit.append(
            "decision.recorded",
            decision.incident_id,
            {"decision": decision.id, "agent": decision.agent, "tier": str(decision.tier)},
            at=decision.at,
        )
        return decision

    def get(self, decision_id: str) -> Decision | None:
        row = self._session.get(DecisionRow, decision_id)
        return None if row is None else _decision(row)

    def for_incident(self, incident_id: str) -> list[Decision]:
        """The incident's decisions, oldest first."""
        query = (
            select(DecisionRow)
            .where(DecisionRow.incident_id == incident_id)
            .order_by(DecisionRow.at, DecisionRow.id)
        )
        return [_decision(row) for row in self._session.scalars(query)]


def _decision(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        incident_id=row.incident_id,
        agent=row.agent,
        policy=row.policy,
        tier=Tier(row.tier),
        model=row.model,
        candidates=[Candidate.model_validate(c) for c in row.candidates],
        choice=row.choice,
        confidence=row.confidence,
        prompt_tokens=row.prompt_tokens,
        output_tokens=row.output_tokens,
        latency_s=row.latency_s,
        cost_usd=row.cost_usd,
        escalation_reason=row.escalation_reason,
        calls=[ModelCall.model_validate(c) for c in row.calls],
        at=row.at,
    )
