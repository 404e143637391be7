"""Streaming anomaly detectors, one module each; each is a :class:`forecasting.base.Detector`."""

from forecasting.detectors.discord import NearestWindow
from forecasting.detectors.ewma import EwmaZ
from forecasting.detectors.forest import IsolationForestDetector, LagForest
from forecasting.detectors.level_shift import LevelShift
from forecasting.detectors.seasonal import SeasonalEnvelope, SeasonalRobustZ

__all__ = [
    "EwmaZ",
    "IsolationForestDetector",
    "LagForest",
    "LevelShift",
    "NearestWindow",
    "SeasonalEnvelope",
    "SeasonalRobustZ",
]
