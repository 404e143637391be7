"""Demand forecasters: accuracy against seasonal naive, calibrated intervals, no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane import ForecastError
from forecasting.base import Forecast, Forecaster
from forecasting.forecasters import (
    DemandForecaster,
    HoltWinters,
    LagRegression,
    QuantileGBM,
    SeasonalNaive,
    mase,
    rolling_origin,
    seasonal_naive,
)
from tests.forecasting.demand_series import daily

SEASON = 48
FACTORIES = [DemandForecaster, LagRegression, QuantileGBM, HoltWinters]


def ids(factory: type) -> str:
    return factory.__name__


@pytest.fixture(scope="module")
def trended() -> np.ndarray:
    return daily(12, SEASON, trend_per_day=0.5, seed=3)


@pytest.mark.parametrize("factory", FACTORIES, ids=ids)
def test_beats_seasonal_naive_with_trend_and_noise(factory: type, trended: np.ndarray) -> None:
    horizon = SEASON // 4
    origins = np.linspace(6 * SEASON, len(trended) - horizon, 8).astype(int)
    back = rolling_origin(factory(), trended, SEASON, origins, horizon)
    ours = [
        mase(trended[o : o + horizon], f.mean, trended[:o], SEASON)
        for o, f in zip(origins, back.forecasts, strict=True)
    ]
    naive = [
        mase(
            trended[o : o + horizon],
            seasonal_naive(trended[:o], SEASON, horizon),
            trended[:o],
            SEASON,
        )
        for o in origins
    ]
    assert np.mean(ours) < 0.8 * np.mean(naive)


@pytest.mark.parametrize(
    ("factory", "every"), [(DemandForecaster, 31), (LagRegression, 7), (HoltWinters, 7)]
)
def test_intervals_cover_about_their_level(factory: type, every: int) -> None:
    series = daily(30, SEASON, seed=11)
    horizon = SEASON // 4
    origins = np.arange(8 * SEASON, len(series) - horizon, every)
    back = rolling_origin(factory(), series, SEASON, origins, horizon, level=0.9)
    assert 0.8 <= back.coverage(series, horizon) <= 0.97
    assert all(np.all(f.lower <= f.mean) and np.all(f.mean <= f.upper) for f in back.forecasts)


def test_wider_level_gives_wider_intervals() -> None:
    model = LagRegression()
    model.fit(daily(10, SEASON), SEASON)
    narrow, wide = model.predict(12, 0.5), model.predict(12, 0.95)
    assert np.all(wide.upper - wide.lower >= narrow.upper - narrow.lower)
    assert wide.level == 0.95


@pytest.mark.parametrize("factory", [*FACTORIES, SeasonalNaive], ids=ids)
def test_no_look_ahead(factory: type) -> None:
    """The forecast from a prefix does not depend on what follows it."""
    base = daily(10, SEASON, seed=5)
    other = base.copy()
    other[8 * SEASON :] += 50.0  # a different future
    a, b = factory(), factory()
    a.fit(base[: 8 * SEASON], SEASON)
    b.fit(other[: 8 * SEASON], SEASON)
    fa, fb = a.predict(SEASON), b.predict(SEASON)
    np.testing.assert_array_equal(fa.mean, fb.mean)
    np.testing.assert_array_equal(fa.upper, fb.upper)


class Spy:
    """A forecaster that records what it was fitted on."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def fit(self, history: np.ndarray, season: int) -> None:
        self.seen.append(history)

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        last = np.full(horizon, self.seen[-1][-1])
        return Forecast(last, last, last, level)


def test_rolling_origin_fits_only_on_the_past() -> None:
    series = np.arange(100.0)
    spy = Spy()
    assert isinstance(spy, Forecaster)
    back = rolling_origin(spy, series, 10, [30, 50, 90], horizon=10)
    assert [len(h) for h in spy.seen] == [30, 50, 90]
    assert all(
        h[-1] == o - 1 and not h.flags.writeable
        for h, o in zip(spy.seen, back.origins, strict=True)
    )
    np.testing.assert_array_equal(back.errors(series, 2)[:, 0], [-1.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="runs past"):
        rolling_origin(spy, series, 10, [95], horizon=10)


@pytest.mark.parametrize("factory", [*FACTORIES, SeasonalNaive], ids=ids)
def test_bad_input_raises_forecast_error(factory: type) -> None:
    model = factory()
    with pytest.raises(ForecastError, match="history too short"):
        model.fit(np.ones(SEASON), SEASON)
    gappy = daily(5, SEASON)
    gappy[7] = np.nan
    with pytest.raises(ForecastError, match="missing or infinite"):
        model.fit(gappy, SEASON)
    with pytest.raises(ForecastError, match="1-D"):
        model.fit(np.ones((5 * SEASON, 2)), SEASON)
    with pytest.raises(ForecastError, match="before fit"):
        model.predict(4)
    model.fit(daily(5, SEASON), SEASON)
    with pytest.raises(ForecastError, match="level"):
        model.predict(4, level=1.5)
    with pytest.raises(ForecastError, match="horizon"):
        model.predict(0)


@pytest.mark.parametrize(
    "factory", [DemandForecaster, LagRegression, HoltWinters, SeasonalNaive], ids=ids
)
def test_update_moves_the_origin_without_refitting(factory: type) -> None:
    series = daily(17, SEASON, seed=7)  # longer than the 14 days the direct models keep
    fit_at, origin = 15 * SEASON, 16 * SEASON - 7  # the history slides by a part of a day
    model = factory()
    model.fit(series[:fit_at], SEASON)
    for value in series[fit_at:origin]:
        model.update(np.array([value]))
    moved = model.predict(SEASON)
    fresh = factory()
    fresh.fit(series[:origin], SEASON)
    actual = series[origin : origin + SEASON]
    # Updated, it forecasts the next day about as well as a fresh fit at the same origin.
    err_moved = np.mean(np.abs(moved.mean - actual))
    err_fresh = np.mean(np.abs(fresh.predict(SEASON).mean - actual))
    assert err_moved < 1.3 * err_fresh
    with pytest.raises(ForecastError, match="missing"):
        model.update(np.array([np.nan]))


def test_forecasts_beyond_the_trained_steps_and_constant_series() -> None:
    model = DemandForecaster()
    model.fit(np.full(4 * SEASON, 3.0), SEASON)
    out = model.predict(2 * SEASON)
    assert len(out.mean) == 2 * SEASON
    np.testing.assert_allclose(out.mean, 3.0, atol=1e-6)
    assert np.all(np.isfinite(out.lower)) and np.all(np.isfinite(out.upper))
