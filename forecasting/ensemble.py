"""The default detector ensemble: members scored as likelihoods, the most surprised one wins.

Each member's raw score is turned, per series, into an anomaly likelihood against its own
record (:class:`~forecasting.calibration.AnomalyLikelihood`): ``-log10`` of the tail probability
of its recent level, over ten decades, so every member speaks on one scale whatever its units,
and a member that is always surprised by a series (a seasonal model on a noisy one) stops
shouting. The ensemble takes the largest member likelihood (:attr:`Ensemble.sustained`) and
fires once per episode: after a tick scores at or above ``threshold``, the output stays 0 for
``rest`` ticks (the excursion goes on, but it is the same alarm).

:data:`DEFAULT_THRESHOLD` is the threshold the control plane runs with
(:class:`~forecasting.signals.SignalEmitter`'s default). It is Numenta's "red" level, a tail
probability of 1e-5 (0.5 on the ten-decade scale), set before any sweep and never tuned; NAB's
own threshold sweep over our subset (``benchmarks/nab.py``) lands next to it. The members'
parameters (below) are one set for every series, chosen on that sweep's score over the subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.base import Detector
from forecasting.calibration import AnomalyLikelihood
from forecasting.detectors import NearestWindow, SeasonalRobustZ
from forecasting.detectors._bank import RobustEW, grown

__all__ = ["DEFAULT_THRESHOLD", "Ensemble", "Member", "default_ensemble"]

DEFAULT_THRESHOLD = 0.5
"""Ensemble scores at or above this are anomalies: a tail probability of 1e-5."""


@dataclass(frozen=True)
class Member:
    """A detector of the ensemble and how its raw scores become a likelihood.

    ``scale``: a raw score that is clearly unusual (it bounds to ``1 - 1/e``); ``average``: the
    ticks whose mean surprise is scored (short for spikes, longer for sustained changes).
    """

    detector: Detector
    scale: float = 3.0
    average: int = 10


class Ensemble:
    """Several detectors as one :class:`~forecasting.base.Detector` with scores in [0, 1]."""

    name = "ensemble"

    def __init__(
        self,
        members: Sequence[Member],
        width: int = 0,
        threshold: float = DEFAULT_THRESHOLD,
        rest: int = 36,
        alpha: float = 1.0 / 4000,
        learn: int = 150,
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.threshold, self.rest = threshold, rest
        self._likelihoods = [
            AnomalyLikelihood(width, m.scale, m.average, alpha=alpha, learn=learn)
            for m in self.members
        ]
        self._level = RobustEW(0.02, width)
        self._quiet = np.zeros(width, dtype=np.int64)
        self.width = 0
        self.calibrated = np.zeros((len(self.members), width))
        """Each member's likelihood at the last tick (rows in member order)."""
        self.sustained = np.zeros(width)
        """The last tick's score before the rest period (in [0, 1]): it stays high while an
        anomaly lasts, for debouncing (see :class:`~forecasting.signals.SignalEmitter`)."""
        self.resize(width)

    @property
    def baseline(self) -> np.ndarray:
        """A robust moving level of each series: what its values usually are."""
        return self._level.mean

    def resize(self, width: int) -> None:
        if width <= self.width:
            return
        for member, likelihood in zip(self.members, self._likelihoods, strict=True):
            member.detector.resize(width)
            likelihood.resize(width)
        self._level.resize(width)
        self._quiet = grown(self._quiet, width, 0)
        self.calibrated = grown(self.calibrated, width, 0.0)
        self.sustained = grown(self.sustained, width, 0.0)
        self.width = width

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        self.resize(len(x))
        present = np.isfinite(x)
        self.calibrated = np.stack(
            [
                likelihood.update(member.detector.update(x), present)
                for member, likelihood in zip(self.members, self._likelihoods, strict=True)
            ]
        )
        self._level.update(x)
        self.sustained = np.where(present, self.calibrated.max(axis=0), 0.0)
        out = np.where(self._quiet > 0, 0.0, self.sustained)
        self._quiet = np.where(out >= self.threshold, self.rest, np.maximum(self._quiet - 1, 0))
        return out


def default_ensemble(width: int = 0, season: int = 288, bins: int | None = None) -> Ensemble:
    """The shipped ensemble; ``season`` ticks make one day (288 for 5-minute samples).

    Two members: the nearest-window member compares the last three values with every earlier
    stretch of the last four days (at most 1,152 lags), scored tick by tick; the seasonal member
    compares each value with the same time on the last three days, scored over ten ticks (a
    seasonal change is sustained). After an alarm the ensemble rests for an eighth of a day.
    ``bins`` (a divisor of ``season``) bounds the seasonal history: with short ticks pass e.g.
    288, so that each seasonal bin averages ``season / bins`` ticks.
    """
    return Ensemble(
        [
            Member(NearestWindow(width, 3, min(4 * season, 1152)), scale=3.0, average=1),
            Member(SeasonalRobustZ(width, season, bins), scale=3.0, average=10),
        ],
        width=width,
        rest=max(1, season // 8),
    )
