"""What a fault is: its definition (the documented ground truth) and an injected instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..clock import iso
from ..errors import TestbedError

if TYPE_CHECKING:
    from ..cluster import Cluster

SYSTEM_LEVELS = ("Hardware", "Operating System", "Virtualization", "Application")
FAULT_TYPES = (
    "Misconfiguration",
    "Code Defect",
    "Authentication Issue",
    "Network/Storage Issue",
    "Operation Error",
    "Dependency Problem",
)
#: The action vocabulary of the control plane's catalogue, used to name mitigations.
MITIGATIONS = (
    "scale",
    "restart",
    "delete_pod",
    "rollback",
    "set_resources",
    "cordon",
    "uncordon",
    "drain",
    "move",
    "revert_port",
    "noop",
    "escalate",
)
TargetKind = Literal["service", "node", "edge", "app"]
Injection = Literal["kubernetes", "chaos-mesh", "testbed"]


class FaultError(TestbedError, ValueError):
    """A fault cannot be injected as asked (unknown fault or target, bad strength)."""


@dataclass(frozen=True)
class Strength:
    default: float
    minimum: float
    maximum: float
    unit: str
    meaning: str


@dataclass(frozen=True)
class FaultDef:
    """A fault of the library: what it does, its symptoms, root cause, label and mitigations."""

    name: str
    title: str
    system_level: str
    fault_type: str
    target: TargetKind
    root: Literal["service", "pod", "node"]
    injection: Injection
    strength: Strength
    does: str
    symptoms: tuple[str, ...]
    symptom_within_s: float
    mitigations: tuple[str, ...]
    mitigation_notes: str
    apply: Callable[[Cluster, ActiveFault], None]
    revert: Callable[[Cluster, ActiveFault], None]
    tick: Callable[[Cluster, ActiveFault], None] | None = None
    self_healing: bool = False

    def __post_init__(self) -> None:
        assert self.system_level in SYSTEM_LEVELS, self.system_level
        assert self.fault_type in FAULT_TYPES, self.fault_type
        assert all(m in MITIGATIONS for m in self.mitigations), self.mitigations

    @property
    def label(self) -> dict[str, str]:
        return {"system_level": self.system_level, "fault_type": self.fault_type}

    def describe(self) -> dict[str, Any]:
        """The documented ground truth of this fault (public: no instance, no target)."""
        return {
            "name": self.name,
            "title": self.title,
            "label": self.label,
            "target": self.target,
            "root_cause": self.root,
            "injection": self.injection,
            "strength": {
                "default": self.strength.default,
                "min": self.strength.minimum,
                "max": self.strength.maximum,
                "unit": self.strength.unit,
                "meaning": self.strength.meaning,
            },
            "does": self.does,
            "symptoms": list(self.symptoms),
            "symptom_within_s": self.symptom_within_s,
            "mitigations": list(self.mitigations),
            "mitigation_notes": self.mitigation_notes,
            "self_healing": self.self_healing,
        }


@dataclass
class Target:
    """Where a fault strikes: a service, a node, a call edge, or a whole application."""

    namespace: str
    service: str | None = None
    node: str | None = None
    source: str | None = None
    destination: str | None = None

    def describe(self) -> dict[str, str]:
        out = {"namespace": self.namespace}
        for key in ("service", "node", "source", "destination"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class ActiveFault:
    """One injected fault: its definition, target, strength and timing, and what to undo."""

    id: str
    fault: FaultDef
    target: Target
    strength: float
    onset: float
    duration: float | None
    via: Injection
    state: Literal["scheduled", "active", "cleared"] = "scheduled"
    declared_only: bool = False
    source_object: str | None = None
    injected_at: float | None = None
    cleared_at: float | None = None
    root_name: str = ""
    undo: dict[str, Any] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        root = {"kind": self.fault.root, "namespace": self.target.namespace, "name": self.root_name}
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.fault.name,
            "label": self.fault.label,
            "root_cause": root,
            "target": self.target.describe(),
            "strength": self.strength,
            "onset": iso(self.onset),
            "onset_s": self.onset,
            "duration_s": self.duration,
            "state": self.state,
            "via": self.via,
            "mitigations": list(self.fault.mitigations),
        }
        if self.source_object:
            out["source_object"] = self.source_object
        if self.injected_at is not None:
            out["injected_at_s"] = self.injected_at
        if self.cleared_at is not None:
            out["cleared_at_s"] = self.cleared_at
        return out
