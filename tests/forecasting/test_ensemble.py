"""The likelihood calibration, the default ensemble's alarms and its place in the signal path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forecasting.calibration import AnomalyLikelihood
from forecasting.detectors import NearestWindow
from forecasting.ensemble import DEFAULT_THRESHOLD, Ensemble, Member, default_ensemble
from forecasting.nab import CorpusSweep, load_corpus, load_profiles
from forecasting.signals import SignalEmitter
from tests.forecasting.helpers import SEASON, run, seasonal

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


def _likelihoods(raw: np.ndarray, average: int = 10, learn: int = 150) -> np.ndarray:
    likelihood = AnomalyLikelihood(raw.shape[1], average=average, learn=learn)
    present = np.ones(raw.shape[1], dtype=bool)
    return np.stack([likelihood.update(row, present) for row in raw])


def test_likelihood_is_bounded_and_quiet_on_a_detectors_usual_scores() -> None:
    rng = np.random.default_rng(0)
    raw = np.abs(rng.standard_normal((4000, 20))) * rng.uniform(0.1, 5.0, 20)
    scores = _likelihoods(raw, learn=150)
    assert np.all(scores[:150] == 0.0)
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert np.mean(scores[150:] >= DEFAULT_THRESHOLD) < 1e-3


def test_likelihood_flags_a_burst_relative_to_each_series_habit() -> None:
    rng = np.random.default_rng(1)
    raw = np.abs(rng.standard_normal((2000, 2))) * np.array([0.3, 3.0])  # quiet and noisy
    raw[1500:1503] = 4.0  # the same raw burst in both
    scores = _likelihoods(raw)
    assert scores[1500:1503, 0].max() >= DEFAULT_THRESHOLD  # far beyond the quiet one's habit
    assert scores[1500:1503, 1].max() < DEFAULT_THRESHOLD  # ordinary for the noisy one


def test_likelihood_averages_over_its_window() -> None:
    raw = np.abs(np.random.default_rng(2).standard_normal((1000, 1))) * 0.3
    raw[800] = 6.0
    single, sustained = raw.copy(), raw.copy()
    sustained[800:810] = 6.0
    assert (
        _likelihoods(single, average=10)[800:810].max() < _likelihoods(sustained, average=10)[809]
    )


def test_a_missing_tick_leaves_the_likelihood_alone() -> None:
    raw = np.abs(np.random.default_rng(3).standard_normal((600, 2)))
    likelihood, reference = AnomalyLikelihood(2, average=3), AnomalyLikelihood(2, average=3)
    both = np.ones(2, dtype=bool)
    for t, row in enumerate(raw):
        if t == 300:  # series 1 misses a tick: it scores 0 and learns nothing
            assert likelihood.update(np.array([9.0, 9.0]), np.array([False, True]))[0] == 0.0
            reference.update(np.array([0.0, 9.0]), np.array([False, True]))
        a, b = likelihood.update(row, both), reference.update(row, both)
        np.testing.assert_array_equal(a, b)


def test_the_ensemble_rests_after_an_alarm_and_fires_again_later() -> None:
    data = seasonal(20 * SEASON, series=2, seed=12)
    ensemble = Ensemble([Member(NearestWindow(2, 3, 4 * SEASON), average=1)], width=2, rest=5)
    run(ensemble, data[: 15 * SEASON])
    assert ensemble.update(data[15 * SEASON] * np.array([4.0, 1.0]))[0] >= DEFAULT_THRESHOLD
    sustained = []
    for row in data[15 * SEASON + 1 : 15 * SEASON + 6]:
        assert ensemble.update(row)[0] == 0.0  # resting ...
        sustained.append(ensemble.sustained[0])
    assert max(sustained) >= DEFAULT_THRESHOLD  # ... while the excursion goes on
    later = run(ensemble, data[15 * SEASON + 6 : 18 * SEASON])
    assert later[:, 0].max() < DEFAULT_THRESHOLD
    assert ensemble.update(data[18 * SEASON] * np.array([2.0, 1.0]))[0] >= DEFAULT_THRESHOLD


def test_the_signal_path_runs_at_the_shipped_threshold() -> None:
    assert (SignalEmitter().threshold, SignalEmitter().debounce) == (DEFAULT_THRESHOLD, 1)
    data = seasonal(16 * SEASON, series=2, seed=13)
    data[-1, 0] *= 3.0
    names = ["service/hotel/search/p99_ms", "service/hotel/geo/p99_ms"]
    emitter, ensemble = SignalEmitter(), default_ensemble(2, season=SEASON)
    signals = []
    for t, row in enumerate(data):
        scores = ensemble.update(row)
        signals += emitter.update(names, float(t), scores, row, ensemble.baseline)
    late = [s for s in signals if s.start >= 3 * SEASON]
    assert [(s.service, s.start) for s in late] == [("search", float(len(data) - 1))]


def test_default_ensemble_meets_the_nab_targets() -> None:
    """Regression guard for the headline figures (benchmarks/nab.py prints them in full)."""
    if not NAB.is_dir():
        pytest.skip(f"needs the NAB subset of the shared data at {NAB} (../shared/data/nab)")
    files = load_corpus(NAB)
    bank = np.full((max(len(f.values) for f in files), len(files)), np.nan)
    for j, f in enumerate(files):
        bank[: len(f.values), j] = f.values
    scores = run(default_ensemble(len(files), season=288), bank)
    by_file = {f.path: scores[: len(f.values), j] for j, f in enumerate(files)}
    sweep = CorpusSweep(files, by_file, load_profiles(NAB)["standard"])
    assert sweep.best().normalised >= 72.3  # Numenta HTM on this subset
    assert sweep.at(DEFAULT_THRESHOLD).normalised >= 65.0
