"""What every model tier answers: a choice among lettered options, with its log-probabilities.

A :class:`ChoicePrompt` is a fixed prefix (instructions, reused between calls) and the case's
text, with options labelled ``A``, ``B``, … — letters whose first tokens differ, so the
log-probability of each option is the probability of its letter as the answer's first token.
A tier returns a :class:`ModelAnswer`; the margin (best minus second-best log-probability,
over the offered letters) is the confidence the router compares with its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controlplane import Tier

__all__ = ["LETTERS", "ChoicePrompt", "ModelAnswer", "ModelTier", "margin_of", "softmax"]

LETTERS = "ABCDEFGH"
"""Option labels: at most eight options a prompt (the analyzers offer fewer)."""


@dataclass(frozen=True)
class ChoicePrompt:
    """A question with lettered options: ``system`` (fixed) and ``user`` (this case).

    ``options`` are the letters offered, in the order shown; ``agent`` names who asks.
    """

    system: str
    user: str
    options: tuple[str, ...]
    agent: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.options) <= len(LETTERS):
            raise ValueError(
                f"a prompt offers 1 to {len(LETTERS)} options, not {len(self.options)}"
            )
        if any(o not in LETTERS for o in self.options) or len(set(self.options)) != len(
            self.options
        ):
            raise ValueError(f"options must be distinct letters of {LETTERS!r}: {self.options}")

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


@dataclass(frozen=True)
class ModelAnswer:
    """A tier's answer: the letter chosen and the log-probability of every offered letter
    (normalised over them; empty when the endpoint gives none)."""

    letter: str
    logprobs: Mapping[str, float]
    model: str
    prompt_tokens: int
    output_tokens: int
    latency_s: float
    raw: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def margin(self) -> float | None:
        return margin_of(self.logprobs)


def softmax(logits: Mapping[str, float]) -> dict[str, float]:
    """Log-probabilities normalised over the given keys."""
    if not logits:
        return {}
    top = max(logits.values())
    total = sum(math.exp(v - top) for v in logits.values())
    return {k: v - top - math.log(total) for k, v in logits.items()}


def margin_of(logprobs: Mapping[str, float]) -> float | None:
    """Best minus second-best log-probability; ``inf`` with one option, ``None`` with none."""
    if not logprobs:
        return None
    ranked = sorted(logprobs.values(), reverse=True)
    return math.inf if len(ranked) == 1 else ranked[0] - ranked[1]


class ModelTier(Protocol):
    """One model endpoint. ``answer`` raises ``LLMUnavailable`` (timeout, connection, 5xx)
    or ``InvalidModelOutput`` (no offered letter in the answer)."""

    tier: Tier
    model: str
    egress: bool
    """Whether prompts leave this machine (they are redacted first)."""

    def answer(self, prompt: ChoicePrompt) -> ModelAnswer: ...

    def cost(self, prompt_tokens: int, output_tokens: int) -> float: ...

    def estimate_tokens(self, prompt: ChoicePrompt) -> int: ...


def pick(logprobs: Mapping[str, float], options: Sequence[str]) -> str:
    """The offered letter with the highest log-probability (ties: the first shown)."""
    return max(options, key=lambda o: (logprobs.get(o, -math.inf), -options.index(o)))
