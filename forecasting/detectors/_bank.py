"""Per-series state for detector banks: growable arrays and robust running statistics.

Every statistic here is a vector with one entry per series and is updated with one vector of
values per tick (NaN: missing, which leaves that series' state untouched).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RobustEW", "SlowSpread", "grown", "nan_median", "residual_scale"]

MAD_TO_SIGMA = 1.2533  # mean absolute deviation of a normal variable, as a standard deviation


def grown(array: np.ndarray, width: int, fill: float) -> np.ndarray:
    """``array`` with its last axis extended to ``width`` entries of ``fill`` (never shrunk)."""
    extra = width - array.shape[-1]
    if extra <= 0:
        return array
    pad = np.full((*array.shape[:-1], extra), fill, dtype=array.dtype)
    return np.concatenate([array, pad], axis=-1)


class RobustEW:
    """Exponentially weighted mean and mean absolute deviation, with winsorised updates.

    The first ``burn_in`` observations of a series are taken as they come (a plain running
    average); afterwards each residual is clipped to ``clip`` standard deviations, so a spike
    moves neither the level nor the scale much. ``centred`` keeps the mean at 0 (for residuals).
    """

    def __init__(self, alpha: float, width: int = 0, clip: float = 3.0, burn_in: int = 30) -> None:
        self.alpha, self.clip, self.burn_in = alpha, clip, burn_in
        self.mean = np.zeros(width)
        self.mad = np.zeros(width)
        self.count = np.zeros(width)

    def resize(self, width: int) -> None:
        self.mean = grown(self.mean, width, 0.0)
        self.mad = grown(self.mad, width, 0.0)
        self.count = grown(self.count, width, 0.0)

    def update(self, values: np.ndarray, centred: bool = False) -> None:
        ok = np.isfinite(values)
        x = np.where(ok, values, 0.0)
        first = ok & (self.count == 0)
        if not centred:
            self.mean = np.where(first, x, self.mean)
        rate = np.maximum(self.alpha, 1.0 / (self.count + 1.0))
        residual = x - self.mean
        limit = np.where(
            self.count < self.burn_in, np.inf, self.clip * MAD_TO_SIGMA * self.mad + 1e-300
        )
        clipped = np.clip(residual, -limit, limit)
        learn = ok & (~first | centred)
        if not centred:
            self.mean = np.where(learn, self.mean + rate * clipped, self.mean)
        self.mad = np.where(learn, self.mad + rate * (np.abs(clipped) - self.mad), self.mad)
        self.count = self.count + ok


class SlowSpread:
    """A slow exponentially weighted standard deviation of the values themselves."""

    def __init__(self, alpha: float = 0.002, width: int = 0) -> None:
        self.alpha = alpha
        self.mean = np.zeros(width)
        self.var = np.zeros(width)
        self.count = np.zeros(width)

    def resize(self, width: int) -> None:
        self.mean = grown(self.mean, width, 0.0)
        self.var = grown(self.var, width, 0.0)
        self.count = grown(self.count, width, 0.0)

    def update(self, values: np.ndarray) -> None:
        ok = np.isfinite(values)
        x = np.where(ok, values, 0.0)
        self.mean = np.where(ok & (self.count == 0), x, self.mean)
        rate = np.maximum(self.alpha, 1.0 / (self.count + 1.0))
        delta = x - self.mean
        self.mean = np.where(ok, self.mean + rate * delta, self.mean)
        self.var = np.where(ok, (1.0 - rate) * (self.var + rate * delta * delta), self.var)
        self.count = self.count + ok

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


def residual_scale(mad: np.ndarray, spread: SlowSpread, level: np.ndarray) -> np.ndarray:
    """A residual scale that never collapses: the robust scale, floored by 5 % of the series'
    own long-run spread and by a relative epsilon of its level."""
    with np.errstate(invalid="ignore"):
        return np.maximum.reduce(
            [MAD_TO_SIGMA * mad, 0.05 * spread.std, 1e-6 * np.abs(np.nan_to_num(level)) + 1e-12]
        )


def nan_median(window: np.ndarray) -> np.ndarray:
    """Medians along axis 0 ignoring NaN (NaN where a column has no value), without warnings."""
    known = np.isfinite(window).sum(axis=0)
    if np.all(known == len(window)):
        return np.median(window, axis=0)
    ordered = np.sort(np.where(np.isfinite(window), window, np.inf), axis=0)
    cols = np.arange(window.shape[1])
    lo = np.clip((known - 1) // 2, 0, len(window) - 1)
    hi = np.clip(known // 2, 0, len(window) - 1)
    with np.errstate(invalid="ignore"):
        return np.where(known > 0, 0.5 * (ordered[lo, cols] + ordered[hi, cols]), np.nan)
