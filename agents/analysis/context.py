"""What an analysis reads: the telemetry of the current tick and its history, the learned
topology, recent Kubernetes events, and (optionally) pod logs and the cluster's objects.

:class:`EventWindow` keeps the events the collector delivers tick by tick
(``ClusterView.events`` holds only those new or changed since the previous tick) for a horizon,
so an analysis sees the rollout that happened five minutes before an incident opened.
:class:`AnalysisConfig` holds the windows and thresholds the rules use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from telemetry import ClusterView, KubeEvent, SeriesStore

from .cluster import ClusterReader
from .logs import LogReader
from .topology import LearnedTopology

__all__ = ["AnalysisConfig", "AnalysisContext", "EventWindow"]


class EventWindow:
    """The Kubernetes events of the last ``horizon_s`` seconds, one entry per event object
    (a repeated event folded by the API server keeps its latest count and time)."""

    def __init__(self, horizon_s: float = 3600.0) -> None:
        if horizon_s <= 0:
            raise ValueError("horizon_s must be positive")
        self.horizon_s = horizon_s
        self._events: dict[str, KubeEvent] = {}
        self.time: float | None = None

    def update(self, view: ClusterView) -> None:
        """Take one tick's new or changed events; forget those older than the horizon."""
        self.time = view.time
        for event in view.events:
            self._events[event.uid or f"{event.namespace}/{event.name}"] = event
        oldest = view.time - self.horizon_s
        self._events = {
            key: e for key, e in self._events.items() if (e.last_seen or view.time) >= oldest
        }

    def events(self, since: float | None = None) -> list[KubeEvent]:
        """Events last seen at or after ``since`` (all kept when None), oldest first."""
        kept = [e for e in self._events.values() if since is None or (e.last_seen or 0.0) >= since]
        return sorted(kept, key=lambda e: (e.last_seen or 0.0, e.namespace, e.name))

    def __len__(self) -> int:
        return len(self._events)


@dataclass(frozen=True)
class AnalysisConfig:
    """Windows (seconds) and thresholds of the localization rules and candidate sizing."""

    tick_s: float = 15.0
    """The collector's interval."""
    rate_window_s: float = 60.0
    """The collector's rate window: a value describes the window that ends at its tick."""
    baseline_s: float = 900.0
    """History before the onset that counts as normal."""
    long_baseline_s: float = 3600.0
    """How far back slow changes (demand growth) are compared with."""
    change_before_s: float = 600.0
    """A change (rollout, cordon, scale) this long before the onset may have caused it."""
    change_after_s: float = 60.0
    """... or this long after the first signal (the signal can precede the event's delivery)."""
    max_log_services: int = 8
    """Services whose logs an analysis reads, at most."""
    log_tail_lines: int = 200
    max_hypotheses: int = 10
    candidate_hypotheses: int = 3
    """Hypotheses (from the top) that get candidate actions."""
    target_utilisation: float = 0.6
    """Scale-outs aim at this share of the CPU limit (an autoscaler's target)."""
    max_scale_factor: float = 4.0
    """A scale-out asks for at most this many times the current replicas."""
    max_replicas: int = 20
    hold_s: float = 1800.0
    """A remedy should hold this long: a restart that a memory leak undoes sooner yields to a
    memory limit sized to last it."""
    max_memory_factor: float = 4.0
    """A raised memory limit is at most this many times the current one."""


@dataclass
class AnalysisContext:
    """Everything an analysis may read. Nothing here reaches the testbed's ground truth."""

    view: ClusterView
    """The current tick's merged view."""
    store: SeriesStore
    """The history of every series (``ClusterView.series()`` names)."""
    topology: LearnedTopology
    events: Sequence[KubeEvent] = ()
    """Recent events (an :class:`EventWindow`'s)."""
    logs: LogReader | None = None
    cluster: ClusterReader | None = None
    """For candidates: the cluster's current objects (revisions, ports, pods, nodes)."""
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    incident_id: str | None = None
    decided_by: str = "analysis"

    @property
    def now(self) -> float:
        return self.view.time
