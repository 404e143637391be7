"""Forecasting: anomaly detectors, demand forecasters and drift checks that emit Signals."""

__all__: list[str] = []
