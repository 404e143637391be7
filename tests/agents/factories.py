"""Hand-built analyses and a scripted model tier for the agents' tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agents.analysis import Analysis
from agents.llm import ChoicePrompt, ModelAnswer, softmax
from controlplane import (
    ActionKind,
    ActionRequest,
    Candidate,
    DesiredState,
    DrainState,
    EscalationState,
    Evidence,
    FaultLabel,
    FaultType,
    Hypothesis,
    Incident,
    InvalidModelOutput,
    LLMUnavailable,
    ReplicasState,
    RestartState,
    RevisionState,
    SystemLevel,
    TargetKind,
    TargetRef,
    Tier,
)

T0 = 1_700_000_000.0
NS = "shop"


def incident(*services: str) -> Incident:
    return Incident(services=list(services) or ["search"], namespace=NS, opened_at=T0)


def target(name: str, kind: TargetKind = TargetKind.DEPLOYMENT) -> TargetRef:
    namespace = None if kind is TargetKind.NODE else NS
    return TargetRef(kind=kind, namespace=namespace, name=name)


def candidate(
    kind: ActionKind,
    name: str,
    desired: DesiredState,
    hypothesis: int | None,
    *,
    risk: float = 0.2,
    tkind: TargetKind = TargetKind.DEPLOYMENT,
) -> Candidate:
    request = ActionRequest(
        kind=kind,
        target=target(name, tkind),
        desired=desired,
        reason="test",
        decided_by="analysis",
        incident_id="inc-1",
        created_at=T0,
    )
    return Candidate(
        action=request, expected_effect=f"{name} fixed", risk=risk, hypothesis_index=hypothesis
    )


def hypothesis(name: str, score: float, tkind: TargetKind = TargetKind.DEPLOYMENT) -> Hypothesis:
    return Hypothesis(
        target=target(name, tkind),
        label=FaultLabel(system_level=SystemLevel.APPLICATION, fault_type=FaultType.CODE_DEFECT),
        score=score,
        evidence=[Evidence(name="error ratio", value=0.4, baseline=0.001)],
        summary=f"{name} broke",
    )


def escalation() -> Candidate:
    return candidate(ActionKind.ESCALATE, "search", EscalationState(reason="ask"), None, risk=0.0)


def bad_release(second_score: float = 0.4, rollback_risk: float = 0.4) -> Analysis:
    """search's new revision fails (0.92); a restart of search and of its caller as lesser."""
    return Analysis(
        at=T0,
        onset=T0 - 60,
        hypotheses=[hypothesis("search", 0.92), hypothesis("frontend", second_score)],
        candidates=[
            candidate(
                ActionKind.ROLLBACK, "search", RevisionState(revision=3), 0, risk=rollback_risk
            ),
            candidate(
                ActionKind.RESTART, "search", RestartState(restarted_at="2023-11-14T22:13:20Z"), 0
            ),
            candidate(
                ActionKind.RESTART, "frontend", RestartState(restarted_at="2023-11-14T22:13:20Z"), 1
            ),
            escalation(),
        ],
    )


def saturated() -> Analysis:
    return Analysis(
        at=T0,
        onset=T0 - 60,
        hypotheses=[hypothesis("search", 0.9)],
        candidates=[
            candidate(ActionKind.SCALE, "search", ReplicasState(replicas=4), 0),
            escalation(),
        ],
    )


def failing_node() -> Analysis:
    return Analysis(
        at=T0,
        onset=T0 - 60,
        hypotheses=[hypothesis("node-2", 0.9, TargetKind.NODE)],
        candidates=[
            candidate(ActionKind.DRAIN, "node-2", DrainState(), 0, tkind=TargetKind.NODE, risk=0.6),
            escalation(),
        ],
    )


@dataclass
class ScriptedTier:
    """A model tier that answers from a script: per agent, a log-probability per option
    *position* (so the answer follows the candidates whatever order they are shown in), or an
    exception to raise. Records the prompts it saw."""

    tier: Tier
    model: str = "scripted"
    egress: bool = False
    by_position: Mapping[str, Sequence[float]] = field(default_factory=dict)
    prefer: str | None = None
    """Prefer the option whose text contains this (overrides ``by_position``)."""
    strength: float = 3.0
    fail: type[Exception] | None = None
    seen: list[ChoicePrompt] = field(default_factory=list)

    def answer(self, prompt: ChoicePrompt) -> ModelAnswer:
        self.seen.append(prompt)
        if self.fail is LLMUnavailable:
            raise LLMUnavailable("scripted outage")
        if self.fail is InvalidModelOutput:
            raise InvalidModelOutput("scripted garbage")
        lines = {
            ln[0]: ln
            for ln in prompt.user.splitlines()
            if ln[:2] in {f"{o}." for o in prompt.options}
        }
        if self.prefer is not None:
            raw = {
                o: self.strength if self.prefer in lines.get(o, "") else 0.0 for o in prompt.options
            }
        else:
            values = self.by_position.get(prompt.agent, [0.0] * len(prompt.options))
            raw = {
                o: values[i] if i < len(values) else -math.inf for i, o in enumerate(prompt.options)
            }
        logprobs = softmax(raw)
        letter = max(prompt.options, key=lambda o: logprobs[o])
        return ModelAnswer(letter, logprobs, self.model, 100, 1, 0.01)

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return 0.0 if self.tier is Tier.LOCAL else (prompt_tokens + output_tokens) * 1e-6

    def estimate_tokens(self, prompt: ChoicePrompt) -> int:
        return 100
