"""The LLM agents: one LangGraph graph of specialists (supervisor/triage, diagnosis,
remediation, capacity, placement, guard and approval), local model first.

:func:`build_graph` gives the uncompiled graph; :class:`~agents.policies.AgentPolicy` runs it as
a policy. See docs/agents.md.
"""

from .checkpoint import checkpointer_for
from .graph import build_graph
from .prompts import SYSTEMS, clean, hypothesis_prompt, option_prompt
from .state import AgentContext, AgentState

__all__ = [
    "SYSTEMS",
    "AgentContext",
    "AgentState",
    "build_graph",
    "checkpointer_for",
    "clean",
    "hypothesis_prompt",
    "option_prompt",
]
