"""Direct multi-step forecasting with split-conformal prediction intervals.

A :class:`DirectForecaster` normalises the series, removes its smoothed daily profile and asks
one or more :class:`DirectModel` members to map features at an origin to the deseasonalised value
each step ahead (one model for every step, not a recursion). Members' forecasts are averaged.

Intervals are **split conformal**: the last ``calibration_days`` of the history are held out,
the members are trained on what comes before (with the profile fitted there too), and their
forecasts from every held-out origin give honest out-of-sample errors for each step ahead. The
interval for step ``h`` is the forecast plus the empirical ``(1-level)/2`` and ``(1+level)/2``
quantiles of those errors (widths never shrink with ``h``). With ``refit`` the members are then
retrained on the whole history for the final forecast.

Beyond ``max_steps`` (default: a quarter of the season, 6 h for a daily season) a forecast
reuses the last trained step's model (the deviation from the daily profile is held) and its
error quantiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from controlplane import ForecastError
from forecasting.base import Forecast
from forecasting.forecasters._design import (
    Design,
    fit_profile,
    standardised_forecast,
    validate_history,
    validate_request,
)


class DirectModel(Protocol):
    """Maps lag features at an origin to the deseasonalised value ``step`` samples later."""

    name: str
    #: Retrain on the whole history after calibration (False: keep the calibrated model).
    refit: bool

    def train(self, design: Design, origins: np.ndarray, max_steps: int) -> None:
        """Learn from ``origins`` whose targets (up to ``max_steps`` ahead) are in ``design``."""
        ...

    def predict(self, design: Design, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Forecasts of ``z`` for each origin (rows) and step (columns), shape (n, len(steps))."""
        ...


@dataclass(frozen=True)
class DirectConfig:
    """Settings shared by every direct forecaster (lengths in seasons, i.e. days)."""

    #: Only the most recent days are used (older behaviour rarely helps at 1 to 6 h).
    max_history_days: float = 14.0
    #: Days averaged into the daily profile, day ``k`` back weighing ``profile_decay**k``.
    profile_days: int = 7
    profile_decay: float = 0.8
    #: Gaussian smoothing of the profile across the time of day, in seasons (1/24: an hour).
    profile_smoothing: float = 1 / 24
    #: Held-out tail for the conformal errors (at most a quarter of the history).
    calibration_days: float = 2.0
    #: Steps with their own model; default a quarter of the season.
    max_steps: int | None = None
    #: Retrain the members on the whole history after calibrating on the head.
    refit: bool = True


class DirectForecaster:
    """A :class:`~forecasting.base.Forecaster` built from direct models and conformal intervals."""

    def __init__(
        self,
        members: Sequence[DirectModel],
        *,
        weights: Sequence[float] | None = None,
        name: str = "direct",
        config: DirectConfig | None = None,
    ) -> None:
        if not members:
            raise ValueError("a DirectForecaster needs at least one member model")
        if weights is not None and len(weights) != len(members):
            raise ValueError("one weight per member")
        self.members = list(members)
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        self.name = name
        self.config = config or DirectConfig()
        self._design: Design | None = None
        self._errors = np.zeros((0, 1))
        self._scale = (0.0, 1.0)

    def settings(self) -> dict[str, object]:
        """What this forecaster is made of, for reports: config, members and their weights."""
        members = [
            {"name": m.name, **{k: v for k, v in vars(m).items() if not k.startswith("_")}}
            for m in self.members
        ]
        return {
            "name": self.name,
            "config": asdict(self.config),
            "members": members,
            "weights": [float(w) for w in self.weights],
        }

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, history: np.ndarray, season: int) -> None:
        with threadpool_limits(1):  # one series per fit: parallelism is the caller's business
            self._fit(np.asarray(history, dtype=float), season)

    def _fit(self, history: np.ndarray, season: int) -> None:
        validate_history(history, season)
        cfg = self.config
        y = history[-self._keep(season) :]
        steps = cfg.max_steps or max(1, season // 4)
        if len(y) - steps < season:
            raise ForecastError(
                f"history too short for {steps} steps ahead: {len(y)} samples, "
                f"need at least {season + steps}"
            )
        mu, sd = float(y.mean()), float(y.std())
        self._scale = (mu, sd if sd > 0 else 1.0)
        y = (y - self._scale[0]) / self._scale[1]
        self._design = None
        errors, trained = self._calibrate(y, season, steps)
        full = self._design_for(y, season)
        if not trained:
            self._train(full, steps)
        elif cfg.refit:
            self._train(full, steps, [m for m in self.members if m.refit])
        if len(errors) == 0:  # too short to hold any out: the spread around the profile
            errors = (full.z - full.z.mean())[:, None] * np.ones((1, steps))
        self._errors = errors
        self._design = full

    def update(self, values: np.ndarray) -> None:
        """Append new observations; the members keep their parameters, the profile follows."""
        if self._design is None:
            raise ForecastError(f"{self.name}: update called before fit")
        values = np.atleast_1d(np.asarray(values, dtype=float))
        validate_history(values, 2, min_seasons=0)
        d = self._design
        y = np.concatenate([d.y, (values - self._scale[0]) / self._scale[1]])
        dropped = max(0, len(y) - self._keep(d.season))
        self._design = self._design_for(y[dropped:], d.season, d.start + dropped)

    def _keep(self, season: int) -> int:
        return max(2 * season, int(self.config.max_history_days * season))

    def _design_for(self, y: np.ndarray, season: int, start: int = 0) -> Design:
        cfg = self.config
        profile = fit_profile(
            y,
            season,
            days=cfg.profile_days,
            decay=cfg.profile_decay,
            sigma=cfg.profile_smoothing * season,
        )
        return Design(y, season, profile, start)

    def _train(
        self, design: Design, steps: int, members: Sequence[DirectModel] | None = None
    ) -> None:
        origins = np.arange(design.first_origin, len(design.y) - steps + 1)
        for member in self.members if members is None else members:
            member.train(design, origins, steps)

    def _calibrate(self, y: np.ndarray, season: int, steps: int) -> tuple[np.ndarray, bool]:
        """Out-of-sample errors (origins x steps) of members trained before the held-out tail.

        Returns the errors and whether the members were trained (on the head).
        """
        hold = int(min(self.config.calibration_days * season, len(y) // 4))
        cut = len(y) - hold
        origins = np.arange(cut, len(y) - steps + 1)
        if len(origins) == 0 or cut - steps < season:
            return np.zeros((0, steps)), False
        profile = self._design_for(y[:cut], season).profile
        self._train(Design(y[:cut], season, profile), steps)
        design = Design(y, season, profile)  # lags run on; the profile stays as it was at cut
        offsets = np.arange(1, steps + 1)
        z_hat = self._combine(design, origins, offsets)
        return design.target(origins[:, None], offsets[None, :]) - z_hat, True

    def _combine(self, design: Design, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        paths = [m.predict(design, origins, steps) for m in self.members]
        return np.tensordot(self.weights, np.stack(paths), axes=1)

    # -- forecasting -----------------------------------------------------------------------

    def predict(self, horizon: int, level: float = 0.9) -> Forecast:
        if self._design is None:
            raise ForecastError(f"{self.name}: predict called before fit")
        validate_request(horizon, level)
        d = self._design
        origin = np.array([len(d.y)])
        steps = np.arange(1, horizon + 1)
        z_hat = self._combine(d, origin, steps)[0]
        mean = d.profile.at(len(d.y) + steps - 1) + z_hat
        return standardised_forecast(mean, self._errors, level, self._scale)


__all__ = ["DirectConfig", "DirectForecaster", "DirectModel"]
