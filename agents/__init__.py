"""Agents: analysis, decision policies, LLM routing, specialists, the verifier and chat."""

__all__: list[str] = []
