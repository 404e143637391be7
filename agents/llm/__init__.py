"""Model tiers, the local→cloud router and their accounting.

* :class:`EmbeddedModel`: the bundled SmolLM2-135M-Instruct (llama-cpp-python, in process).
* :class:`OpenAIEndpoint`: any OpenAI-compatible server, local or cloud (the ``openai`` SDK).
* :class:`Router`: local first, the next tier on low confidence, invalid output, an unavailable
  tier, a failed verification or a guardrail rule; a person when none is left.
* :class:`Redactor`, :class:`SpendGuard`, :class:`CircuitBreaker`: what guards cloud egress.
* :class:`LLMMetrics`: Prometheus counters of calls, tokens, cost and escalations.

:func:`build_router` wires them from :class:`~controlplane.settings.Settings`.
"""

from .egress import CircuitBreaker, Redactor, SpendGuard
from .embedded import EmbeddedModel, bundled_model_path
from .endpoint import OpenAIEndpoint
from .metrics import LLMMetrics
from .router import RULE_REASONS, Routed, Router, TierSlot
from .tier import LETTERS, ChoicePrompt, ModelAnswer, ModelTier, margin_of, softmax
from .wiring import build_router, local_tier

__all__ = [
    "LETTERS",
    "RULE_REASONS",
    "ChoicePrompt",
    "CircuitBreaker",
    "EmbeddedModel",
    "LLMMetrics",
    "ModelAnswer",
    "ModelTier",
    "OpenAIEndpoint",
    "Redactor",
    "Routed",
    "Router",
    "SpendGuard",
    "TierSlot",
    "build_router",
    "bundled_model_path",
    "local_tier",
    "margin_of",
    "softmax",
]
