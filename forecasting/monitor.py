"""From telemetry ticks to signals: the anomaly and capacity monitors the loop runs.

:class:`AnomalyMonitor` keeps one bank of named series (``kind/namespace/object/metric``, as
``telemetry.ClusterView.series()`` names them) and scores every tick with the default ensemble
(:func:`~forecasting.ensemble.default_ensemble`, its season set from the tick length). It watches
**symptoms**, not demand: error ratios, latency quantiles, CPU throttling, memory saturation,
container restarts, Pending pods, lost replicas and node readiness (:data:`SYMPTOMS`). Request
rates and CPU use rise and fall with load, cron jobs and deploys; they feed the
:class:`CapacityMonitor` (forecasts) instead, so a healthy but busy hour raises no anomaly.

A series fires when the ensemble's sustained likelihood reaches the threshold **and** the value
has moved the bad way from the series' robust baseline by at least the metric's
:class:`Effect` (an absolute floor and a share of the baseline): a blip from 0.000 to 0.001
errors is surprising to a detector that never saw an error, but nobody pages for it. The
emitter then debounces (``debounce`` ticks in a row) and emits one signal per episode, re-armed
once the series is quiet again. Series that a source reports stale are skipped, not scored.

:class:`CapacityMonitor` averages each service's ``cpu_ratio`` into ``interval_s`` buckets, keeps
a :class:`~forecasting.drift.ManagedForecaster` per series (refitted only on drift or age), and
asks :class:`~forecasting.capacity.CapacityPlanner` whether the forecast crosses the limit;
one capacity signal per crossing episode.

Neither reads anything but the views it is given; ``telemetry`` is not imported (the monitors
take any object with ``time``, ``series()`` and ``stale``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from controlplane.domain import Signal
from forecasting.base import Forecaster
from forecasting.capacity import CapacityPlanner
from forecasting.drift import ManagedForecaster
from forecasting.ensemble import DEFAULT_THRESHOLD, Ensemble, default_ensemble
from forecasting.forecasters import default_forecaster
from forecasting.signals import SignalEmitter, parse_series

__all__ = [
    "SYMPTOMS",
    "AnomalyMonitor",
    "CapacityMonitor",
    "Effect",
    "ViewLike",
]

DAY_S = 86_400.0


class ViewLike(Protocol):
    """What the monitors read of a ``telemetry.ClusterView``."""

    time: float

    def series(self) -> dict[str, float]: ...

    @property
    def stale(self) -> list[str]: ...


@dataclass(frozen=True)
class Effect:
    """The smallest move of a metric worth a signal, in the direction that hurts.

    ``direction`` is +1 when higher is worse (errors, latency), -1 when lower is worse (ready
    replicas, node readiness). A move counts when ``direction * (value - baseline)`` is at least
    ``max(floor, share * |baseline|)``, and must have lasted ``hold_s`` seconds (Pending pods
    and missing replicas are normal for a minute during any rollout). A move that has lasted
    ``alarm_s`` fires whatever the detectors think: Pending pods seen briefly during every
    rollout no longer surprise them, but a pod Pending for five minutes is a problem.
    """

    direction: int = 1
    floor: float = 0.0
    share: float = 0.0
    hold_s: float = 0.0
    alarm_s: float = math.inf

    def matters(self, value: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        move = self.direction * (value - baseline)
        need = np.maximum(self.floor, self.share * np.abs(baseline))
        return np.asarray(np.isfinite(value) & (move >= need) & (move > 0))


SYMPTOMS: Mapping[str, Effect] = {
    "service/error_ratio": Effect(+1, floor=0.02),
    "service/p99_ms": Effect(+1, floor=20.0, share=0.5),
    "service/p50_ms": Effect(+1, floor=10.0, share=0.5),
    "service/throttle_ratio": Effect(+1, floor=0.10),
    "service/memory_ratio": Effect(+1, floor=0.15),
    "service/restarts": Effect(+1, floor=1.0),
    "service/pending_pods": Effect(+1, floor=1.0, hold_s=120.0, alarm_s=300.0),
    "service/ready_replicas": Effect(-1, floor=1.0, hold_s=120.0, alarm_s=300.0),
    "edge/error_ratio": Effect(+1, floor=0.02),
    "edge/p99_ms": Effect(+1, floor=20.0, share=0.5),
    "node/ready": Effect(-1, floor=0.5, alarm_s=60.0),
}
"""The series the anomaly monitor watches (``kind/metric``) and the effect each must show."""


def _key(name: str) -> str | None:
    """``service/hotel/search/p99_ms`` → ``service/p99_ms`` (None for a malformed name)."""
    parts = name.split("/", 3)
    return f"{parts[0]}/{parts[3]}" if len(parts) == 4 else None


class AnomalyMonitor:
    """Scores each tick's symptom series with the default ensemble and emits signals.

    ``tick_s`` is the collector's interval (it sets the ensemble's daily season);
    ``symptoms`` maps ``kind/metric`` to its :class:`Effect`. ``ensemble`` builds the detector
    bank for a season in ticks (for tests and experiments; the default is the shipped one).
    """

    def __init__(
        self,
        tick_s: float = 15.0,
        *,
        symptoms: Mapping[str, Effect] = SYMPTOMS,
        threshold: float = DEFAULT_THRESHOLD,
        debounce: int = 2,
        ensemble: Callable[[int], Ensemble] | None = None,
    ) -> None:
        if not tick_s > 0:
            raise ValueError("tick_s must be positive")
        self.tick_s = tick_s
        self.season = max(1, round(DAY_S / tick_s))
        bins = 288 if self.season % 288 == 0 and self.season > 288 else None
        self.symptoms = dict(symptoms)
        self.ensemble = (
            ensemble(self.season) if ensemble else default_ensemble(season=self.season, bins=bins)
        )
        self.emitter = SignalEmitter(threshold=threshold, debounce=debounce)
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self._effects: list[Effect] = []
        self._held = np.zeros(0)
        self.last_time: float | None = None

    def _column(self, name: str, effect: Effect) -> int:
        column = self._index.get(name)
        if column is None:
            column = self._index[name] = len(self.names)
            self.names.append(name)
            self._effects.append(effect)
        return column

    def watched(self, series: Mapping[str, float]) -> dict[str, float]:
        """The symptom series among ``series``."""
        out = {}
        for name, value in series.items():
            key = _key(name)
            if key is not None and key in self.symptoms:
                out[name] = value
        return out

    def update(self, view: ViewLike) -> list[Signal]:
        """Score one tick; the signals that became due at ``view.time``.

        A tick at or before the previous one is ignored (a clock that stepped back must not
        corrupt the detectors' history).
        """
        if self.last_time is not None and view.time <= self.last_time:
            return []
        self.last_time = view.time
        current = self.watched(view.series())
        for name in current:
            self._column(name, self.symptoms[_key(name) or ""])
        values = np.full(len(self.names), np.nan)
        if view.stale:  # a stale source repeats old numbers: score nothing this tick
            current = {}
        for name, value in current.items():
            values[self._index[name]] = value if math.isfinite(value) else np.nan
        self.ensemble.update(values)
        scores = np.where(np.isfinite(values), self.ensemble.sustained, 0.0)
        baseline = self.ensemble.baseline[: len(values)]
        gate = np.zeros(len(values), dtype=bool)
        for effect in set(self._effects):
            cols = np.array([i for i, e in enumerate(self._effects) if e == effect])
            gate[cols] = effect.matters(values[cols], baseline[cols])
        held = np.zeros(len(values))
        held[: len(self._held)] = self._held
        self._held = np.where(gate, held + self.tick_s, 0.0)
        hold = np.array([e.hold_s for e in self._effects])
        alarm = np.array([e.alarm_s for e in self._effects])
        gate &= self._held >= hold + self.tick_s
        scores = np.where(gate, scores, 0.0)
        scores = np.where(gate & (self._held >= alarm), np.maximum(scores, 1.0), scores)
        baseline = np.where(np.abs(baseline) < 1e-12, 0.0, baseline)  # not 4e-302
        return self.emitter.update(self.names, view.time, scores, values, baseline)


@dataclass
class _Bucket:
    start: float
    total: float = 0.0
    count: int = 0


@dataclass
class _Tracked:
    model: ManagedForecaster | None = None
    history: list[float] = field(default_factory=list)
    bucket: _Bucket | None = None
    warned: bool = False


class CapacityMonitor:
    """Forecasts each service's CPU ratio and warns before it crosses ``threshold``.

    Views are averaged into ``interval_s`` buckets; a series is forecast once it holds
    ``min_history`` buckets (default two days: the forecasters need two seasons). One signal
    per crossing episode: the series is re-armed when a forecast no longer crosses.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        horizon_minutes: float = 60.0,
        interval_s: float = 300.0,
        min_history: int | None = None,
        metric: str = "cpu_ratio",
        forecaster: Callable[[], Forecaster] = default_forecaster,
    ) -> None:
        self.planner = CapacityPlanner(
            threshold=threshold,
            horizon_minutes=horizon_minutes,
            interval_s=interval_s,
            forecaster=forecaster,
        )
        self.interval_s = interval_s
        self.metric = metric
        self.min_history = min_history or 2 * self.planner.season
        self.forecaster = forecaster
        self._tracked: dict[str, _Tracked] = {}

    def update(self, view: ViewLike) -> list[Signal]:
        """Take one tick; capacity signals for the buckets that closed with it."""
        if view.stale:
            return []
        signals = []
        for name, value in view.series().items():
            if not name.startswith("service/") or not name.endswith(f"/{self.metric}"):
                continue
            if not math.isfinite(value):
                continue
            tracked = self._tracked.setdefault(name, _Tracked())
            bucket = tracked.bucket
            if bucket is not None and view.time >= bucket.start + self.interval_s:
                closed = bucket.total / bucket.count
                tracked.bucket = None
                signal = self._close(name, tracked, closed, view.time)
                if signal is not None:
                    signals.append(signal)
            if tracked.bucket is None:
                tracked.bucket = _Bucket(start=view.time)
            tracked.bucket.total += value
            tracked.bucket.count += 1
        return signals

    def _close(self, name: str, tracked: _Tracked, value: float, now: float) -> Signal | None:
        if tracked.model is None:
            tracked.history.append(value)
            if len(tracked.history) < self.min_history:
                return None
            tracked.model = ManagedForecaster(
                self.forecaster(), self.planner.season, horizon=self.planner.horizon
            )
            tracked.model.fit(np.array(tracked.history))
            tracked.history = []
        else:
            tracked.model.update(value)
        forecast = tracked.model.predict(self.planner.horizon, self.planner.level)
        warning = self.planner.assess(name, forecast, value, now)
        if warning is None:
            tracked.warned = False
            return None
        if tracked.warned:
            return None
        tracked.warned = True
        return warning.signal


def describe(signal: Signal) -> str:
    """One line for logs: ``service hotel/search p99_ms 412 (baseline 80), score 0.73``."""
    name = parse_series(signal.series)
    where = name.obj if name.namespace is None else f"{name.namespace}/{name.obj}"
    evidence = signal.evidence[0] if signal.evidence else None
    if evidence is None:
        return f"{name.kind} {where} {name.metric}, score {signal.score:.2f}"
    base = f" (baseline {evidence.baseline:.3g})" if evidence.baseline is not None else ""
    value = f"{evidence.value:.3g}" if isinstance(evidence.value, float) else evidence.value
    return f"{name.kind} {where} {name.metric} {value}{base}, score {signal.score:.2f}"
