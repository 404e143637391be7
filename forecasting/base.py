"""The seams of ``forecasting/``: detectors and forecasters as small protocols.

Detectors are **vectorised and streaming**: one object scores a fixed-width bank of series, one
tick at a time, so a tick of 10,000 series is a handful of numpy operations. A detector never
looks ahead: its score for tick ``t`` depends only on values up to ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    """Anomaly scores for a bank of series, one tick at a time."""

    name: str

    def update(self, values: np.ndarray) -> np.ndarray:
        """Consume one value per series (NaN: missing) and return one score per series.

        Scores are non-negative; larger is more anomalous; a series still warming up scores 0.
        """
        ...

    def resize(self, width: int) -> None:
        """Grow the bank to ``width`` series (new series start cold)."""
        ...


@dataclass(frozen=True)
class Forecast:
    """A forecast of the next ``len(mean)`` steps with a central prediction interval."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def __post_init__(self) -> None:
        if not (len(self.mean) == len(self.lower) == len(self.upper)):
            raise ValueError("mean, lower and upper must have the same length")


@runtime_checkable
class Forecaster(Protocol):
    """Fits a series' history and forecasts it, with daily seasonality."""

    name: str

    def fit(self, history: np.ndarray, season: int) -> None:
        """Fit on ``history`` (equally spaced samples); ``season`` samples make one day."""
        ...

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        """Forecast ``horizon`` steps after the end of the fitted history."""
        ...


__all__ = ["Detector", "Forecast", "Forecaster"]
