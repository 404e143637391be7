"""Seasonal naive: tomorrow looks like today. The baseline MASE is measured against."""

from __future__ import annotations

import numpy as np

from controlplane import ForecastError
from forecasting.base import Forecast
from forecasting.forecasters._design import interval_offsets, validate_history, validate_request


class SeasonalNaive:
    """Repeats the last season; intervals from the history's own seasonal-naive errors."""

    name = "seasonal_naive"

    def __init__(self) -> None:
        self._history = np.zeros(0)
        self._season = 0

    def fit(self, history: np.ndarray, season: int) -> None:
        history = np.asarray(history, dtype=float)
        validate_history(history, season)
        self._history = history.copy()
        self._season = season

    def update(self, values: np.ndarray) -> None:
        values = np.atleast_1d(np.asarray(values, dtype=float))
        validate_history(values, 2, min_seasons=0)
        self._history = np.concatenate([self._history, values])

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        if not self._season:
            raise ForecastError(f"{self.name}: predict called before fit")
        validate_request(horizon, level)
        y, m = self._history, self._season
        mean = seasonal_naive(y, m, horizon)
        errors = (y[m:] - y[:-m])[:, None]
        lower, upper = interval_offsets(errors, level, horizon)
        return Forecast(mean=mean, lower=mean + lower, upper=mean + upper, level=level)


def seasonal_naive(y: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """The value one season (or as many whole seasons as needed) before each step ahead."""
    h = np.arange(horizon)
    return y[len(y) + h - season * (h // season + 1)]


__all__ = ["SeasonalNaive", "seasonal_naive"]
