"""Lag regression: one linear model per step ahead on trailing means of the remainder.

For each step ``h`` the deseasonalised value ``z[o + h - 1]`` is regressed on an intercept and the
trailing means of ``z`` over a sample, an hour, six hours and a day before the origin ``o``
(windows scale with the season). Mixing short and long means lets the fit learn, per step, how
fast a departure from the daily profile fades and how much of a recent trend carries on.

The default loss is the absolute error (least absolute deviations, by iteratively reweighted
least squares), which matches MASE and shrugs off spikes; ``loss="squared"`` is plain ridge.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from forecasting.forecasters._design import Design
from forecasting.forecasters.direct import DirectConfig, DirectForecaster


class LinearLags:
    """A :class:`~forecasting.forecasters.direct.DirectModel`: a linear fit per step."""

    name = "linear_lags"
    refit = True

    def __init__(
        self,
        loss: Literal["absolute", "squared"] = "absolute",
        ridge: float = 1e-5,
        iterations: int = 5,
    ) -> None:
        self.loss = loss
        self.ridge = ridge
        self.iterations = iterations if loss == "absolute" else 0
        self._coef = np.zeros((1, 1))

    @staticmethod
    def _features(design: Design, origins: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(origins)), design.levels(origins)])

    def train(self, design: Design, origins: np.ndarray, max_steps: int) -> None:
        x = self._features(design, origins)
        target = design.target(origins[:, None], np.arange(1, max_steps + 1)[None, :])
        n, p = x.shape
        penalty = self.ridge * n * np.eye(p)
        coef = np.linalg.solve(x.T @ x + penalty, x.T @ target)
        outer = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)
        for _ in range(self.iterations):  # IRLS towards least absolute deviations
            resid = np.abs(target - x @ coef)
            w = 1.0 / np.maximum(resid, 0.05 * resid.mean(axis=0) + 1e-12)  # (n, steps)
            gram = (w.T @ outer).reshape(-1, p, p) + penalty * w.mean(axis=0)[:, None, None]
            rhs = (w * target).T @ x  # (steps, p)
            coef = np.linalg.solve(gram, rhs[..., None])[..., 0].T
        self._coef = coef

    def predict(self, design: Design, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        col = np.minimum(steps, self._coef.shape[1]) - 1
        return self._features(design, origins) @ self._coef[:, col]


class LagRegression(DirectForecaster):
    """Daily profile plus per-step linear regression on lags, with conformal intervals."""

    def __init__(
        self,
        *,
        loss: Literal["absolute", "squared"] = "absolute",
        config: DirectConfig | None = None,
    ) -> None:
        super().__init__([LinearLags(loss)], name="lag_regression", config=config)


__all__ = ["LagRegression", "LinearLags"]
