"""The fault library of the testbed: faults with documented ground truth, and their injection.

See ``docs/faults.md`` (generated from :data:`FAULTS`) for every fault's behaviour, symptoms,
root cause, AIOpsLab-style label and mitigations.
"""

from .behaviour import Behaviours, Rule
from .engine import FaultEngine, chaos_to_fault, parse_duration, parse_target
from .library import FAULTS
from .model import (
    FAULT_TYPES,
    MITIGATIONS,
    SYSTEM_LEVELS,
    ActiveFault,
    FaultDef,
    FaultError,
    Strength,
    Target,
)

__all__ = [
    "FAULTS",
    "FAULT_TYPES",
    "MITIGATIONS",
    "SYSTEM_LEVELS",
    "ActiveFault",
    "Behaviours",
    "FaultDef",
    "FaultEngine",
    "FaultError",
    "Rule",
    "Strength",
    "Target",
    "chaos_to_fault",
    "parse_duration",
    "parse_target",
]
