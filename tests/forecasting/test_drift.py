"""Drift-triggered retraining: few refits on a stationary series, a refit after a regime change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane import ForecastError
from forecasting.base import Forecast
from forecasting.drift import DriftMonitor, ManagedForecaster, Updatable, expected_abs_error
from forecasting.forecasters import LagRegression, SeasonalNaive
from tests.forecasting.demand_series import daily

SEASON = 48
START = 8 * SEASON


def stream(managed: ManagedForecaster, series: np.ndarray, step: int) -> tuple[list[int], float]:
    """Feed ``series[START:]``; return the refit indices and the MAE ``step`` ahead."""
    managed.fit(series[:START])
    refits, errors = [], []
    pending: dict[int, float] = {}
    for i in range(START, len(series)):
        pending[i + step - 1] = float(managed.predict(step).mean[-1])
        if i in pending:
            errors.append(abs(series[i] - pending.pop(i)))
        if managed.update(float(series[i])):
            refits.append(i)
    return refits, float(np.mean(errors))


def test_monitor_fires_only_when_errors_grow() -> None:
    monitor = DriftMonitor(window=10, threshold=2.0)
    monitor.reset(reference=1.0)
    assert not any(monitor.observe(e) for e in [1.0, -1.2, 0.8] * 10)
    assert monitor.ratio == pytest.approx(1.0, abs=0.1)
    fired = [monitor.observe(3.0) for _ in range(10)]
    assert fired[-1] and not fired[0]
    monitor.reset(reference=1.0)
    assert math.isnan(monitor.ratio)
    with pytest.raises(ValueError):
        DriftMonitor(window=0)


def test_reference_error_from_the_interval() -> None:
    z90 = 1.6448536269514722
    f = Forecast(np.zeros(3), np.full(3, -z90), np.full(3, z90), 0.9)
    assert expected_abs_error(f, 2) == pytest.approx(math.sqrt(2 / math.pi))


def test_stationary_series_refits_far_less_with_similar_accuracy() -> None:
    series = daily(14, SEASON, seed=21)
    managed = ManagedForecaster(LagRegression(), SEASON)
    every = ManagedForecaster(LagRegression(), SEASON, max_age=1)
    refits, mae = stream(managed, series, step=2)
    all_refits, mae_every = stream(every, series, step=2)
    assert len(all_refits) == len(series) - START
    assert len(refits) == managed.fits - 1 <= 2  # at most a weekly refresh and one false alarm
    assert mae <= 1.1 * mae_every


def test_regime_change_triggers_a_refit() -> None:
    before = daily(12, SEASON, seed=22)
    after = daily(3, SEASON, seed=23, amplitude=6.0, phase=2.0)
    series = np.concatenate([before, after])
    change = len(before)
    managed = ManagedForecaster(LagRegression(), SEASON)
    refits, _ = stream(managed, series, step=2)
    assert managed.drifts >= 1
    assert not [r for r in refits if START < r < change - 1 and r - START < 7 * SEASON]
    assert any(change <= r < change + SEASON for r in refits)


class Frozen:
    """A forecaster without ``update``: the wrapper reads its last forecast further along."""

    name = "frozen"

    def __init__(self) -> None:
        self.inner = SeasonalNaive()

    def fit(self, history: np.ndarray, season: int) -> None:
        self.inner.fit(history, season)

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        return self.inner.predict(horizon, level)


def test_forecasters_without_update_are_read_further_along() -> None:
    series = daily(10, SEASON, seed=24)
    frozen = Frozen()
    assert not isinstance(frozen, Updatable)
    assert isinstance(LagRegression(), Updatable)
    managed = ManagedForecaster(frozen, SEASON)
    managed.fit(series[:START])
    full = managed.predict(10).mean
    for value in series[START : START + 3]:
        managed.update(float(value))
    np.testing.assert_array_equal(managed.predict(7).mean, full[3:])


def test_misuse_raises_forecast_error() -> None:
    managed = ManagedForecaster(LagRegression(), SEASON)
    with pytest.raises(ForecastError, match="before fit"):
        managed.update(1.0)
    with pytest.raises(ForecastError, match="season"):
        managed.fit(daily(5, SEASON), season=24)
    managed.fit(daily(5, SEASON))
    with pytest.raises(ForecastError, match="finite"):
        managed.update(math.nan)
