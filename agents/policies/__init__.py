"""Policies: one interface (incident + analysis in, decision out) for every way of deciding.

``noop`` never acts; ``threshold`` is what users run today (HPA-style reactive CPU scaling and a
restart of crashed workloads); ``rules`` takes the analyzers' best untried candidate. The
model-based policies plug into the same :class:`Policy` protocol.
"""

from agents.policies.base import Policy, PolicyContext, make_policy, tried_key
from agents.policies.simple import NoopPolicy, RulesPolicy, ThresholdPolicy

__all__ = [
    "NoopPolicy",
    "Policy",
    "PolicyContext",
    "RulesPolicy",
    "ThresholdPolicy",
    "make_policy",
    "tried_key",
]
