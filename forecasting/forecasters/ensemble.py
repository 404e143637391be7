"""The default demand forecaster: lag regression and quantile boosting, combined.

Both members share the daily profile and the split-conformal intervals of
:class:`~forecasting.forecasters.direct.DirectForecaster`; the intervals are calibrated on the
combination itself, so they cover what the combination misses. On the data-centre traces the
combination is a little more accurate than the linear member alone and better calibrated (the
boosted member learns time-of-day and non-linear effects the linear one cannot); see
``benchmarks/forecast.py``.
"""

from __future__ import annotations

from forecasting.forecasters.direct import DirectConfig, DirectForecaster
from forecasting.forecasters.linear import LinearLags
from forecasting.forecasters.quantile_gbm import GradientBoostedLags

#: Weight of the linear member; the boosted member gets the rest.
LINEAR_WEIGHT = 0.7


class DemandForecaster(DirectForecaster):
    """Daily profile; per-step LAD on lags and quantile GBM, averaged; conformal intervals.

    The boosted member is trained once, on the history before the calibration tail (its
    out-of-sample errors are then exactly those of the model that forecasts); the cheap linear
    member is retrained on the whole history after calibrating.
    """

    def __init__(self, *, config: DirectConfig | None = None) -> None:
        super().__init__(
            [LinearLags(), GradientBoostedLags(refit=False)],
            weights=[LINEAR_WEIGHT, 1 - LINEAR_WEIGHT],
            name="demand",
            config=config,
        )


def default_forecaster() -> DemandForecaster:
    """The forecaster the control plane uses unless told otherwise."""
    return DemandForecaster()


__all__ = ["DemandForecaster", "default_forecaster"]
