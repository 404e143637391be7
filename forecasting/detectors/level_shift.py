"""A level-shift detector: the median of the last few values against a slow robust baseline."""

from __future__ import annotations

import numpy as np

from forecasting.detectors._bank import RobustEW, SlowSpread, grown, nan_median, residual_scale

__all__ = ["LevelShift"]


class LevelShift:
    """Two-window median test: ``|median(last short values) - slow level| / slow scale``.

    The short median ignores single spikes, so the score rises only when the series stays
    away from its baseline for more than half of ``short`` ticks; the baseline (a winsorised
    EWMA) then adapts slowly to the new level.
    """

    name = "level_shift"

    def __init__(
        self, width: int = 0, short: int = 5, alpha: float = 0.005, warmup: int = 60
    ) -> None:
        self.short, self.warmup = short, warmup
        self._recent = np.full((short, width), np.nan)
        self._level = RobustEW(alpha, width)
        self._spread = SlowSpread(width=width)
        self._tick = 0

    def resize(self, width: int) -> None:
        self._recent = grown(self._recent, width, np.nan)
        self._level.resize(width)
        self._spread.resize(width)

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        self._recent[self._tick % self.short] = x
        self._tick += 1
        median = nan_median(self._recent)
        scale = residual_scale(self._level.mad, self._spread, self._level.mean)
        z = np.abs(median - self._level.mean) / scale
        ready = np.isfinite(z) & np.isfinite(x) & (self._level.count >= self.warmup)
        self._level.update(x)
        self._spread.update(x)
        return np.where(ready, z, 0.0)
