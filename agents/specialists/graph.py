"""The specialists' graph: triage → diagnosis → one specialist → guard → approval → finish."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .nodes import approval, diagnosis, finish, guard, specialist, triage
from .state import AgentContext, AgentState

__all__ = ["build_graph"]


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled graph (compile it with a checkpointer)."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("triage", triage)
    builder.add_node("diagnosis", diagnosis)
    for agent in ("remediation", "capacity", "placement"):
        builder.add_node(agent, specialist(agent))
        builder.add_edge(agent, "guard")
    builder.add_node("guard", guard)
    builder.add_node("approval", approval)
    builder.add_node("finish", finish)
    builder.add_edge(START, "triage")
    builder.add_edge("guard", "approval")
    builder.add_edge("approval", "finish")
    builder.add_edge("finish", END)
    return builder
