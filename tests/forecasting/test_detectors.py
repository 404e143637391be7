"""Detectors: no look-ahead, resizing, and each flags the anomaly of its kind."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from forecasting.base import Detector
from forecasting.detectors import (
    EwmaZ,
    IsolationForestDetector,
    LagForest,
    LevelShift,
    NearestWindow,
    SeasonalEnvelope,
    SeasonalRobustZ,
)
from forecasting.detectors._bank import SlowSpread
from forecasting.ensemble import DEFAULT_THRESHOLD, default_ensemble
from tests.forecasting.helpers import SEASON, run, seasonal

FACTORIES: dict[str, Callable[[int], Detector]] = {
    "ewma": lambda w: EwmaZ(w),
    "seasonal_z": lambda w: SeasonalRobustZ(w, season=SEASON),
    "seasonal_binned": lambda w: SeasonalRobustZ(w, season=SEASON, bins=SEASON // 4),
    "envelope": lambda w: SeasonalEnvelope(w, season=SEASON),
    "level_shift": lambda w: LevelShift(w),
    "nearest_window": lambda w: NearestWindow(w, window=4, history=48, stride=2),
    "nearest_window_dense": lambda w: NearestWindow(w, window=3, history=96, block=7),
    "lag_forest": lambda w: LagForest(w, refit_every=SEASON, n_estimators=8),
    "ensemble": lambda w: default_ensemble(w, season=SEASON),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_is_a_detector(name: str) -> None:
    assert isinstance(FACTORIES[name](2), Detector)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_no_look_ahead(name: str) -> None:
    data = seasonal(8 * SEASON, series=3, seed=1)
    data[100, 1] = np.nan
    full = run(FACTORIES[name](3), data)
    cut = 5 * SEASON + 7
    prefix = run(FACTORIES[name](3), data[:cut])
    np.testing.assert_array_equal(full[:cut], prefix)
    changed = data.copy()
    changed[cut:] *= 3.0
    np.testing.assert_array_equal(run(FACTORIES[name](3), changed)[:cut], full[:cut])
    assert np.all(np.isfinite(full)) and np.all(full >= 0)


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - {"lag_forest", "ensemble"}))
def test_resize_starts_new_series_cold_and_keeps_the_others(name: str) -> None:
    data = seasonal(6 * SEASON, series=3, seed=2)
    alone = run(FACTORIES[name](2), data[:, :2])
    grown = FACTORIES[name](2)
    first = run(grown, data[: 3 * SEASON, :2])
    grown.resize(3)
    rest = run(grown, data[3 * SEASON :])
    np.testing.assert_array_equal(np.vstack([first, rest[:, :2]]), alone)
    assert np.all(rest[:5, 2] == 0.0)  # the new series is still warming up


@pytest.mark.parametrize("name", ["lag_forest", "ensemble"])
def test_pooled_detectors_resize(name: str) -> None:
    detector = FACTORIES[name](1)
    run(detector, seasonal(3 * SEASON, series=1, seed=3))
    detector.resize(4)
    scores = run(detector, seasonal(SEASON, series=4, seed=4))
    assert scores.shape == (SEASON, 4)
    assert np.all(scores[:5, 1:] == 0.0)


def _peak(scores: np.ndarray, at: int, slack: int = 3) -> tuple[float, float]:
    """Best score near ``at`` and the best score elsewhere after the first two days."""
    near = scores[at : at + slack + 1].max()
    rest = np.r_[scores[2 * SEASON : at], scores[at + 3 * SEASON :]]
    return float(near), float(rest.max())


def _nearest_window_by_brute_force(data: np.ndarray, window: int, history: int, stride: int):
    """The nearest-window score recomputed from scratch at every tick (one series)."""
    filled = data.copy()
    for t in range(len(filled)):
        if not np.isfinite(filled[t]):
            filled[t] = filled[t - 1] if t else 0.0
    lags = window + history - 1 - stride * np.arange(len(range(0, history, stride)))
    spread, out = SlowSpread(width=1), np.zeros(len(data))
    for t in range(len(data)):
        usable = lags[lags + window <= t + 1]
        latest = filled[t - window + 1 : t + 1]
        distances = [
            np.sum((latest - filled[t - window + 1 - lag : t + 1 - lag]) ** 2) for lag in usable
        ]
        if len(distances) and np.isfinite(data[t]):
            out[t] = np.sqrt(min(distances)) / (np.sqrt(window) * spread.std[0] + 1e-12)
        spread.update(data[t : t + 1])
    return out


@pytest.mark.parametrize(("window", "history", "stride", "block"), [(3, 40, 1, 6), (4, 30, 2, 64)])
def test_nearest_window_matches_brute_force(
    window: int, history: int, stride: int, block: int
) -> None:
    data = seasonal(6 * SEASON, series=2, seed=11)
    data[50:53, 0] = np.nan
    data[90, 1] = 1e7  # far beyond single precision of the squared differences around it
    scores = run(NearestWindow(2, window, history, stride, block), data)
    for j in range(2):
        expected = _nearest_window_by_brute_force(data[:, j], window, history, stride)
        np.testing.assert_allclose(scores[:, j], expected, rtol=1e-4, atol=1e-4)


def test_nearest_window_recovers_from_huge_values() -> None:
    # Squares of 1e8 dwarf those of unit noise: incremental sums alone would keep the rounding.
    data = 100.0 + np.random.default_rng(12).standard_normal((1500, 1))
    data[100:1000:50] = 1e8
    scores = run(NearestWindow(1, 3, 30, block=4), data)[-200:, 0]
    expected = _nearest_window_by_brute_force(data[:, 0], 3, 30, 1)[-200:]
    np.testing.assert_allclose(scores, expected, rtol=1e-3)


@pytest.mark.parametrize("name", ["ewma", "nearest_window", "seasonal_z", "envelope"])
def test_flags_a_spike(name: str) -> None:
    # The EWMA has no notion of seasons: it watches a series without them.
    data = seasonal(12 * SEASON, seed=5, amplitude=0.0 if name == "ewma" else 0.5)
    at = 8 * SEASON + 5
    data[at, 0] *= 1.8
    near, rest = _peak(run(FACTORIES[name](1), data)[:, 0], at)
    assert near > 1.5 * rest


def test_level_shift_flags_a_step() -> None:
    data = seasonal(12 * SEASON, seed=6, amplitude=0.0)
    at = 8 * SEASON
    data[at:] += 30.0
    scores = run(LevelShift(1), data)[:, 0]
    assert scores[at : at + 5].max() > 3 * scores[2 * SEASON : at].max()


@pytest.mark.parametrize("name", ["seasonal_z", "seasonal_binned", "envelope"])
def test_seasonal_detectors_flag_a_missing_peak(name: str) -> None:
    data = seasonal(12 * SEASON, seed=7)
    day = 8 * SEASON
    trough = data[day - SEASON : day].min()
    phase = int(np.argmax(data[day - SEASON : day, 0]))
    data[day + phase - 2 : day + phase + 3, 0] = trough  # within the usual range, wrong time
    scores = run(FACTORIES[name](1), data)[:, 0]
    near = scores[day + phase - 2 : day + phase + 3].max()
    assert near > 2 * scores[3 * SEASON : day].max()


def test_forest_flags_a_correlation_break() -> None:
    rng = np.random.default_rng(8)
    ticks, entities = 10 * SEASON, 6
    x = seasonal(ticks, series=entities, seed=9)
    y = x * (1 + 0.02 * rng.standard_normal(x.shape))
    # At the daily peak of entity 0, y drops to the trough: both stay within their ranges.
    at = 8 * SEASON + int(np.argmax(x[7 * SEASON : 8 * SEASON, 0]))
    y[at : at + 3, 0] = x[: 8 * SEASON, 0].min()
    forest = IsolationForestDetector(
        2, entities, n_estimators=100, refit_every=SEASON, sample_per_tick=16
    )
    scores = run(forest, np.stack([x, y], axis=2))
    broken = scores[at : at + 3, 0].max()
    assert broken > 0.2
    assert broken > 1.2 * np.quantile(scores[3 * SEASON : at - 3], 0.99)


def test_ensemble_stays_quiet_on_seasonal_noise_and_fires_on_a_spike() -> None:
    data = seasonal(20 * SEASON, series=8, seed=10)
    ensemble = default_ensemble(8, season=SEASON)
    quiet = run(ensemble, data)[3 * SEASON :]
    assert np.mean(quiet >= DEFAULT_THRESHOLD) < 0.005
    assert np.all((quiet >= 0) & (quiet < 1))
    spike = data[-1] * np.r_[3.0, np.ones(7)]
    scores = ensemble.update(spike)
    assert scores[0] >= DEFAULT_THRESHOLD > scores[1:].max()
