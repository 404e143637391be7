"""The facts one analysis works from, gathered once: when the incident began, which series moved
from their baseline and how far, what changed in the cluster around the onset, and what the
suspects' logs say.

Values come from the :class:`~telemetry.SeriesStore`: a series' **baseline** is its median over
``baseline_s`` before the onset (ending one rate window before it, since a tick's value describes
the window that ends at the tick), and its **recent** values are those from the onset on.
Events are grouped by the workload or node they concern: a Pod's or ReplicaSet's event belongs
to its Deployment (the name up to the ReplicaSet hash), matched against the services telemetry
knows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from controlplane import Signal
from telemetry import KubeEvent

from .context import AnalysisContext
from .logs import LogSummary, summarise
from .topology import split_key

__all__ = ["Change", "Facts", "Stat"]

_SCALED = re.compile(r"Scaled (up|down) replica set (\S+) to (\d+)(?: from (\d+))?")


@dataclass(frozen=True)
class Stat:
    """One series around the onset: baseline median, and the recent values' summary."""

    base: float = math.nan
    last: float = math.nan
    mid: float = math.nan
    high: float = math.nan
    low: float = math.nan

    @property
    def known(self) -> bool:
        return math.isfinite(self.last)

    def rise(self) -> float:
        """How far the recent median is above the baseline (NaN when either is unknown)."""
        return self.mid - self.base

    def ratio(self) -> float:
        """Recent median over baseline (NaN when the baseline is not positive)."""
        if not (self.base > 0 and math.isfinite(self.mid)):
            return math.nan
        return self.mid / self.base


@dataclass(frozen=True)
class Change:
    """One event that changed a workload or node, with when it happened."""

    at: float
    reason: str
    subject: str
    """Service key (``namespace/name``) or node name."""
    obj: str
    """The involved object's name (a pod, a ReplicaSet, the node)."""
    message: str = ""
    count: int = 1
    first: float | None = None


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


class Facts:
    """Everything the rules ask about one incident, computed lazily and cached."""

    def __init__(self, signals: Sequence[Signal], ctx: AnalysisContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.now = ctx.now
        self.signals = sorted(signals, key=lambda s: (s.start, s.series))
        starts = [s.start for s in self.signals]
        self.onset = min(starts) if starts else self.now
        self.service_signals: dict[str, dict[str, Signal]] = {}
        self.edge_signals: dict[tuple[str, str], dict[str, Signal]] = {}
        self.node_signals: dict[str, dict[str, Signal]] = {}
        for signal in self.signals:
            self._index(signal)
        self._stats: dict[str, Stat] = {}
        self._logs: dict[str, LogSummary | None] = {}

    def _index(self, signal: Signal) -> None:
        parts = signal.series.split("/", 3)
        if len(parts) != 4:
            return
        kind, namespace, obj, metric = parts
        if kind == "service":
            self.service_signals.setdefault(f"{namespace}/{obj}", {})[metric] = signal
        elif kind == "edge" and ">" in obj:
            source, destination = obj.split(">", 1)
            key = (f"{namespace}/{source}", f"{namespace}/{destination}")
            self.edge_signals.setdefault(key, {})[metric] = signal
        elif kind == "node":
            self.node_signals.setdefault(obj, {})[metric] = signal

    # --- series -----------------------------------------------------------------------------

    def stat(self, series: str) -> Stat:
        cached = self._stats.get(series)
        if cached is not None:
            return cached
        store, cfg = self.ctx.store, self.config
        _, base = store.window(series, cfg.baseline_s, self.onset - cfg.rate_window_s)
        recent_s = self.now - self.onset + cfg.tick_s / 2
        _, recent = store.window(series, recent_s, self.now)
        base, recent = _finite(base), _finite(recent)
        stat = Stat(
            base=float(np.median(base)) if base.size else math.nan,
            last=float(recent[-1]) if recent.size else math.nan,
            mid=float(np.median(recent)) if recent.size else math.nan,
            high=float(recent.max()) if recent.size else math.nan,
            low=float(recent.min()) if recent.size else math.nan,
        )
        self._stats[series] = stat
        return stat

    def svc(self, key: str, metric: str) -> Stat:
        namespace, name = split_key(key)
        return self.stat(f"service/{namespace}/{name}/{metric}")

    def edge(self, source: str, destination: str, metric: str) -> Stat:
        namespace, src = split_key(source)
        return self.stat(f"edge/{namespace}/{src}>{split_key(destination)[1]}/{metric}")

    def node(self, name: str, metric: str) -> Stat:
        return self.stat(f"node/-/{name}/{metric}")

    def long_base(self, series: str) -> float:
        """The series' median over the oldest quarter of ``long_baseline_s`` before the onset."""
        cfg = self.config
        end = self.onset - 0.75 * cfg.long_baseline_s
        _, values = self.ctx.store.window(series, 0.25 * cfg.long_baseline_s, end)
        values = _finite(values)
        return float(np.median(values)) if values.size else math.nan

    # --- what is anomalous ------------------------------------------------------------------

    @cached_property
    def services(self) -> list[str]:
        """Every service the view or the topology knows (``namespace/name``), sorted."""
        known = set(self.ctx.view.services) | set(self.ctx.topology.services)
        return sorted(known)

    @cached_property
    def anomalous(self) -> set[str]:
        """Services with a signal of their own, or at the receiving end of an edge signal."""
        out = set(self.service_signals)
        out |= {destination for _, destination in self.edge_signals}
        return out

    def signal_metrics(self, key: str) -> set[str]:
        return set(self.service_signals.get(key, {}))

    def errors_up(self, key: str) -> bool:
        """Calls into ``key`` fail more than before (a signal, or two points of error ratio)."""
        if "error_ratio" in self.signal_metrics(key):
            return True
        stat = self.svc(key, "error_ratio")
        return stat.rise() >= 0.02 and stat.mid >= 0.02

    def latency_up(self, key: str) -> bool:
        if self.signal_metrics(key) & {"p99_ms", "p50_ms"}:
            return True
        stat = self.svc(key, "p99_ms")
        return stat.base > 0 and stat.mid >= max(stat.base * 1.5, stat.base + 20)

    def edge_errors_up(self, source: str, destination: str) -> bool:
        if "error_ratio" in self.edge_signals.get((source, destination), {}):
            return True
        stat = self.edge(source, destination, "error_ratio")
        return stat.rise() >= 0.02 and stat.mid >= 0.02

    def edge_latency_up(self, source: str, destination: str) -> bool:
        if "p99_ms" in self.edge_signals.get((source, destination), {}):
            return True
        stat = self.edge(source, destination, "p99_ms")
        return stat.base > 0 and stat.mid >= max(stat.base * 1.5, stat.base + 20)

    def troubled(self, key: str) -> bool:
        """Errors or latency up on the calls into ``key``."""
        return self.errors_up(key) or self.latency_up(key)

    # --- changes around the onset -----------------------------------------------------------

    @cached_property
    def changes(self) -> list[Change]:
        """Events from ``change_before_s`` before the onset to now, mapped to their subject."""
        since = self.onset - self.config.change_before_s
        out = []
        for event in self.ctx.events:
            at = event.last_seen if event.last_seen is not None else event.first_seen
            if at is None or at < since:
                continue
            subject = self._subject(event)
            if subject is None:
                continue
            out.append(
                Change(
                    at,
                    event.reason,
                    subject,
                    event.object_name,
                    event.message,
                    event.count,
                    event.first_seen,
                )
            )
        return sorted(out, key=lambda c: (c.at, c.subject, c.obj, c.reason))

    def _subject(self, event: KubeEvent) -> str | None:
        if event.kind == "Node":
            return event.object_name
        if event.kind == "Deployment":
            return f"{event.namespace}/{event.object_name}"
        if event.kind in ("Pod", "ReplicaSet"):
            return self.owner(event.namespace, event.object_name, event.kind)
        return None

    def owner(self, namespace: str, name: str, kind: str = "Pod") -> str | None:
        """The service a pod or ReplicaSet belongs to: its name less the generated suffixes."""
        cut = 2 if kind == "Pod" else 1
        parts = name.split("-")
        if len(parts) > cut:
            guess = f"{namespace}/{'-'.join(parts[:-cut])}"
            if guess in self.known:
                return guess
        matches = [
            k
            for k in self.known
            if k.startswith(f"{namespace}/") and name.startswith(f"{split_key(k)[1]}-")
        ]
        return max(matches, key=len) if matches else None

    @cached_property
    def known(self) -> set[str]:
        return set(self.services)

    def changes_of(self, subject: str, *reasons: str) -> list[Change]:
        return [
            c for c in self.changes if c.subject == subject and (not reasons or c.reason in reasons)
        ]

    def near_onset(self, change: Change) -> bool:
        """Whether ``change`` happened in the window that may have caused the incident."""
        start = change.first if change.first is not None else change.at
        cfg = self.config
        return self.onset - cfg.change_before_s <= start <= self.onset + cfg.change_after_s

    def rollouts(self, key: str) -> list[Change]:
        """New (or reused) ReplicaSets scaled up from zero: a rollout began."""
        out = []
        for change in self.changes_of(key, "ScalingReplicaSet"):
            match = _SCALED.search(change.message)
            up = match is not None and match.group(1) == "up" and match.group(4) in (None, "0")
            if up and self.near_onset(change):
                out.append(change)
        return out

    def scaled_to_zero(self, key: str) -> list[Change]:
        out = []
        for change in self.changes_of(key, "ScalingReplicaSet"):
            match = _SCALED.search(change.message)
            down = match is not None and match.group(1) == "down" and match.group(3) == "0"
            if down and self.near_onset(change):
                out.append(change)
        return out

    def pod_events(self, key: str, *reasons: str) -> list[Change]:
        return [
            c for c in self.changes_of(key, *reasons) if self.near_onset(c) or c.at >= self.onset
        ]

    # --- logs -------------------------------------------------------------------------------

    def logs(self, key: str) -> LogSummary | None:
        """The patterns in ``key``'s log lines since shortly before the onset (read once)."""
        if key in self._logs:
            return self._logs[key]
        reader = self.ctx.logs
        summary = None
        if reader is not None and len(self._logs) < self.config.max_log_services:
            namespace, name = split_key(key)
            since = math.ceil(self.now - self.onset + self.config.rate_window_s)
            try:
                lines = reader.pod_logs(
                    namespace or "",
                    name,
                    tail_lines=self.config.log_tail_lines,
                    since_seconds=max(since, 1),
                )
            except Exception:  # logs are optional evidence; a failing read must not stop analysis
                lines = []
            summary = summarise(key, lines)
        self._logs[key] = summary
        return summary

    def read_logs(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.logs(key)

    @property
    def logs_read(self) -> dict[str, LogSummary]:
        return {k: v for k, v in self._logs.items() if v is not None}
