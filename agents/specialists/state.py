"""The graph's state (checkpointed, JSON-able) and its run context (not checkpointed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from controlplane import ActionKind, Incident

from ..analysis import Analysis
from ..llm import Router

__all__ = ["AgentContext", "AgentState", "Category"]

Category = Literal["fault", "capacity", "placement", "unknown"]


class AgentState(TypedDict, total=False):
    """What the specialists pass on. Indices point into the analysis's candidates."""

    incident_id: str
    category: Category
    hypothesis: int | None
    shown: list[int]
    prompt: dict[str, Any]
    chosen: int | None
    """Index into ``shown`` (``None``: nothing to choose)."""
    tier: str
    model: str | None
    confidence: float | None
    escalation_reason: str | None
    calls: list[dict[str, Any]]
    pending: dict[str, Any] | None
    """The action a person must approve (what the approval node pauses with), or ``None``."""
    approval: str | None
    """``None`` (not needed), ``approved`` or ``rejected``."""
    trace: list[str]


@dataclass(frozen=True)
class AgentContext:
    """What one run reads besides its state: the incident, its analysis, the router."""

    incident: Incident
    analysis: Analysis
    router: Router
    tried: frozenset[int] = frozenset()
    """Indices of candidates already tried (refused, failed or undone) for this incident."""
    seed: int = 0
    ambiguity: float = 0.1
    """Hypotheses within this score of the best are for the diagnosis agent to choose among."""
    guard_risk: float = 0.6
    """A local decision on an action this risky is put to the next tier (a guardrail rule)."""
    needs_person: Callable[[ActionKind], bool] = field(default=lambda kind: False)
    verification_failed: bool = False
