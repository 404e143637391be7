"""The model-based policies ``local``, ``hybrid`` and ``cloud``: the specialists' graph with a
router of the matching tiers. One graph thread per incident, checkpointed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controlplane import ActionKind, Decision, Incident, ModelCall, Tier

from ..analysis import Analysis
from ..llm import Router
from ..specialists import AgentContext, build_graph
from .base import PolicyContext

__all__ = ["AgentPolicy"]


class AgentPolicy:
    """Decides with the specialists' graph; ``resume`` continues a run paused for approval."""

    def __init__(
        self,
        name: str,
        router: Router,
        *,
        checkpointer: Any = None,
        seed: int = 0,
        needs_person: Callable[[ActionKind], bool] | None = None,
        guard_risk: float = 0.6,
    ) -> None:
        from langgraph.checkpoint.memory import InMemorySaver

        self.name, self.router, self.seed = name, router, seed
        self.needs_person = needs_person or (lambda kind: False)
        self.guard_risk = guard_risk
        self.checkpointer = checkpointer or InMemorySaver()
        self.graph = build_graph().compile(checkpointer=self.checkpointer)

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        tried = frozenset(
            i for i, c in enumerate(analysis.candidates) if context.was_tried(c.action)
        )
        ctx = AgentContext(
            incident=incident,
            analysis=analysis,
            router=self.router,
            tried=tried,
            seed=self.seed,
            guard_risk=self.guard_risk,
            needs_person=self.needs_person,
            verification_failed=bool(context.tried),
        )
        start: dict[str, Any] = {
            "incident_id": incident.id,
            "calls": [],
            "trace": [],
            "chosen": None,
            "shown": [],
            "escalation_reason": None,
            "approval": None,
        }
        state = self.graph.invoke(start, self._config(incident.id), context=ctx)
        return self._decision(incident, analysis, state, context.now)

    def resume(self, incident_id: str, approved: bool) -> list[str]:
        """Continue the incident's run paused for approval; its trace (empty: none paused)."""
        config = self._config(incident_id)
        if not self.graph.get_state(config).next:
            return []
        from langgraph.types import Command

        # the nodes after the pause read the checkpointed state alone: no context needed
        state = self.graph.invoke(Command(resume="approved" if approved else "rejected"), config)
        return list(state.get("trace", []))

    def close(self) -> None:
        """Close the checkpointer's database connection (if it holds one)."""
        conn = getattr(self.checkpointer, "conn", None)
        if conn is not None:
            conn.close()

    def trace(self, incident_id: str) -> list[str]:
        return list(self.graph.get_state(self._config(incident_id)).values.get("trace", []))

    @staticmethod
    def _config(incident_id: str) -> Any:
        return {"configurable": {"thread_id": f"incident-{incident_id}"}}

    def _decision(
        self, incident: Incident, analysis: Analysis, state: dict[str, Any], now: float
    ) -> Decision:
        calls = [ModelCall.model_validate(c) for c in state.get("calls", [])]
        shown = [analysis.candidates[i] for i in state.get("shown", [])]
        chosen = state.get("chosen")
        tier = Tier(state["tier"]) if state.get("tier") else Tier.NONE
        return Decision(
            incident_id=incident.id,
            agent=str(state.get("prompt", {}).get("agent") or "supervisor"),
            policy=self.name,
            tier=tier,
            model=state.get("model"),
            candidates=shown,
            choice=chosen if shown else None,
            confidence=state.get("confidence"),
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            latency_s=sum(c.latency_s for c in calls),
            cost_usd=sum(c.cost_usd for c in calls),
            escalation_reason=state.get("escalation_reason"),
            calls=calls,
            at=now,
        )
