"""Forecasting: anomaly detectors, demand forecasters and drift checks that emit Signals.

The monitors (:class:`AnomalyMonitor`, :class:`CapacityMonitor`) are what the loop runs; see
``docs/forecasting.md``.
"""

from forecasting.base import Detector, Forecast, Forecaster
from forecasting.capacity import CapacityPlanner, CapacityWarning
from forecasting.drift import DriftMonitor, ManagedForecaster
from forecasting.ensemble import DEFAULT_THRESHOLD, Ensemble, default_ensemble
from forecasting.forecasters import default_forecaster
from forecasting.monitor import SYMPTOMS, AnomalyMonitor, CapacityMonitor, Effect
from forecasting.signals import SignalEmitter, parse_series

__all__ = [
    "DEFAULT_THRESHOLD",
    "SYMPTOMS",
    "AnomalyMonitor",
    "CapacityMonitor",
    "CapacityPlanner",
    "CapacityWarning",
    "Detector",
    "DriftMonitor",
    "Effect",
    "Ensemble",
    "Forecast",
    "Forecaster",
    "ManagedForecaster",
    "SignalEmitter",
    "default_ensemble",
    "default_forecaster",
    "parse_series",
]
