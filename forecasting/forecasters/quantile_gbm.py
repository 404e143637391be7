"""Quantile gradient boosting on lags and time-of-day features (scikit-learn).

One :class:`~sklearn.ensemble.HistGradientBoostingRegressor` with the quantile (pinball) loss
learns every step ahead at once: a row is an (origin, step) pair, sampled at random from the
history, with the step, the departures of the last sample, six hours and a day from the last
hour's mean of the remainder, the daily profile at the origin and at the target, and the target's
time of day. The target is the remainder at ``origin + step - 1`` minus the last hour's mean, so
the trees never have to extrapolate a level. The median (``quantile=0.5``) suits MASE.

Each fit runs on one thread: forecasters run one per series, so parallelism belongs to the
caller, and OpenMP's threads fight badly on a small, busy machine.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from controlplane import ForecastError
from forecasting.forecasters._design import Design
from forecasting.forecasters.direct import DirectConfig, DirectForecaster


class GradientBoostedLags:
    """A :class:`~forecasting.forecasters.direct.DirectModel`: one boosted model for all steps."""

    name = "gbm_lags"

    def __init__(
        self,
        quantile: float = 0.5,
        rows: int = 10_000,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        seed: int = 0,
        refit: bool = True,
    ) -> None:
        self.quantile = quantile
        self.rows = rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.seed = seed
        self.refit = refit
        self._max_steps = 1
        self._model: HistGradientBoostingRegressor | None = None

    @staticmethod
    def _rows(
        design: Design, origins: np.ndarray, steps: np.ndarray, when: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features and baselines of rows given as equal-length arrays (``when``: target index)."""
        levels = design.levels(origins)
        hour = min(1, levels.shape[1] - 1)  # the window after "one sample"
        base = levels[:, hour]
        phase = 2 * np.pi * design.time_of_day(when)
        x = np.column_stack(
            [
                steps,
                levels - base[:, None],
                design.profile.at(when),
                design.profile.at(origins - 1),
                np.sin(phase),
                np.cos(phase),
            ]
        )
        return x, base

    def train(self, design: Design, origins: np.ndarray, max_steps: int) -> None:
        rng = np.random.default_rng(self.seed)
        pick = origins[rng.integers(0, len(origins), self.rows)]
        steps = rng.integers(1, max_steps + 1, self.rows)
        when = pick + steps - 1
        x, base = self._rows(design, pick, steps, when)
        self._max_steps = max_steps
        self._model = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=self.quantile,
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            early_stopping=False,
            random_state=self.seed,
        )
        with threadpool_limits(1):
            self._model.fit(x, design.z[when] - base)

    def predict(self, design: Design, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise ForecastError(f"{self.name}: predict called before train")
        o = np.repeat(origins, len(steps))
        h = np.tile(steps, len(origins))
        x, base = self._rows(design, o, np.minimum(h, self._max_steps), o + h - 1)
        with threadpool_limits(1):
            z = self._model.predict(x) + base
        return z.reshape(len(origins), len(steps))


class QuantileGBM(DirectForecaster):
    """Daily profile plus quantile gradient boosting on lags, with conformal intervals."""

    def __init__(
        self, *, model: GradientBoostedLags | None = None, config: DirectConfig | None = None
    ) -> None:
        super().__init__([model or GradientBoostedLags()], name="quantile_gbm", config=config)


__all__ = ["GradientBoostedLags", "QuantileGBM"]
