"""Drift-triggered retraining: refit a forecaster only when its live error drifts, or when stale.

A :class:`ManagedForecaster` wraps any :class:`~forecasting.base.Forecaster`. Each new
observation moves the forecast origin (``update`` when the forecaster has it: the parameters stay
and only the state follows; otherwise the last fit's forecast is read further along). At every
step it records its own forecast ``horizon`` steps ahead, and when that step arrives it hands the
absolute error to a :class:`DriftMonitor`.

The monitor compares the rolling mean of those errors with the error the forecaster itself
promised at fit time: the mean absolute error implied by its ``level`` interval at ``horizon``
(half-width / z * sqrt(2/pi), exact for Gaussian errors). When the rolling mean exceeds
``threshold`` times that reference (the forecaster has become worse than it claimed) the wrapper
refits on its recent history; it also refits when the fit is older than ``max_age`` samples.
``fits`` counts every fit, the first included; ``drifts`` the refits that drift triggered.

Defaults, for a daily season: the error an hour ahead (``season // 24`` steps), averaged over a
day (a shorter window mistakes the autocorrelated errors of one bad afternoon for drift), a
threshold of twice the promised error, and a weekly refresh. On a stationary synthetic series
this refits once a week instead of at every step, with the same accuracy; after a change of the
daily pattern it refits within hours (``tests/forecasting/test_drift.py``).
"""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist
from typing import Protocol, runtime_checkable

import numpy as np

from controlplane import ForecastError
from forecasting.base import Forecast, Forecaster


@runtime_checkable
class Updatable(Protocol):
    """A forecaster that can take new observations without re-estimating its parameters."""

    def update(self, values: np.ndarray) -> None: ...


class DriftMonitor:
    """Rolling mean absolute error against a reference: drifted above ``threshold`` x reference."""

    def __init__(self, window: int, threshold: float = 2.0) -> None:
        if window < 1 or threshold <= 1.0:
            raise ValueError("window must be >= 1 and threshold > 1")
        self.window = window
        self.threshold = threshold
        self.reference = math.nan
        self._errors: deque[float] = deque(maxlen=window)

    def reset(self, reference: float) -> None:
        """Start over against a new reference error (after a fit)."""
        self.reference = reference
        self._errors.clear()

    @property
    def ratio(self) -> float:
        """Rolling mean absolute error over the reference (NaN until the window is full)."""
        if len(self._errors) < self.window or not self.reference > 0:
            return math.nan
        return float(np.mean(self._errors)) / self.reference

    def observe(self, error: float) -> bool:
        """Record one live error; True when the error has drifted."""
        self._errors.append(abs(error))
        return self.ratio > self.threshold


def expected_abs_error(forecast: Forecast, step: int) -> float:
    """The mean absolute error a forecast's interval implies at ``step`` (1-based)."""
    z = NormalDist().inv_cdf((1 + forecast.level) / 2)
    half = (forecast.upper[step - 1] - forecast.lower[step - 1]) / 2
    return float(half / z * math.sqrt(2 / math.pi))


class ManagedForecaster:
    """Wraps a forecaster; refits on drift or age, otherwise only moves its origin."""

    def __init__(
        self,
        forecaster: Forecaster,
        season: int,
        *,
        horizon: int | None = None,
        monitor: DriftMonitor | None = None,
        max_age: int | None = None,
        max_history: int | None = None,
        level: float = 0.9,
    ) -> None:
        self.forecaster = forecaster
        self.season = season
        self.horizon = horizon or max(1, season // 24)
        self.monitor = monitor or DriftMonitor(window=season)
        self.max_age = max_age or 7 * season
        self.max_history = max_history or 28 * season
        self.level = level
        self.name = f"managed_{forecaster.name}"
        self.fits = 0
        self.drifts = 0
        self._history = np.zeros(0)
        self._age = 0
        self._pending: deque[tuple[int, float]] = deque()
        self._seen = 0

    def fit(self, history: np.ndarray, season: int | None = None) -> None:
        """Fit on ``history`` (the season given at construction applies)."""
        if season is not None and season != self.season:
            raise ForecastError(f"season {season} differs from the managed season {self.season}")
        self._history = np.asarray(history, dtype=float)[-self.max_history :].copy()
        self._refit()
        self._record()

    def _refit(self) -> None:
        self.forecaster.fit(self._history, self.season)
        self.fits += 1
        self._age = 0
        self._pending.clear()
        self.monitor.reset(expected_abs_error(self._forecast(self.horizon), self.horizon))

    def update(self, value: float) -> bool:
        """Take one new observation; True when it triggered a refit."""
        if self.fits == 0:
            raise ForecastError(f"{self.name}: update called before fit")
        if not math.isfinite(value):
            raise ForecastError(f"{self.name}: observation {value!r} is not a finite number")
        self._seen += 1
        self._history = np.append(self._history[-self.max_history + 1 :], value)
        self._age += 1
        if isinstance(self.forecaster, Updatable):
            self.forecaster.update(np.array([value]))
        drifted = False
        while self._pending and self._pending[0][0] <= self._seen:
            due, predicted = self._pending.popleft()
            if due == self._seen:
                drifted = self.monitor.observe(value - predicted) or drifted
        self.drifts += drifted
        refit = drifted or self._age >= self.max_age
        if refit:
            self._refit()
        self._record()
        return refit

    def _record(self) -> None:
        """Remember the forecast ``horizon`` steps ahead, to score it when that step arrives."""
        predicted = float(self._forecast(self.horizon).mean[-1])
        self._pending.append((self._seen + self.horizon, predicted))

    def _forecast(self, horizon: int, level: float | None = None) -> Forecast:
        level = self.level if level is None else level
        if isinstance(self.forecaster, Updatable) or self._age == 0:
            return self.forecaster.predict(horizon, level)
        # A forecaster without update: read the last fit's forecast further along.
        full = self.forecaster.predict(self._age + horizon, level)
        cut = slice(self._age, None)
        return Forecast(full.mean[cut], full.lower[cut], full.upper[cut], level)

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        if self.fits == 0:
            raise ForecastError(f"{self.name}: predict called before fit")
        return self._forecast(horizon, level)


__all__ = ["DriftMonitor", "ManagedForecaster", "Updatable", "expected_abs_error"]
