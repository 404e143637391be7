"""What the forecasters share: input checks, the smoothed daily profile and lag features.

Every model here splits a series into a **daily profile** (the average shape of recent days,
after removing a linear trend, smoothed across the time of day) and a **deseasonalised
remainder** ``z = y - profile``. Features at an *origin* ``o`` (``o`` samples known, forecasting
index ``o + h - 1`` for step ``h``) use only ``y[:o]`` and a profile fitted on data before ``o``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controlplane import ForecastError
from forecasting.base import Forecast

#: Minimum history, in seasons, that every forecaster here accepts.
MIN_SEASONS = 2


def validate_history(history: np.ndarray, season: int, *, min_seasons: int = MIN_SEASONS) -> None:
    """Raise :class:`ForecastError` unless ``history`` is a finite 1-D series long enough to fit."""
    if season < 2:
        raise ForecastError(f"season must be at least 2 samples, got {season}")
    if history.ndim != 1:
        raise ForecastError(f"history must be one series (1-D), got shape {history.shape}")
    need = min_seasons * season
    if len(history) < need:
        raise ForecastError(
            f"history too short: {len(history)} samples, need at least {need} "
            f"({min_seasons} seasons of {season})"
        )
    bad = int(np.count_nonzero(~np.isfinite(history)))
    if bad:
        raise ForecastError(
            f"history has {bad} missing or infinite values (NaN/inf); fill or drop them first"
        )


def validate_request(horizon: int, level: float) -> None:
    if horizon < 1:
        raise ForecastError(f"horizon must be at least 1 step, got {horizon}")
    if not 0.0 < level < 1.0:
        raise ForecastError(f"level must be in (0, 1), got {level}")


def interval_offsets(
    errors: np.ndarray, level: float, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper offsets for ``horizon`` steps from out-of-sample errors (origins x steps).

    Split-conformal quantiles (``ceil((n+1)q)/n``) per step, widened so that they never shrink
    with the step; steps past the last column reuse it.
    """
    n = len(errors)
    q_hi = min(1.0, math.ceil((n + 1) * (1 + level) / 2) / n)
    q_lo = max(0.0, math.floor((n + 1) * (1 - level) / 2) / n)
    upper = np.maximum.accumulate(np.quantile(errors, q_hi, axis=0))
    lower = np.minimum.accumulate(np.quantile(errors, q_lo, axis=0))
    idx = np.minimum(np.arange(horizon), errors.shape[1] - 1)
    return lower[idx], upper[idx]


def standardised_forecast(
    mean: np.ndarray, errors: np.ndarray, level: float, scale: tuple[float, float]
) -> Forecast:
    """A forecast made on the standardised series, back on the original scale, with intervals
    from the out-of-sample ``errors`` (see :func:`interval_offsets`)."""
    lower, upper = interval_offsets(errors, level, len(mean))
    mu, sd = scale
    return Forecast(
        mean=mu + sd * mean,
        lower=mu + sd * (mean + lower),
        upper=mu + sd * (mean + upper),
        level=level,
    )


def windows(season: int) -> tuple[int, ...]:
    """Trailing-mean windows: one sample, an hour, six hours and a day (for a daily season)."""
    return tuple(sorted({1, max(1, season // 24), max(1, season // 4), season}))


def circular_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of one season's values, wrapping around midnight."""
    if sigma <= 0:
        return values.copy()
    radius = min(len(values) // 2, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([values[-radius:], values, values[:radius]]) if radius else values
    return np.convolve(padded, kernel, mode="valid")


@dataclass(frozen=True)
class Profile:
    """A daily shape: ``values[j]`` applies to each index ``i`` with ``(i - end) % season == j``."""

    values: np.ndarray
    end: int

    def at(self, index: np.ndarray) -> np.ndarray:
        return self.values[(index - self.end) % len(self.values)]


def fit_profile(
    y: np.ndarray, season: int, *, days: int = 7, decay: float = 0.8, sigma: float | None = None
) -> Profile:
    """The smoothed daily profile of the last ``days`` whole seasons of ``y``.

    Fits ``y = a + b*t + s[t mod season]`` by weighted least squares (day ``k`` back weighs
    ``decay**k``, so recent days count more), by a few rounds of alternating trend and seasonal
    means; then smooths ``s`` with a Gaussian of ``sigma`` samples (default: an hour's worth).
    """
    count = max(1, min(days, len(y) // season))
    seg = y[len(y) - count * season :]
    t = np.arange(len(seg), dtype=float)
    phase = np.arange(len(seg)) % season
    w = np.repeat(decay ** np.arange(count, dtype=float)[::-1], season)
    sw = np.sqrt(w)
    design = np.column_stack([np.ones_like(t), t]) * sw[:, None]
    shape = np.zeros(season)
    for _ in range(4):
        coef = np.linalg.lstsq(design, (seg - shape[phase]) * sw, rcond=None)[0]
        detrended = seg - coef[0] - coef[1] * t
        shape = np.bincount(phase, detrended * w, season) / np.bincount(phase, w, season)
        shape -= shape.mean()
    width = season / 24 if sigma is None else sigma
    return Profile(circular_smooth(shape, width), end=len(y))


class Design:
    """Features of one (normalised) series given a daily profile.

    ``start`` counts the samples dropped from the front since the fit, so that the time of day
    of an index stays the same while the history slides forward.
    """

    def __init__(self, y: np.ndarray, season: int, profile: Profile, start: int = 0) -> None:
        self.y = y
        self.season = season
        self.profile = profile
        self.start = start
        self.windows = windows(season)
        self.z = y - profile.at(np.arange(len(y)))
        self._csum = np.concatenate([[0.0], np.cumsum(self.z)])

    @property
    def first_origin(self) -> int:
        """The earliest origin with a full day of lags."""
        return max(self.windows)

    def time_of_day(self, index: np.ndarray) -> np.ndarray:
        """The phase of each index in its season, in [0, 1)."""
        return ((self.start + index) % self.season) / self.season

    def levels(self, origins: np.ndarray) -> np.ndarray:
        """Trailing means of ``z`` over each window, ending just before each origin: (n, k)."""
        cols = [(self._csum[origins] - self._csum[origins - w]) / w for w in self.windows]
        return np.column_stack(cols)

    def target(self, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """``z`` at ``origin + step - 1``; broadcasts origins against steps."""
        return self.z[origins + steps - 1]
