"""The model-free policies: ``noop``, ``threshold`` and ``rules``."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from controlplane.domain import (
    ActionKind,
    ActionRequest,
    Candidate,
    Decision,
    Incident,
    ReplicasState,
    RestartState,
    TargetKind,
    TargetRef,
    Tier,
)

from ..analysis import Analysis
from .base import PolicyContext

__all__ = ["NoopPolicy", "RulesPolicy", "ThresholdPolicy"]


def _decision(
    policy: str, incident: Incident, candidates: list[Candidate], choice: int | None, now: float
) -> Decision:
    return Decision(
        incident_id=incident.id,
        agent=policy,
        policy=policy,
        tier=Tier.NONE,
        candidates=candidates,
        choice=choice,
        confidence=None if choice is None else 1.0,
        at=now,
    )


class NoopPolicy:
    """Never acts (the baseline every other policy must beat)."""

    name = "noop"

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        return _decision(self.name, incident, [], None, context.now)


class ThresholdPolicy:
    """What users run today: HPA-style CPU scaling and restarting crashing workloads.

    For each of the incident's services: CPU above ``high`` of its limit scales it out to
    ``ceil(replicas * cpu / target)`` (at most ``max_replicas``), as the Horizontal Pod
    Autoscaler's formula does; containers restarting get a rollout restart. The first such
    action is chosen; otherwise nothing is done. It reads only the current view.
    """

    name = "threshold"

    def __init__(self, high: float = 0.8, target: float = 0.6, max_replicas: int = 20) -> None:
        self.high, self.target, self.max_replicas = high, target, max_replicas

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        candidates: list[Candidate] = []
        stamp = datetime.fromtimestamp(context.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for svc in sorted(context.view.services.values(), key=lambda s: s.key):
            if svc.name not in incident.services:
                continue
            if incident.namespace is not None and svc.namespace != incident.namespace:
                continue
            target = TargetRef(kind=TargetKind.DEPLOYMENT, namespace=svc.namespace, name=svc.name)
            if svc.cpu_ratio > self.high and svc.replicas > 0:
                wanted = math.ceil(svc.replicas * svc.cpu_ratio / self.target)
                wanted = min(self.max_replicas, max(wanted, int(svc.replicas) + 1))
                why = f"CPU at {svc.cpu_ratio:.0%} of its limit (target {self.target:.0%})"
                effect = f"{svc.name} scaled to {wanted} replicas"
                candidates.append(
                    self._offer(
                        incident, context, target, ReplicasState(replicas=wanted), why, effect, 0.1
                    )
                )
            if svc.restarts > 0:
                why = f"{svc.restarts:g} container restarts in the last window"
                effect = f"{svc.name}'s pods replaced"
                candidates.append(
                    self._offer(
                        incident,
                        context,
                        target,
                        RestartState(restarted_at=stamp),
                        why,
                        effect,
                        0.2,
                    )
                )
        fresh = [c for c in candidates if not context.was_tried(c.action)]
        return _decision(self.name, incident, fresh, 0 if fresh else None, context.now)

    def _offer(
        self,
        incident: Incident,
        context: PolicyContext,
        target: TargetRef,
        desired: ReplicasState | RestartState,
        why: str,
        effect: str,
        risk: float,
    ) -> Candidate:
        kind = ActionKind.SCALE if isinstance(desired, ReplicasState) else ActionKind.RESTART
        request = ActionRequest(
            kind=kind,
            target=target,
            desired=desired,
            reason=why,
            decided_by=self.name,
            incident_id=incident.id,
            created_at=context.now,
        )
        return Candidate(action=request, expected_effect=effect, risk=risk)


class RulesPolicy:
    """The analyzers' best candidate not tried yet; escalation when nothing else is left."""

    name = "rules"

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        candidates = list(analysis.candidates)
        choice = None
        for i, candidate in enumerate(candidates):
            if context.was_tried(candidate.action):
                continue
            if candidate.action.kind is ActionKind.ESCALATE and i < len(candidates) - 1:
                continue  # escalation only when every other candidate has been tried
            choice = i
            break
        return _decision(self.name, incident, candidates, choice, context.now)
