"""Seasonal detectors: a robust z-score against the same time of day on previous days.

The history keeps, per series, one mean per *bin* of the season (``season`` ticks make one day,
split into ``bins`` bins; with ``bins == season`` every tick is its own bin) for the last
``days`` days. At bin ``b`` the baseline is built from bins ``b - d * bins + o`` for
``d = 1..days`` and ``|o| <= spread``, so a pattern that drifts by a bin or two still matches.
"""

from __future__ import annotations

import numpy as np

from forecasting.detectors._bank import RobustEW, SlowSpread, grown, nan_median, residual_scale

__all__ = ["SeasonalEnvelope", "SeasonalRobustZ"]


class _SeasonalHistory:
    def __init__(self, width: int, season: int, bins: int | None, days: int) -> None:
        bins = bins or season
        if season % bins:
            raise ValueError(f"season ({season}) must be a multiple of bins ({bins})")
        self.bins, self.days, self.per_bin = bins, days, season // bins
        self.table = np.full((days * bins, width), np.nan)
        self.sums = np.zeros(width)
        self.counts = np.zeros(width)
        self.tick = 0

    def resize(self, width: int) -> None:
        self.table = grown(self.table, width, np.nan)
        self.sums = grown(self.sums, width, 0.0)
        self.counts = grown(self.counts, width, 0.0)

    def past(self, spread: int) -> np.ndarray:
        """Stored bins around the current phase: shape ``(days, 2 * spread + 1, width)``."""
        b = self.tick // self.per_bin
        size = len(self.table)
        rows = [
            [(b - d * self.bins + o) % size for o in range(-spread, spread + 1)]
            for d in range(1, self.days + 1)
        ]
        return self.table[np.array(rows)]

    def record(self, values: np.ndarray) -> None:
        ok = np.isfinite(values)
        self.sums += np.where(ok, values, 0.0)
        self.counts += ok
        self.tick += 1
        if self.tick % self.per_bin == 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(self.counts > 0, self.sums / self.counts, np.nan)
            self.table[(self.tick // self.per_bin - 1) % len(self.table)] = mean
            self.sums[:] = 0.0
            self.counts[:] = 0.0


class _Seasonal:
    """What the seasonal detectors share: the history by phase and the residuals' scale."""

    def __init__(
        self,
        width: int,
        season: int,
        bins: int | None,
        days: int,
        spread: int,
        alpha: float,
        warmup: int,
    ) -> None:
        self._history = _SeasonalHistory(width, season, bins, days)
        self._residuals = RobustEW(alpha, width)
        self._spread = SlowSpread(width=width)
        self.spread, self.warmup = spread, warmup

    def resize(self, width: int) -> None:
        self._history.resize(width)
        self._residuals.resize(width)
        self._spread.resize(width)

    def _learn(self, x: np.ndarray, residual: np.ndarray) -> None:
        """Remember this tick (after it was scored: no look-ahead)."""
        self._residuals.update(residual, centred=True)
        self._spread.update(x)
        self._history.record(x)


class SeasonalRobustZ(_Seasonal):
    """``|x - median(same phase, previous days)| / robust scale of those residuals``."""

    name = "seasonal_z"

    def __init__(
        self,
        width: int = 0,
        season: int = 288,
        bins: int | None = None,
        days: int = 3,
        spread: int = 1,
        alpha: float = 0.01,
        warmup: int = 30,
    ) -> None:
        super().__init__(width, season, bins, days, spread, alpha, warmup)
        self.baseline = np.full(width, np.nan)
        """The seasonal baseline used at the last tick (NaN until a day of history exists)."""

    def resize(self, width: int) -> None:
        super().resize(width)
        self.baseline = grown(self.baseline, width, np.nan)

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        past = self._history.past(self.spread).reshape(-1, len(x))
        known = np.isfinite(past).sum(axis=0)
        baseline = nan_median(past)
        residual = x - baseline
        scale = residual_scale(self._residuals.mad, self._spread, baseline)
        z = np.abs(residual) / scale
        ready = np.isfinite(z) & (known > self.spread) & (self._residuals.count >= self.warmup)
        self._learn(x, residual)
        self.baseline = baseline
        return np.where(ready, z, 0.0)


class SeasonalEnvelope(_Seasonal):
    """Distance outside the range seen around the same phase, as a robust z-score.

    For each previous day, the range ``[min, max]`` of the bins within ``spread`` of the current
    phase; the residual is the median over days of the distance outside that range, so a value
    that stays inside what the same hours held on most days scores 0 (recurring spikes
    included), and a value beyond it scores its excess in units of the residuals' scale.
    """

    name = "seasonal_envelope"

    def __init__(
        self,
        width: int = 0,
        season: int = 288,
        bins: int | None = None,
        days: int = 3,
        spread: int = 3,
        alpha: float = 0.01,
        warmup: int = 30,
    ) -> None:
        super().__init__(width, season, bins, days, spread, alpha, warmup)

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        past = self._history.past(self.spread)  # (days, 2 * spread + 1, width)
        with np.errstate(invalid="ignore"):
            lo = np.min(past, axis=1)
            hi = np.max(past, axis=1)
            outside = np.maximum(lo - x, 0.0) + np.maximum(x - hi, 0.0)  # NaN where unknown
            residual = np.median(outside, axis=0)
        z = residual / residual_scale(self._residuals.mad, self._spread, x)
        ready = np.isfinite(z) & (self._residuals.count >= self.warmup)
        self._learn(x, residual)
        return np.where(ready, z, 0.0)
