"""Synthetic series for detector tests."""

from __future__ import annotations

import numpy as np

SEASON = 24


def seasonal(
    ticks: int, series: int = 1, seed: int = 0, noise: float = 0.05, amplitude: float = 0.5
) -> np.ndarray:
    """Daily-seasonal series (``SEASON`` ticks a day) with multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(ticks)[:, None]
    shape = 1.0 + amplitude * np.sin(2 * np.pi * t / SEASON + rng.uniform(0, 6, series))
    return 100.0 * shape * (1.0 + noise * rng.standard_normal((ticks, series)))


def run(detector: object, data: np.ndarray) -> np.ndarray:
    """Scores of ``detector`` fed ``data`` row by row."""
    return np.stack([detector.update(row) for row in data])  # type: ignore[attr-defined]
