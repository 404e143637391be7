"""The specialists: small functions from state (and run context) to a state update or a route.

``triage`` (the supervisor) classifies the incident and routes it; ``diagnosis`` chooses the root
cause when the analyzers' best hypotheses are close; ``remediation``, ``capacity`` and
``placement`` choose among their candidates; ``guard`` puts a risky local choice to the next
tier; ``approval`` pauses (``interrupt``) for a person where the guardrails want one; ``finish``
closes the run. Model calls go through the router, local tier first.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from controlplane import ActionKind, BatchState, Candidate, ReplicasState, TargetKind

from .prompts import hypothesis_prompt, option_prompt
from .state import AgentContext, AgentState, Category

__all__ = ["MAX_SHOWN", "approval", "diagnosis", "finish", "guard", "specialist", "triage"]

MAX_SHOWN = 6
_PLACEMENT = {ActionKind.CORDON, ActionKind.UNCORDON, ActionKind.DRAIN, ActionKind.MOVE}
_Specialist = Literal["remediation", "capacity", "placement"]
_SPECIALIST: dict[str, _Specialist] = {
    "fault": "remediation",
    "capacity": "capacity",
    "placement": "placement",
}


def _category(candidates: list[Candidate]) -> Category:
    if not candidates:
        return "unknown"
    action = candidates[0].action
    kinds = {action.kind}
    if isinstance(action.desired, BatchState):
        kinds = {
            ActionKind.SCALE if isinstance(s.desired, ReplicasState) else ActionKind.RESTART
            for s in action.desired.steps
        }
    if kinds <= {ActionKind.SCALE}:
        return "capacity"
    if kinds & _PLACEMENT or action.target.kind is TargetKind.NODE:
        return "placement"
    return "fault"


def _for(ctx: AgentContext, hypothesis: int | None) -> list[int]:
    """Untried candidate indices for ``hypothesis`` (all untried when it has none)."""
    cands = ctx.analysis.candidates
    fresh = [
        i
        for i, c in enumerate(cands)
        if i not in ctx.tried and c.action.kind is not ActionKind.ESCALATE
    ]
    own = [i for i in fresh if cands[i].hypothesis_index == hypothesis]
    return own or fresh


def triage(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Command[Literal["diagnosis", "finish"]]:
    ctx = runtime.context
    cands = ctx.analysis.candidates
    category = _category([cands[i] for i in _for(ctx, 0)]) if ctx.analysis.hypotheses else "unknown"
    trace = [*state.get("trace", []), f"triage: {category}"]
    if category == "unknown" or not _for(ctx, 0):
        # nothing left but a person (as the rules policy does): no model needed
        escalate = [i for i, c in enumerate(cands) if c.action.kind is ActionKind.ESCALATE]
        update: dict[str, Any] = {"category": category, "trace": trace, "tier": "none"}
        if escalate:
            update.update(shown=escalate[:1], chosen=0, escalation_reason="nothing left to try")
        return Command(goto="finish", update=update)
    return Command(goto="diagnosis", update={"category": category, "trace": trace})


def diagnosis(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Command[Literal["remediation", "capacity", "placement"]]:
    ctx = runtime.context
    hyps = ctx.analysis.hypotheses
    close = [
        i
        for i, h in enumerate(hyps[:4])
        if hyps[0].score - h.score <= ctx.ambiguity and _for(ctx, i)
    ]
    chosen, calls = 0, list(state.get("calls", []))
    if len(close) > 1:
        prompt = hypothesis_prompt(ctx.incident.services, [hyps[i] for i in close])
        prior = {o: hyps[i].score for o, i in zip(prompt.options, close, strict=True)}
        routed = ctx.router.choose(prompt, prior)
        calls += [c.model_dump(mode="json") for c in routed.calls]
        if routed.letter is not None:
            chosen = close[prompt.options.index(routed.letter)]
    category = _category([ctx.analysis.candidates[i] for i in _for(ctx, chosen)])
    if category == "unknown":
        category = "fault"
    goto = _SPECIALIST[category]
    trace = [*state.get("trace", []), f"diagnosis: cause {chosen + 1} -> {goto}"]
    return Command(
        goto=goto,
        update={"hypothesis": chosen, "category": category, "calls": calls, "trace": trace},
    )


def _prior(ctx: AgentContext, index: int) -> float:
    """The analyzers' belief in a candidate: its hypothesis's score, halved for each remedy
    ranked before it for the same hypothesis; an escalation gets a small share."""
    cands = ctx.analysis.candidates
    c = cands[index]
    if c.action.kind is ActionKind.ESCALATE or c.hypothesis_index is None:
        return 0.05
    score = ctx.analysis.hypotheses[c.hypothesis_index].score
    before = sum(
        1
        for j in range(index)
        if cands[j].hypothesis_index == c.hypothesis_index and j not in ctx.tried
    )
    return max(score, 0.01) * 0.5**before


def specialist(agent: str) -> Any:
    """The node of ``agent`` (remediation, capacity, placement): choose among its candidates."""

    def node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = runtime.context
        cands = ctx.analysis.candidates
        shown = _for(ctx, state.get("hypothesis"))[: MAX_SHOWN - 1]
        shown += [i for i, c in enumerate(cands) if c.action.kind is ActionKind.ESCALATE][:1]
        rng = random.Random(f"{ctx.seed}:{ctx.incident.id}:{sorted(ctx.tried)}")
        rng.shuffle(shown)
        prompt = option_prompt(
            agent, ctx.incident.services, ctx.analysis.hypotheses, [cands[i] for i in shown]
        )
        prior = {o: _prior(ctx, i) for o, i in zip(prompt.options, shown, strict=True)}
        start = "verification_failed" if ctx.verification_failed else None
        routed = ctx.router.choose(prompt, prior, start_reason=start)
        return {
            "shown": shown,
            "prompt": {
                "system": prompt.system,
                "user": prompt.user,
                "options": list(prompt.options),
                "agent": agent,
                "prior": prior,
            },
            **_outcome(state, routed, shown, cands),
            "trace": [
                *state.get("trace", []),
                f"{agent}: {routed.letter or 'to a person'} ({routed.tier})",
            ],
        }

    node.__name__ = agent
    return node


def _outcome(
    state: AgentState, routed: Any, shown: list[int], cands: list[Candidate]
) -> dict[str, Any]:
    calls = [*state.get("calls", []), *(c.model_dump(mode="json") for c in routed.calls)]
    if routed.letter is None:  # no tier left: the human queue, through the escalation offered
        escalate = [k for k, i in enumerate(shown) if cands[i].action.kind is ActionKind.ESCALATE]
        chosen = escalate[0] if escalate else None
    else:
        chosen = "ABCDEFGH".index(routed.letter)
    return {
        "chosen": chosen,
        "tier": str(routed.tier),
        "model": routed.model,
        "confidence": routed.confidence,
        "calls": calls,
        "escalation_reason": state.get("escalation_reason") or routed.escalation_reason,
    }


def guard(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """A guardrail rule: a risky action the local tier chose goes to the next tier too; an
    action the guardrails want a person for is marked ``pending`` for the approval node."""
    update = _second_opinion(state, runtime.context)
    merged = {**state, **update}
    chosen, shown = merged.get("chosen"), merged.get("shown", [])
    pending = None
    if chosen is not None:
        action = runtime.context.analysis.candidates[shown[chosen]].action
        if action.kind is not ActionKind.ESCALATE and runtime.context.needs_person(action.kind):
            pending = {
                "incident": state.get("incident_id"),
                "action": str(action.kind),
                "target": str(action.target),
                "key": action.idempotency_key,
            }
    return {**update, "pending": pending}


def _second_opinion(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    chosen, shown = state.get("chosen"), state.get("shown", [])
    if chosen is None or state.get("tier") != "local" or len(ctx.router.tiers) < 2:
        return {}
    candidate = ctx.analysis.candidates[shown[chosen]]
    if candidate.risk < ctx.guard_risk or candidate.action.kind is ActionKind.ESCALATE:
        return {}
    p = state["prompt"]
    from ..llm import ChoicePrompt

    prompt = ChoicePrompt(p["system"], p["user"], tuple(p["options"]), p["agent"])
    routed = ctx.router.choose(prompt, p["prior"], start_reason="guardrail")
    update = _outcome(state, routed, shown, ctx.analysis.candidates)
    update["escalation_reason"] = state.get("escalation_reason") or "guardrail"
    update["trace"] = [
        *state.get("trace", []),
        f"guard: risk {candidate.risk:.1f} put to {routed.tier}",
    ]
    return update


def approval(state: AgentState) -> dict[str, Any]:
    """Pause for a person where the guardrails want one; resumed with approved/rejected.

    Reads the state alone, so any process holding the checkpoint can resume it."""
    pending = state.get("pending")
    if not pending:
        return {"approval": None}
    answer = interrupt(pending)
    verdict = "approved" if answer in (True, "approved") else "rejected"
    return {"approval": verdict, "trace": [*state.get("trace", []), f"approval: {verdict}"]}


def finish(state: AgentState) -> dict[str, Any]:
    """The supervisor closes the run: done, or handed to a person."""
    rejected = state.get("approval") == "rejected"
    done = "handed to a person" if rejected or state.get("chosen") is None else "done"
    return {"trace": [*state.get("trace", []), f"supervisor: {done}"]}
