"""Self-calibrating thresholds: each detector's scores measured against its own record.

:class:`AnomalyLikelihood` (what the default ensemble uses) turns a detector's raw scores into
the improbability of their recent level, after Numenta's anomaly likelihood (Ahmad et al., 2017,
the post-processing behind HTM's NAB result): the raw score is bounded to ``[0, 1)``, averaged
over the last few ticks, and compared with a slow Gaussian fit of that average's own history.
A series whose detector is always somewhat surprised (noise, a daily square wave) has a high
mean and a wide spread, so only a burst of surprise well beyond its habit scores high; a quiet
series flags the smallest blip. The output is ``-log10(tail probability) / decades`` in
``[0, 1]``: 0.5 with the default ten decades is a tail probability of 1e-5.

A :class:`RecordCalibrator` divides a detector's raw score by the largest raw score the same
series produced over the last ``horizon`` ticks (kept as maxima of ``block``-tick blocks, so the
memory is ``horizon / block`` numbers per series). A calibrated score of 1 means "as unusual as
the most unusual moment of the last ``horizon`` ticks"; behaviour that recurs (a nightly batch
job, a daily spike) keeps scoring about 1, whatever its size. Raw scores below ``floor`` are
never records. The first ``skip`` ticks of a series (while the detector settles) are not
remembered, and nothing is emitted before ``warmup`` ticks.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr  # scipy comes with scikit-learn

from forecasting.detectors._bank import grown

__all__ = ["AnomalyLikelihood", "RecentMax", "RecordCalibrator"]

LN10 = float(np.log(10.0))


class RecentMax:
    """The maximum of each series' values over roughly the last ``horizon`` ticks."""

    def __init__(self, horizon: int, block: int, width: int = 0) -> None:
        self.block = max(1, block)
        self._blocks = np.zeros((max(1, horizon // self.block), width))
        self._current = np.zeros(width)
        self._tick = 0

    def resize(self, width: int) -> None:
        self._blocks = grown(self._blocks, width, 0.0)
        self._current = grown(self._current, width, 0.0)

    @property
    def value(self) -> np.ndarray:
        return np.maximum(self._blocks.max(axis=0), self._current)

    def add(self, values: np.ndarray) -> None:
        """Remember ``values`` (use 0 for a tick that should not count)."""
        self._current = np.maximum(self._current, values)
        self._tick += 1
        if self._tick % self.block == 0:
            self._blocks[(self._tick // self.block) % len(self._blocks)] = self._current
            self._current = np.zeros_like(self._current)


class RecordCalibrator:
    """``raw / max(recent maximum of raw, floor)`` per series."""

    def __init__(
        self,
        width: int = 0,
        horizon: int = 2016,
        block: int = 36,
        skip: int = 100,
        warmup: int = 288,
        floor: float = 3.0,
    ) -> None:
        self.skip, self.warmup, self.floor = skip, warmup, floor
        self._max = RecentMax(horizon, block, width)
        self._count = np.zeros(width)

    def resize(self, width: int) -> None:
        self._max.resize(width)
        self._count = grown(self._count, width, 0.0)

    def update(self, raw: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Calibrate ``raw`` (series with ``present`` False keep their state and score 0)."""
        if len(raw) > len(self._count):
            self.resize(len(raw))
        ratio = raw / np.maximum(self._max.value, self.floor)
        score = np.where(present & (self._count >= self.warmup), ratio, 0.0)
        self._max.add(np.where(present & (self._count >= self.skip), raw, 0.0))
        self._count = self._count + present
        return score


class AnomalyLikelihood:
    """``-log10 P(short mean >= observed) / decades`` of bounded raw scores, per series.

    A raw score ``r >= 0`` is bounded as ``1 - exp(-r / scale)`` (``scale``: a raw score that is
    clearly unusual), the last ``average`` bounded scores are averaged, and the average is
    scored against an exponentially weighted mean and variance of the earlier averages (rate
    ``max(alpha, 1 / n)``, so a plain running mean at first), floored at ``mean_floor`` and
    ``std_floor`` so that a series that never surprised its detector does not turn every blip
    into certainty. Only the upper tail counts. Nothing is emitted for the first ``learn``
    ticks of a series; a missing tick (``present`` False) leaves its state alone and scores 0.
    """

    def __init__(
        self,
        width: int = 0,
        scale: float = 3.0,
        average: int = 10,
        alpha: float = 1.0 / 4000,
        learn: int = 150,
        mean_floor: float = 0.03,
        std_floor: float = 0.05,
        decades: float = 10.0,
    ) -> None:
        if scale <= 0 or average < 1 or not 0 < alpha <= 1 or decades <= 0:
            raise ValueError("scale, average, alpha and decades must be positive (alpha <= 1)")
        self.scale, self.average, self.alpha, self.learn = scale, average, alpha, learn
        self.mean_floor, self.std_floor, self.decades = mean_floor, std_floor, decades
        self._recent = np.zeros((average, width))
        self._slot = np.zeros(width, dtype=np.int64)
        self._mean = np.zeros(width)
        self._var = np.zeros(width)
        self._count = np.zeros(width)

    def resize(self, width: int) -> None:
        self._recent = grown(self._recent, width, 0.0)
        self._slot = grown(self._slot, width, 0)
        self._mean = grown(self._mean, width, 0.0)
        self._var = grown(self._var, width, 0.0)
        self._count = grown(self._count, width, 0.0)

    def update(self, raw: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Score ``raw`` (one non-negative score per series), then learn from it."""
        if len(raw) > len(self._count):
            self.resize(len(raw))
        bounded = -np.expm1(-np.maximum(np.nan_to_num(raw), 0.0) / self.scale)
        cols = np.flatnonzero(present)
        self._recent[self._slot[cols], cols] = bounded[cols]
        self._slot[cols] = (self._slot[cols] + 1) % self.average
        short = self._recent.mean(axis=0)
        mean = np.maximum(self._mean, self.mean_floor)
        std = np.maximum(np.sqrt(self._var), self.std_floor)
        tail = log_ndtr((mean - short) / std)  # natural log of P(N(mean, std) >= short)
        score = np.minimum(-tail / (LN10 * self.decades), 1.0)
        ready = present & (self._count >= self.learn)
        rate = np.maximum(self.alpha, 1.0 / (self._count + 1.0))
        delta = short - self._mean
        self._mean = np.where(present, self._mean + rate * delta, self._mean)
        self._var = np.where(present, (1.0 - rate) * (self._var + rate * delta * delta), self._var)
        self._count = self._count + present
        return np.where(ready, score, 0.0)
