"""Synthetic demand series for the forecaster, drift and capacity tests."""

from __future__ import annotations

import numpy as np


def daily(
    days: float,
    season: int = 48,
    *,
    level: float = 10.0,
    amplitude: float = 3.0,
    trend_per_day: float = 0.0,
    noise: float = 0.3,
    persistence: float = 0.9,
    seed: int = 0,
    phase: float = 0.0,
) -> np.ndarray:
    """A daily cycle (two harmonics), a linear trend and AR(1) noise, ``season`` samples a day."""
    rng = np.random.default_rng(seed)
    n = int(days * season)
    t = np.arange(n)
    angle = 2 * np.pi * t / season + phase
    shape = amplitude * (np.sin(angle) + 0.4 * np.sin(2 * angle + 1.0))
    ar = np.zeros(n)
    shocks = rng.normal(0.0, noise, n)
    for i in range(1, n):
        ar[i] = persistence * ar[i - 1] + shocks[i]
    return level + trend_per_day * t / season + shape + ar + rng.normal(0.0, noise / 2, n)
