"""Policies: one interface (incident + analysis in, decision out) for every way of deciding.

``noop`` never acts; ``threshold`` is what users run today (HPA-style reactive CPU scaling and a
restart of crashed workloads); ``rules`` takes the analyzers' best untried candidate; ``local``,
``hybrid`` and ``cloud`` decide with the specialists' graph and a router of model tiers
(:class:`AgentPolicy`, built lazily: importing this package loads no model).
"""

from agents.policies.base import MODEL_POLICIES, Policy, PolicyContext, make_policy, tried_key
from agents.policies.simple import NoopPolicy, RulesPolicy, ThresholdPolicy

__all__ = [
    "MODEL_POLICIES",
    "NoopPolicy",
    "Policy",
    "PolicyContext",
    "RulesPolicy",
    "ThresholdPolicy",
    "make_policy",
    "tried_key",
]
