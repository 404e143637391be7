"""An EWMA detector: the distance of each value from a robust moving level, in robust scales."""

from __future__ import annotations

import numpy as np

from forecasting.detectors._bank import RobustEW, SlowSpread, residual_scale

__all__ = ["EwmaZ"]


class EwmaZ:
    """``|x - level| / scale``: a winsorised EWMA level and the EW mean absolute deviation of the
    one-step residuals (slower), floored so that a flat stretch cannot make the scale vanish."""

    name = "ewma_z"

    def __init__(
        self, width: int = 0, alpha: float = 0.05, alpha_scale: float = 0.01, warmup: int = 30
    ) -> None:
        self.warmup = warmup
        self._level = RobustEW(alpha, width)
        self._residuals = RobustEW(alpha_scale, width)
        self._spread = SlowSpread(width=width)

    @property
    def level(self) -> np.ndarray:
        """The current level of each series (its baseline)."""
        return self._level.mean

    def resize(self, width: int) -> None:
        self._level.resize(width)
        self._residuals.resize(width)
        self._spread.resize(width)

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        residual = x - self._level.mean
        z = np.abs(residual) / residual_scale(self._residuals.mad, self._spread, self._level.mean)
        ready = np.isfinite(z) & (self._level.count >= self.warmup)
        self._spread.update(x)
        self._level.update(x)
        self._residuals.update(residual, centred=True)
        return np.where(ready, z, 0.0)
