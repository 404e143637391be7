"""Prometheus metrics of the model tiers: calls, tokens, latency, cost and escalations."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from controlplane import ModelCall

__all__ = ["LLMMetrics"]

_LOCK = threading.Lock()
_DEFAULT: LLMMetrics | None = None


class LLMMetrics:
    """Counters and a histogram in ``registry`` (the process's default registry unless given).

    Escalations carry ``kind``: ``model`` when the model's own answer caused them (low
    confidence, invalid output, the tier unavailable) and ``rule`` when a rule did (a failed
    verification, a guardrail, the spend limit or an open circuit).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.calls = Counter(
            "aiops_model_calls",
            "Model calls by tier, model and outcome.",
            ["tier", "model", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "aiops_model_tokens",
            "Model tokens by tier and direction (prompt, output).",
            ["tier", "direction"],
            registry=registry,
        )
        self.cost = Counter(
            "aiops_model_cost_usd", "Estimated model spend by tier.", ["tier"], registry=registry
        )
        self.latency = Histogram(
            "aiops_model_latency_seconds",
            "Model call latency by tier.",
            ["tier"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=registry,
        )
        self.escalations = Counter(
            "aiops_escalations",
            "Escalations past a tier, by reason and kind (model, rule).",
            ["reason", "kind"],
            registry=registry,
        )

    @classmethod
    def default(cls) -> LLMMetrics:
        """The process's one instance in the default registry."""
        global _DEFAULT
        with _LOCK:
            if _DEFAULT is None:
                _DEFAULT = cls()
            return _DEFAULT

    def record(self, call: ModelCall) -> None:
        tier = str(call.tier)
        self.calls.labels(tier, call.model, call.outcome).inc()
        if call.outcome == "skipped":
            return
        self.tokens.labels(tier, "prompt").inc(call.prompt_tokens)
        self.tokens.labels(tier, "output").inc(call.output_tokens)
        self.cost.labels(tier).inc(call.cost_usd)
        self.latency.labels(tier).observe(call.latency_s)

    def escalated(self, reason: str, kind: str) -> None:
        self.escalations.labels(reason, kind).inc()
