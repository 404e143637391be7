"""Additive Holt-Winters (seasonal ETS with a damped trend) in numpy, tuned for multi-step error.

The seasonal states start from the smoothed daily profile (not from one noisy day), and the
smoothing parameters are picked from a small grid by the mean absolute error of forecasts 1 to
``max_steps`` ahead (the use case), not by one-step likelihood. The whole grid runs as one
vectorised recursion. Intervals are the empirical quantiles of the chosen model's errors from
origins in the last ``calibration_days`` (after the days used to pick the parameters).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from controlplane import ForecastError
from forecasting.base import Forecast
from forecasting.forecasters._design import (
    fit_profile,
    standardised_forecast,
    validate_history,
    validate_request,
)

ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.7)
BETAS = (0.0, 0.005, 0.02)
GAMMAS = (0.0, 0.05, 0.1)
PHIS = (0.8, 0.9, 0.98)


@dataclass
class _State:
    level: np.ndarray  # (k,) one per parameter set
    trend: np.ndarray
    season: np.ndarray  # (k, m), position j holds the state for indices i with i % m == j
    t: int  # samples consumed


class HoltWinters:
    """Additive damped Holt-Winters with a daily season; a :class:`Forecaster`."""

    name = "holt_winters"

    def __init__(
        self,
        *,
        max_history_days: float = 14.0,
        selection_days: float = 2.0,
        calibration_days: float = 2.0,
        max_steps: int | None = None,
    ) -> None:
        self.max_history_days = max_history_days
        self.selection_days = selection_days
        self.calibration_days = calibration_days
        self.max_steps = max_steps
        grid = np.array(list(itertools.product(ALPHAS, BETAS, GAMMAS, PHIS)))
        self._grid = grid
        self._chosen = grid[:1]
        self._state: _State | None = None
        self._errors = np.zeros((1, 1))
        self._scale = (0.0, 1.0)

    def fit(self, history: np.ndarray, season: int) -> None:
        history = np.asarray(history, dtype=float)
        validate_history(history, season)
        y = history[-max(2 * season, int(self.max_history_days * season)) :]
        mu, sd = float(y.mean()), float(y.std())
        self._scale = (mu, sd if sd > 0 else 1.0)
        y = (y - self._scale[0]) / self._scale[1]
        steps = self.max_steps or max(1, season // 4)
        n = len(y)
        cal = int(min(self.calibration_days * season, n // 4))
        sel = int(min(self.selection_days * season, n // 4))
        if sel + cal < 2 * steps:
            raise ForecastError(f"history too short for {steps} steps ahead: {n} samples")
        profile = fit_profile(y, season)
        start = profile.at(np.arange(season))
        state = self._initial(y, start, self._grid)
        levels, trends, seasonals = self._run(state, y, self._grid)
        first = max(season, n - sel - cal)
        choose = np.arange(first, n - cal - steps + 1)
        calib = np.arange(n - cal, n - steps + 1)
        errors = self._errors_at(y, levels, trends, seasonals, self._grid, choose, steps, season)
        best = int(np.argmin(np.abs(errors).mean(axis=(1, 2))))
        self._chosen = self._grid[best : best + 1]
        state = self._initial(y, start, self._chosen)
        levels, trends, seasonals = self._run(state, y, self._chosen)
        if len(calib) == 0:
            calib = choose
        self._errors = self._errors_at(
            y, levels, trends, seasonals, self._chosen, calib, steps, season
        )[0]
        self._state = state

    @staticmethod
    def _initial(y: np.ndarray, start: np.ndarray, grid: np.ndarray) -> _State:
        k, m = len(grid), len(start)
        level = np.full(k, y[:m].mean())
        return _State(level, np.zeros(k), np.tile(start, (k, 1)), 0)

    @staticmethod
    def _run(
        state: _State, y: np.ndarray, grid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance ``state`` over ``y``; return level, trend and seasonal after each sample."""
        alpha, beta, gamma, phi = grid.T
        k, m = state.season.shape
        levels = np.empty((k, len(y)))
        trends = np.empty((k, len(y)))
        seasonals = np.empty((k, len(y)))
        level, trend, season = state.level, state.trend, state.season
        for i, value in enumerate(y):
            j = (state.t + i) % m
            s = season[:, j]
            err = value - (level + phi * trend + s)
            level = level + phi * trend + alpha * err
            trend = phi * trend + beta * err
            season[:, j] = s + gamma * err
            levels[:, i], trends[:, i], seasonals[:, i] = level, trend, season[:, j]
        state.level, state.trend, state.t = level, trend, state.t + len(y)
        return levels, trends, seasonals

    @staticmethod
    def _errors_at(
        y: np.ndarray,
        levels: np.ndarray,
        trends: np.ndarray,
        seasonals: np.ndarray,
        grid: np.ndarray,
        origins: np.ndarray,
        steps: int,
        m: int,
    ) -> np.ndarray:
        """Errors (k, origins, steps) of forecasts from each origin (``origin`` samples known)."""
        h = np.arange(1, steps + 1)
        damp = np.cumsum(grid[:, 3:4] ** h[None, :], axis=1)  # (k, steps)
        last = origins - 1
        season_idx = last[:, None] + h[None, :] - m * ((h[None, :] - 1) // m + 1)
        fc = (
            levels[:, last, None]
            + damp[:, None, :] * trends[:, last, None]
            + seasonals[:, season_idx]
        )
        return y[last[:, None] + h[None, :]][None] - fc

    def update(self, values: np.ndarray) -> None:
        """Run the recursion on new observations with the fitted parameters."""
        if self._state is None:
            raise ForecastError(f"{self.name}: update called before fit")
        values = np.atleast_1d(np.asarray(values, dtype=float))
        validate_history(values, 2, min_seasons=0)
        self._run(self._state, (values - self._scale[0]) / self._scale[1], self._chosen)

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        if self._state is None:
            raise ForecastError(f"{self.name}: predict called before fit")
        validate_request(horizon, level)
        st = self._state
        m = st.season.shape[1]
        h = np.arange(1, horizon + 1)
        phi = self._chosen[0, 3]
        mean = st.level[0] + np.cumsum(phi**h) * st.trend[0] + st.season[0, (st.t + h - 1) % m]
        return standardised_forecast(mean, self._errors, level, self._scale)


__all__ = ["HoltWinters"]
