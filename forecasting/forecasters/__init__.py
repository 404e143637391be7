"""Demand forecasters with daily seasonality and prediction intervals.

Every class here is a :class:`forecasting.base.Forecaster` (``fit(history, season)`` then
``predict(horizon, level)``) and also takes ``update(values)``: new observations that move the
forecast's origin without re-estimating parameters (see :mod:`forecasting.drift`).

- :class:`DemandForecaster` (the default, :func:`default_forecaster`): smoothed daily profile
  plus per-step LAD regression on lags, combined with quantile gradient boosting; split-conformal
  intervals.
- :class:`LagRegression`, :class:`QuantileGBM`: its two members on their own.
- :class:`HoltWinters`: additive damped seasonal ETS, tuned for multi-step error.
- :class:`SeasonalNaive`: the baseline.
"""

from forecasting.forecasters.backtest import Backtest, mase, rolling_origin
from forecasting.forecasters.direct import DirectConfig, DirectForecaster, DirectModel
from forecasting.forecasters.ensemble import DemandForecaster, default_forecaster
from forecasting.forecasters.holt_winters import HoltWinters
from forecasting.forecasters.linear import LagRegression, LinearLags
from forecasting.forecasters.naive import SeasonalNaive, seasonal_naive
from forecasting.forecasters.quantile_gbm import GradientBoostedLags, QuantileGBM

__all__ = [
    "Backtest",
    "DemandForecaster",
    "DirectConfig",
    "DirectForecaster",
    "DirectModel",
    "GradientBoostedLags",
    "HoltWinters",
    "LagRegression",
    "LinearLags",
    "QuantileGBM",
    "SeasonalNaive",
    "default_forecaster",
    "mase",
    "rolling_origin",
    "seasonal_naive",
]
