"""Rolling-origin evaluation: refit at each origin on the data before it, forecast ahead.

Each fit sees a read-only copy of ``series[:origin]`` and nothing after it, so no forecast can
look ahead. Timings cover ``fit`` plus one ``predict``, with an injectable clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.base import Forecast, Forecaster


@dataclass(frozen=True)
class Backtest:
    """The forecasts of one forecaster from several origins of one series."""

    origins: np.ndarray
    forecasts: list[Forecast]
    seconds: list[float]

    def errors(self, series: np.ndarray, steps: int) -> np.ndarray:
        """Forecast minus actual for the first ``steps`` of each forecast: (origins, steps)."""
        pairs = zip(self.origins, self.forecasts, strict=True)
        return np.array([f.mean[:steps] - series[o : o + steps] for o, f in pairs])

    def coverage(self, series: np.ndarray, steps: int) -> float:
        """The share of actuals inside the intervals over the first ``steps`` of each forecast."""
        inside = []
        for o, f in zip(self.origins, self.forecasts, strict=True):
            actual = series[o : o + steps]
            inside.append((f.lower[:steps] <= actual) & (actual <= f.upper[:steps]))
        return float(np.mean(inside))


def rolling_origin(
    forecaster: Forecaster,
    series: np.ndarray,
    season: int,
    origins: Sequence[int] | np.ndarray,
    horizon: int,
    level: float = 0.9,
    clock: Callable[[], float] = time.perf_counter,
) -> Backtest:
    """Fit on ``series[:o]`` and forecast ``horizon`` steps, for every origin ``o``."""
    series = np.asarray(series, dtype=float)
    forecasts, seconds = [], []
    for origin in origins:
        if origin + horizon > len(series):
            raise ValueError(f"origin {origin} + horizon {horizon} runs past the series")
        history = series[:origin].copy()
        history.setflags(write=False)
        start = clock()
        forecaster.fit(history, season)
        forecasts.append(forecaster.predict(horizon, level))
        seconds.append(clock() - start)
    return Backtest(np.asarray(origins), forecasts, seconds)


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    """Mean absolute error scaled by the history's in-sample seasonal-naive error."""
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    return float(np.mean(np.abs(actual - forecast))) / (scale if scale > 0 else 1.0)


__all__ = ["Backtest", "mase", "rolling_origin"]
