"""IsolationForest detectors (scikit-learn): one feature row per series, one pooled forest.

The forest is shared by the whole bank: each column of each row is standardised against its own
robust running level and scale, a reservoir keeps a uniform sample of past standardised rows
from every series, and the forest is refitted on it every ``refit_every`` ticks. Scoring a tick
is then one ``score_samples`` call for the whole bank, and a new series benefits from what the
others taught the forest. Nothing is fitted on the current tick before it is scored.

:class:`IsolationForestDetector` takes rows of features (a service's metrics);
:class:`LagForest` builds them from a univariate series (its last ``lags`` values).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from forecasting.detectors._bank import MAD_TO_SIGMA, RobustEW, grown

__all__ = ["IsolationForestDetector", "LagForest"]


class IsolationForestDetector:
    """Anomaly score of each row (``width x features``) under a pooled IsolationForest.

    The score is ``2 * max(0, s - 0.5)`` where ``s`` is the forest's anomaly score in (0, 1),
    so rows the forest finds ordinary score 0.
    """

    name = "isolation_forest"

    def __init__(
        self,
        features: int,
        width: int = 0,
        n_estimators: int = 24,
        max_samples: int = 256,
        reservoir: int = 4096,
        refit_every: int = 288,
        sample_per_tick: int = 8,
        alpha: float = 0.01,
        warmup: int = 30,
        seed: int = 0,
    ) -> None:
        self.features, self.warmup = features, warmup
        self.n_estimators, self.max_samples = n_estimators, max_samples
        self.refit_every, self.sample_per_tick = refit_every, sample_per_tick
        self._stats = RobustEW(alpha, width * features)
        self._reservoir = np.zeros((reservoir, features))
        self._seen = 0
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._forest: IsolationForest | None = None
        self._tick = 0
        self._width = width

    def resize(self, width: int) -> None:
        self._stats.resize(width * self.features)
        self._width = max(self._width, width)

    def update(self, values: np.ndarray) -> np.ndarray:
        rows = np.asarray(values, dtype=float).reshape(-1, self.features)
        if len(rows) > self._width:
            self.resize(len(rows))
        flat = rows.reshape(-1)
        scale = np.maximum(MAD_TO_SIGMA * self._stats.mad, 1e-9 * np.abs(self._stats.mean) + 1e-12)
        z = np.clip((flat - self._stats.mean) / scale, -50.0, 50.0).reshape(rows.shape)
        warm = (self._stats.count >= self.warmup).reshape(rows.shape).all(axis=1)
        ready = np.asarray(warm & np.isfinite(z).all(axis=1), dtype=bool)
        score = np.zeros(len(rows))
        if self._forest is not None and ready.any():
            anomaly = -self._forest.score_samples(z[ready])
            score[ready] = 2.0 * np.maximum(anomaly - 0.5, 0.0)
        self._learn(z, ready)
        self._stats.update(flat)
        return score

    def _learn(self, z: np.ndarray, ready: np.ndarray) -> None:
        candidates = np.flatnonzero(ready)
        if len(candidates):
            take = min(self.sample_per_tick, len(candidates))
            for row in self._rng.choice(candidates, size=take, replace=False):
                self._offer(z[row])
        self._tick += 1
        filled = min(self._seen, len(self._reservoir))
        if self._tick % self.refit_every == 0 and filled >= min(self.max_samples, 64):
            forest = IsolationForest(
                n_estimators=self.n_estimators,
                max_samples=min(self.max_samples, filled),
                random_state=self._seed + self._tick,
            )
            self._forest = forest.fit(self._reservoir[:filled])

    def _offer(self, row: np.ndarray) -> None:
        """Reservoir sampling (Vitter's algorithm R): a uniform sample of every row offered."""
        if self._seen < len(self._reservoir):
            self._reservoir[self._seen] = row
        else:
            slot = int(self._rng.integers(0, self._seen + 1))
            if slot < len(self._reservoir):
                self._reservoir[slot] = row
        self._seen += 1


class LagForest:
    """A univariate series as rows of its last ``lags`` values, scored by a pooled forest."""

    name = "lag_forest"

    def __init__(
        self,
        width: int = 0,
        lags: int = 6,
        n_estimators: int = 24,
        refit_every: int = 288,
        seed: int = 0,
    ) -> None:
        self.lags = lags
        self._recent = np.full((lags, width), np.nan)
        self._tick = 0
        self._forest = IsolationForestDetector(
            lags, width, n_estimators=n_estimators, refit_every=refit_every, seed=seed
        )

    def resize(self, width: int) -> None:
        self._recent = grown(self._recent, width, np.nan)
        self._forest.resize(width)

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        self._recent[self._tick % self.lags] = x
        self._tick += 1
        order = (self._tick - 1 - np.arange(self.lags)) % self.lags
        rows = self._recent[order].T
        score = self._forest.update(rows)
        return np.where(np.isfinite(x), score, 0.0)
