"""Analysis: the learned topology, root-cause hypotheses and candidate actions for incidents.

``Analyzer.observe(view)`` every tick; ``analyse(signals, context)`` (or
``Analyzer.analyse(signals)``) for an incident. See docs/analysis.md.
"""

from .analyse import Analysis, Analyzer, analyse, localize
from .candidates import build_candidates, size_replicas
from .causes import LABELS, Cause, Finding
from .cluster import (
    ClusterReader,
    ContainerSpec,
    KubernetesReader,
    NodeInfo,
    PodInfo,
    RevisionInfo,
    ServiceInfo,
    ServicePortInfo,
    WorkloadInfo,
)
from .context import AnalysisConfig, AnalysisContext, EventWindow
from .facts import Facts, Stat
from .logs import LogPattern, LogReader, LogSummary, classify, summarise, template
from .topology import INGRESS, LearnedTopology

__all__ = [
    "INGRESS",
    "LABELS",
    "Analysis",
    "AnalysisConfig",
    "AnalysisContext",
    "Analyzer",
    "Cause",
    "ClusterReader",
    "ContainerSpec",
    "EventWindow",
    "Facts",
    "Finding",
    "KubernetesReader",
    "LearnedTopology",
    "LogPattern",
    "LogReader",
    "LogSummary",
    "NodeInfo",
    "PodInfo",
    "RevisionInfo",
    "ServiceInfo",
    "ServicePortInfo",
    "Stat",
    "WorkloadInfo",
    "analyse",
    "build_candidates",
    "classify",
    "localize",
    "size_replicas",
    "summarise",
    "template",
]
