"""The localization rules: each reads the :class:`~agents.analysis.facts.Facts` of an incident
and returns :class:`~agents.analysis.causes.Finding`\\ s with the evidence behind them.

The rules follow what practitioners check, in roughly this order (docs/analysis.md explains
each, with the evidence it needs and the score it gives):

- **nodes**: a node NotReady (or whose metrics vanished), a node whose CPU is eaten by something
  outside its pods (a noisy neighbour), nodes cordoned just before the onset;
- **recent changes**: a rollout of the troubled service just before the onset, read by what
  followed it (crashes: a bad configuration; unschedulable pods: a bad node selector; throttling
  under a lowered CPU limit: a bad limit; its own errors: a bad release); a scale to zero; pods
  killed or failing their readiness probes;
- **resources**: memory climbing to OOM kills (a leak), CPU throttling without more load (a CPU
  hog in the pod);
- **propagation along the call graph**: the deepest troubled service explains its callers; a
  call edge that fails or slows while its destination is healthy inside and its other callers
  are served well points at the network of the caller; every call into a service refused while
  its pods are Ready and idle points at its Service's port;
- **shared infrastructure**: a datastore all of whose clients fail after it restarted, their logs
  saying authentication failed;
- **load**: requests into the entry well above their baseline while services saturate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..causes import Finding
from ..facts import Facts
from .changes import change_rules
from .common import depth, internally_healthy, node_trouble
from .graph import graph_rules
from .load import load_rules
from .nodes import node_rules
from .propagation import propagation_rules
from .resources import resource_rules

__all__ = ["RULES", "depth", "internally_healthy", "node_trouble"]

RULES: tuple[Callable[[Facts], Iterable[Finding]], ...] = (
    node_rules,
    change_rules,
    resource_rules,
    graph_rules,
    load_rules,
    propagation_rules,
)
"""Every rule, in the order they run (the order does not change the ranking)."""
