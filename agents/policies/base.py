"""The policy interface the loop and the evaluation harness share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from controlplane.domain import ActionKind, ActionRequest, BatchState, Decision, Incident
from controlplane.exceptions import ConfigError
from telemetry import ClusterView

from ..analysis import Analysis

if TYPE_CHECKING:
    from controlplane.settings import Settings

__all__ = ["MODEL_POLICIES", "Policy", "PolicyContext", "make_policy", "tried_key"]


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may read besides the incident and its analysis.

    ``tried``: idempotency keys of actions already tried for this incident (refused, failed or
    undone), which a policy must not choose again.
    """

    view: ClusterView
    now: float
    tried: frozenset[str] = field(default_factory=frozenset)

    def was_tried(self, action: ActionRequest) -> bool:
        """Whether ``action`` (or, for a restart or pod deletion, one like it) was tried."""
        return action.idempotency_key in self.tried or tried_key(action) in self.tried


def tried_key(action: ActionRequest) -> str:
    """What marks an action as tried besides its idempotency key: a restart or a pod deletion
    carries a fresh timestamp or uid each time, so it counts per kind and target (a batch: and
    the Deployments of its steps)."""
    if isinstance(action.desired, BatchState):
        return f"{action.kind} {action.target} {','.join(s.name for s in action.desired.steps)}"
    return f"{action.kind} {action.target}"


class Policy(Protocol):
    """Decides what to do about one incident."""

    name: str

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        """A decision: the candidates offered (in order) and the one chosen (or none)."""
        ...


MODEL_POLICIES = ("local", "hybrid", "cloud")
"""The policies that decide with language models (the specialists' graph)."""


def make_policy(
    name: str,
    settings: Settings | None = None,
    *,
    needs_person: Callable[[ActionKind], bool] | None = None,
    checkpointer: Any = None,
) -> Policy:
    """The policy called ``name``: ``noop``, ``threshold``, ``rules``, or a model-based one
    (``local``, ``hybrid``, ``cloud``) wired from ``settings``.

    Raises :class:`ConfigError` for an unknown name or a model policy whose endpoint is not
    configured (``hybrid`` and ``cloud`` need ``AIOPS_LLM_CLOUD_URL``).
    """
    from agents.policies.simple import NoopPolicy, RulesPolicy, ThresholdPolicy

    known: dict[str, Callable[[], Policy]] = {
        "noop": NoopPolicy,
        "threshold": ThresholdPolicy,
        "rules": RulesPolicy,
    }
    if name in MODEL_POLICIES:
        from agents.llm import build_router
        from agents.policies.agent import AgentPolicy
        from controlplane.settings import load_settings

        settings = settings or load_settings()
        router = build_router(name, settings)  # type: ignore[arg-type]
        return AgentPolicy(
            name,
            router,
            seed=settings.llm_seed,
            needs_person=needs_person,
            checkpointer=checkpointer,
        )
    try:
        return known[name]()
    except KeyError:
        every = ", ".join([*sorted(known), *MODEL_POLICIES])
        raise ConfigError(f"unknown policy {name!r} (known: {every})") from None
