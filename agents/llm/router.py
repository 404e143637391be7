"""The router: the local tier first, the next tier on escalation, a person when none is left.

For one :class:`~agents.llm.tier.ChoicePrompt` the router asks each tier in turn and stops at
the first valid answer it is confident in. It goes on past a tier when:

* the tier is **unavailable** (timeout, connection error, 5xx) or its circuit is open;
* its output is **invalid** (not one of the offered letters);
* its **confidence is low**: the margin between the best and second-best option's
  log-probability (after adding the analyzers' prior, weighted by ``prior_weight``) is under
  ``min_margin``;
* the **spend limit** of the next tier's hour would be exceeded (that tier is skipped);
* the caller **starts past the local tier**: the last action failed verification, or a guardrail
  rule wants a stronger tier for this action.

With no tier left the answer is ``None``: the incident goes to the human approval queue.
Prompts to a tier that leaves the machine (``egress``) are redacted first. Every call, made or
skipped, is returned as a :class:`~controlplane.domain.ModelCall` and counted in
:class:`~agents.llm.metrics.LLMMetrics`; escalations caused by the model and those a rule
mandated are counted apart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from controlplane import InvalidModelOutput, LLMUnavailable, ModelCall, Tier

from .egress import CircuitBreaker, Redactor, SpendGuard
from .metrics import LLMMetrics
from .tier import ChoicePrompt, ModelAnswer, ModelTier, margin_of, pick, softmax

__all__ = ["RULE_REASONS", "Routed", "Router", "TierSlot"]

log = logging.getLogger(__name__)

RULE_REASONS = frozenset({"verification_failed", "guardrail", "spend_limit", "circuit_open"})
"""Escalation reasons a rule mandates (the rest are the model's own: low confidence, invalid
output, unavailable)."""


@dataclass
class TierSlot:
    """A tier with its guards: a circuit breaker, and for a paid tier a spend limit."""

    endpoint: ModelTier
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    spend: SpendGuard | None = None


@dataclass(frozen=True)
class Routed:
    """The router's answer: a letter and who gave it, or ``None`` (the human queue)."""

    letter: str | None
    tier: Tier
    model: str | None
    confidence: float | None
    calls: tuple[ModelCall, ...]
    escalation_reason: str | None = None
    """The first reason the router went past a tier (``None``: the first tier asked decided)."""

    @property
    def to_human(self) -> bool:
        return self.letter is None


class Router:
    """Asks ``tiers`` in order (local first). ``min_margin`` in nats; ``prior_weight`` scales
    the analyzers' log-prior added to each tier's log-probabilities (0: the model alone)."""

    def __init__(
        self,
        tiers: Sequence[TierSlot],
        *,
        min_margin: float = 1.0,
        prior_weight: float = 1.0,
        redactor: Redactor | None = None,
        metrics: LLMMetrics | None = None,
    ) -> None:
        if not tiers:
            raise ValueError("a router needs at least one tier")
        if min_margin < 0 or prior_weight < 0:
            raise ValueError("min_margin and prior_weight must not be negative")
        self.tiers = list(tiers)
        self.min_margin, self.prior_weight = min_margin, prior_weight
        self.redactor = redactor or Redactor()
        self.metrics = metrics or LLMMetrics.default()

    @property
    def names(self) -> list[str]:
        return [f"{s.endpoint.tier}:{s.endpoint.model}" for s in self.tiers]

    def choose(
        self,
        prompt: ChoicePrompt,
        prior: Mapping[str, float] | None = None,
        *,
        start_reason: str | None = None,
    ) -> Routed:
        """Route one prompt. ``prior``: the analyzers' probability per option letter.
        ``start_reason`` (a :data:`RULE_REASONS` member) skips the first tier."""
        calls: list[ModelCall] = []
        reason: str | None = None
        slots = self.tiers
        if start_reason is not None and len(slots) > 1:
            reason = start_reason
            self._escalated(start_reason)
            slots = slots[1:]
        for slot in slots:
            endpoint = slot.endpoint
            skip = self._skip(slot, prompt)
            if skip is not None:
                calls.append(
                    ModelCall(
                        tier=endpoint.tier,
                        model=endpoint.model,
                        agent=prompt.agent,
                        outcome="skipped",
                        escalation_reason=skip,
                        error=skip,
                    )
                )
                reason = reason or skip
                self._record(calls[-1], skip)
                continue
            sent = self._redacted(prompt) if endpoint.egress else prompt
            try:
                answer = endpoint.answer(sent)
            except (LLMUnavailable, OSError, RuntimeError) as exc:
                # RuntimeError/OSError: an in-process model or a socket failing below the SDK;
                # the breaker must hear of every failure, or a half-open tier stays shut
                slot.breaker.failure()
                calls.append(
                    ModelCall(
                        tier=endpoint.tier,
                        model=endpoint.model,
                        agent=prompt.agent,
                        outcome="unavailable",
                        escalation_reason="unavailable",
                        error=str(exc)[:300],
                    )
                )
                reason = reason or "unavailable"
                self._record(calls[-1], "unavailable")
                continue
            except InvalidModelOutput as exc:
                slot.breaker.success()  # it answered; the answer was the problem
                calls.append(
                    ModelCall(
                        tier=endpoint.tier,
                        model=endpoint.model,
                        agent=prompt.agent,
                        outcome="invalid",
                        escalation_reason="invalid_output",
                        error=str(exc)[:300],
                    )
                )
                reason = reason or "invalid_output"
                self._record(calls[-1], "invalid_output")
                continue
            slot.breaker.success()
            cost = endpoint.cost(answer.prompt_tokens, answer.output_tokens)
            if slot.spend is not None:
                slot.spend.record(cost)
            letter, scores = self._combine(answer, prompt, prior)
            margin = margin_of(scores)
            confident = margin is None or margin >= self.min_margin
            call = ModelCall(
                tier=endpoint.tier,
                model=answer.model,
                agent=prompt.agent,
                outcome="ok" if confident else "low_confidence",
                prompt_tokens=answer.prompt_tokens,
                output_tokens=answer.output_tokens,
                latency_s=answer.latency_s,
                cost_usd=cost,
                margin=None if margin is None or math.isinf(margin) else round(margin, 4),
                escalation_reason=None if confident else "low_confidence",
            )
            calls.append(call)
            if confident:
                self._record(call, None)
                return Routed(
                    letter,
                    endpoint.tier,
                    answer.model,
                    math.exp(scores[letter]) if scores else None,
                    tuple(calls),
                    reason,
                )
            reason = reason or "low_confidence"
            self._record(call, "low_confidence")
        return Routed(None, Tier.HUMAN, None, None, tuple(calls), reason or "no_tier")

    def _skip(self, slot: TierSlot, prompt: ChoicePrompt) -> str | None:
        # the spend check first: a half-open breaker's one trial call must be made once allowed
        if slot.spend is not None:
            estimate = slot.endpoint.cost(slot.endpoint.estimate_tokens(prompt), 16)
            if not slot.spend.allows(estimate):
                return "spend_limit"
        if not slot.breaker.allow():
            return "circuit_open"
        return None

    def _redacted(self, prompt: ChoicePrompt) -> ChoicePrompt:
        return replace(
            prompt,
            system=self.redactor.redact(prompt.system),
            user=self.redactor.redact(prompt.user),
        )

    def _combine(
        self, answer: ModelAnswer, prompt: ChoicePrompt, prior: Mapping[str, float] | None
    ) -> tuple[str, dict[str, float]]:
        """The letter and log-scores after adding the weighted log-prior (when there are
        log-probabilities; an endpoint without them gives its letter, no margin)."""
        if not answer.logprobs:
            return answer.letter, {}
        if not prior or self.prior_weight == 0:
            scores = dict(answer.logprobs)
        else:
            scores = softmax(
                {
                    o: answer.logprobs.get(o, -30.0)
                    + self.prior_weight * math.log(max(prior.get(o, 0.0), 1e-6))
                    for o in prompt.options
                }
            )
        return pick(scores, prompt.options), scores

    def _record(self, call: ModelCall, escalated: str | None) -> None:
        self.metrics.record(call)
        if escalated is not None:
            self._escalated(escalated)

    def _escalated(self, reason: str) -> None:
        self.metrics.escalated(reason, "rule" if reason in RULE_REASONS else "model")
