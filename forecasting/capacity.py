"""Capacity signals: "service hotel/search will exceed 80% of its CPU in 35 minutes".

A :class:`CapacityPlanner` forecasts a CPU series (``service/<namespace>/<service>/cpu_cores``
against a capacity in cores, such as the sum of the service's CPU limits, or ``.../cpu_ratio``
against 1.0) and emits a kernel :class:`~controlplane.Signal` of kind ``CAPACITY`` when the
forecast crosses ``threshold`` x capacity within ``horizon_minutes``.

Which part of the forecast must cross is ``bound``: by default the **upper** bound of the
``level`` interval, so the warning comes early enough to act on (a 90% interval's upper bound is
exceeded by the actual value only about 5% of the time); ``bound="mean"`` warns only when the
expected demand crosses. A series already above the limit crosses "in 0 minutes".

The signal's evidence carries the crossing time in minutes (and as a timestamp), the current
value, the capacity, the limit and the forecast peak; its score is the forecast peak over the
limit (above 1 when it fires). Series names are parsed here, without importing ``telemetry``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from controlplane import Evidence, ForecastError, Signal, SignalKind
from forecasting.base import Forecast, Forecaster
from forecasting.forecasters import default_forecaster
from forecasting.signals import parse_series

#: Capacity of a ratio series when none is given.
RATIO_CAPACITY = 1.0


@dataclass(frozen=True)
class CapacityWarning:
    """A forecast crossing of the capacity limit, with its signal and a one-line summary."""

    signal: Signal
    summary: str
    crossing_minutes: float


class CapacityPlanner:
    """Forecasts CPU series and warns before they cross a share of their capacity."""

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        horizon_minutes: float = 360.0,
        interval_s: float = 300.0,
        bound: Literal["upper", "mean"] = "upper",
        level: float = 0.9,
        forecaster: Callable[[], Forecaster] = default_forecaster,
        detector: str = "capacity_forecast",
    ) -> None:
        if not threshold > 0:
            raise ValueError("threshold must be positive (0.8 means 80% of capacity)")
        self.threshold = threshold
        self.interval_s = interval_s
        self.horizon = max(1, math.ceil(horizon_minutes * 60 / interval_s))
        self.season = round(86_400 / interval_s)
        self.bound = bound
        self.level = level
        self.forecaster = forecaster
        self.detector = detector

    def check(
        self, series: str, history: np.ndarray, now: float, capacity: float | None = None
    ) -> CapacityWarning | None:
        """Fit a fresh forecaster on ``history`` (the last sample is at ``now``) and assess it."""
        model = self.forecaster()
        model.fit(np.asarray(history, dtype=float), self.season)
        forecast = model.predict(self.horizon, self.level)
        return self.assess(series, forecast, float(history[-1]), now, capacity)

    def assess(
        self,
        series: str,
        forecast: Forecast,
        current: float,
        now: float,
        capacity: float | None = None,
    ) -> CapacityWarning | None:
        """A warning when ``forecast`` (from a fitted or managed forecaster) crosses the limit."""
        try:
            name = parse_series(series)
        except ValueError as exc:  # a malformed name is bad input like any other
            raise ForecastError(str(exc)) from exc
        capacity = self._capacity(series, name.metric, capacity)
        limit = self.threshold * capacity
        path = (forecast.upper if self.bound == "upper" else forecast.mean)[: self.horizon]
        if current >= limit:
            step = 0
        else:
            above = np.flatnonzero(path >= limit)
            if len(above) == 0:
                return None
            step = int(above[0]) + 1
        minutes = step * self.interval_s / 60
        peak = float(max(path.max(), current))
        who = name.obj if name.namespace is None else f"{name.namespace}/{name.obj}"
        share = f"{self.threshold:.0%} of its CPU"
        if step == 0:
            summary = f"{name.kind} {who} is above {share} now"
        else:
            summary = f"{name.kind} {who} will exceed {share} in {minutes:.0f} minutes"
        unit = "ratio" if name.metric.endswith("ratio") else "cores"
        evidence = [
            Evidence(name="summary", value=summary),
            Evidence(name="crossing_minutes", value=minutes, unit="min"),
            Evidence(name="crossing_at", value=now + minutes * 60, unit="s"),
            Evidence(name="current", value=current, baseline=limit, unit=unit),
            Evidence(name="capacity", value=capacity, unit=unit),
            Evidence(name="limit", value=limit, baseline=capacity, unit=unit),
            Evidence(name=f"forecast_peak_{self.bound}", value=peak, baseline=limit, unit=unit),
        ]
        signal = Signal(
            detector=self.detector,
            series=series,
            service=name.service,
            node=name.node,
            namespace=name.namespace,
            score=peak / limit,
            start=now,
            kind=SignalKind.CAPACITY,
            evidence=evidence,
        )
        return CapacityWarning(signal=signal, summary=summary, crossing_minutes=minutes)

    @staticmethod
    def _capacity(series: str, metric: str, capacity: float | None) -> float:
        if capacity is None:
            if metric.endswith("ratio"):
                return RATIO_CAPACITY
            raise ForecastError(f"{series}: give the capacity (e.g. the sum of CPU limits)")
        if not capacity > 0 or not math.isfinite(capacity):
            raise ForecastError(f"{series}: capacity must be a positive number, got {capacity}")
        return float(capacity)


__all__ = ["RATIO_CAPACITY", "CapacityPlanner", "CapacityWarning"]
