"""The kinds of root cause the rules recognise, their AIOpsLab-style labels, and a finding.

A :class:`Finding` is one rule's conclusion about one target: the cause, the target, a score in
[0, 1], the evidence and the details candidate generation needs (the pods a rule blames, the
nodes, the peer services). Findings become the domain's
:class:`~controlplane.domain.Hypothesis` once ranked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from controlplane import Evidence, FaultLabel, FaultType, SystemLevel, TargetRef

__all__ = ["LABELS", "Cause", "Finding"]


class Cause(StrEnum):
    NODE_DOWN = "node_down"
    NOISY_NEIGHBOUR = "noisy_neighbour"
    CORDONED = "cordoned"
    BAD_RELEASE = "bad_release"
    BAD_CONFIG = "bad_config"
    NODE_SELECTOR = "node_selector"
    CPU_LIMIT = "cpu_limit"
    SERVICE_PORT = "service_port"
    SCALED_DOWN = "scaled_down"
    POD_KILLED = "pod_killed"
    POD_FAILED = "pod_failed"
    MEMORY_LEAK = "memory_leak"
    CPU_HOG = "cpu_hog"
    NETWORK = "network"
    DB_AUTH = "db_auth"
    LOAD_SURGE = "load_surge"
    CRASHING = "crashing"
    FAILING = "failing"
    SLOW = "slow"


_H, _OS, _V, _A = (
    SystemLevel.HARDWARE,
    SystemLevel.OPERATING_SYSTEM,
    SystemLevel.VIRTUALIZATION,
    SystemLevel.APPLICATION,
)
_MIS, _BUG, _AUTH, _NET, _OPS, _DEP = (
    FaultType.MISCONFIGURATION,
    FaultType.CODE_DEFECT,
    FaultType.AUTHENTICATION_ISSUE,
    FaultType.NETWORK_STORAGE_ISSUE,
    FaultType.OPERATION_ERROR,
    FaultType.DEPENDENCY_PROBLEM,
)


def _label(level: SystemLevel, kind: FaultType) -> FaultLabel:
    return FaultLabel(system_level=level, fault_type=kind)


LABELS: Mapping[Cause, FaultLabel] = MappingProxyType(
    {
        Cause.NODE_DOWN: _label(_H, _OPS),
        Cause.NOISY_NEIGHBOUR: _label(_H, _DEP),
        Cause.CORDONED: _label(_V, _OPS),
        Cause.BAD_RELEASE: _label(_A, _BUG),
        Cause.BAD_CONFIG: _label(_A, _MIS),
        Cause.NODE_SELECTOR: _label(_V, _MIS),
        Cause.CPU_LIMIT: _label(_V, _MIS),
        Cause.SERVICE_PORT: _label(_V, _MIS),
        Cause.SCALED_DOWN: _label(_V, _OPS),
        Cause.POD_KILLED: _label(_V, _OPS),
        Cause.POD_FAILED: _label(_V, _OPS),
        Cause.MEMORY_LEAK: _label(_A, _BUG),
        Cause.CPU_HOG: _label(_OS, _OPS),
        Cause.NETWORK: _label(_OS, _NET),
        Cause.DB_AUTH: _label(_A, _AUTH),
        Cause.LOAD_SURGE: _label(_A, _OPS),
        Cause.CRASHING: _label(_A, _BUG),
        Cause.FAILING: _label(_A, _BUG),
        Cause.SLOW: _label(_OS, _OPS),
    }
)
"""The label each cause gets (the fault library's labelling scheme, after AIOpsLab's)."""


@dataclass
class Finding:
    """One rule's conclusion: ``cause`` at ``target`` with ``score``."""

    cause: Cause
    target: TargetRef
    score: float
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    service: str | None = None
    """The service (``namespace/name``) the target belongs to or is."""
    pods: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    """Other services involved: a network fault's destination, a database's clients, the
    saturated services of a load surge (most saturated first)."""

    @property
    def label(self) -> FaultLabel:
        return LABELS[self.cause]

    @property
    def key(self) -> tuple[str, str, str]:
        return (str(self.target), self.label.system_level, self.label.fault_type)
