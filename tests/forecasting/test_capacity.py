"""Capacity signals: when a CPU forecast will cross a share of its capacity."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane import ForecastError, SignalKind
from forecasting.base import Forecast
from forecasting.capacity import CapacityPlanner

INTERVAL_S = 300.0
DAY = 288
NOW = 1_000_000.0


def ramp(t: np.ndarray) -> np.ndarray:
    """CPU cores climbing 0.036 cores an hour, with a small daily wave."""
    return 0.5 + 0.003 * t + 0.05 * np.sin(2 * np.pi * t / DAY)


@pytest.fixture(scope="module")
def history() -> np.ndarray:
    t = np.arange(3 * DAY)
    return ramp(t) + np.random.default_rng(0).normal(0.0, 0.02, len(t))


def true_crossing_minutes(limit: float) -> float:
    future = ramp(np.arange(3 * DAY, 4 * DAY))
    return (int(np.argmax(future >= limit)) + 1) * INTERVAL_S / 60


def test_ramp_crossing_time(history: np.ndarray) -> None:
    truth = true_crossing_minutes(0.8 * 4.0)  # 140 minutes
    mean = CapacityPlanner(bound="mean").check(
        "service/hotel/search/cpu_cores", history, NOW, capacity=4.0
    )
    upper = CapacityPlanner().check("service/hotel/search/cpu_cores", history, NOW, capacity=4.0)
    assert mean is not None and upper is not None
    assert abs(mean.crossing_minutes - truth) <= 30
    assert 0 < upper.crossing_minutes <= mean.crossing_minutes  # the upper bound warns first
    assert upper.summary == (
        f"service hotel/search will exceed 80% of its CPU in {upper.crossing_minutes:.0f} minutes"
    )
    signal = upper.signal
    assert signal.kind == SignalKind.CAPACITY
    assert (signal.service, signal.namespace, signal.node) == ("search", "hotel", None)
    assert signal.start == NOW and signal.score > 1.0
    evidence = {e.name: e for e in signal.evidence}
    assert evidence["crossing_minutes"].value == upper.crossing_minutes
    assert evidence["crossing_at"].value == NOW + upper.crossing_minutes * 60
    assert evidence["capacity"].value == 4.0
    assert evidence["current"].value == pytest.approx(history[-1])
    assert evidence["limit"].value == pytest.approx(3.2)


def test_no_signal_when_the_crossing_is_beyond_the_horizon(history: np.ndarray) -> None:
    planner = CapacityPlanner(bound="mean", horizon_minutes=60)
    assert planner.check("service/hotel/search/cpu_cores", history, NOW, capacity=4.0) is None
    assert CapacityPlanner().check("service/hotel/search/cpu_cores", history, NOW, 40.0) is None


def flat(value: float, spread: float = 0.01) -> Forecast:
    mean = np.full(72, value)
    return Forecast(mean, mean - spread, mean + spread, 0.9)


def test_already_above_and_ratio_series() -> None:
    planner = CapacityPlanner()
    warn = planner.assess("service/hotel/geo/cpu_ratio", flat(0.9), current=0.85, now=NOW)
    assert warn is not None and warn.crossing_minutes == 0
    assert warn.summary == "service hotel/geo is above 80% of its CPU now"
    assert planner.assess("service/hotel/geo/cpu_ratio", flat(0.5), current=0.5, now=NOW) is None


def test_node_series_names_the_node() -> None:
    path = np.linspace(5.0, 9.0, 72)
    forecast = Forecast(path, path - 0.1, path + 0.1, 0.9)
    warn = CapacityPlanner(threshold=0.9).assess(
        "node/-/pool-001/cpu_cores", forecast, current=5.0, now=NOW, capacity=8.0
    )
    assert warn is not None
    assert (warn.signal.node, warn.signal.service, warn.signal.namespace) == (
        "pool-001",
        None,
        None,
    )
    assert warn.summary.startswith("node pool-001 will exceed 90% of its CPU in ")


def test_capacity_is_required_for_cores() -> None:
    planner = CapacityPlanner()
    with pytest.raises(ForecastError, match="capacity"):
        planner.assess("service/hotel/search/cpu_cores", flat(1.0), current=1.0, now=NOW)
    with pytest.raises(ForecastError, match="positive"):
        planner.assess("service/hotel/search/cpu_cores", flat(1.0), 1.0, NOW, capacity=0.0)
    with pytest.raises(ForecastError, match="kind/namespace/object/metric"):
        planner.assess("cpu_cores", flat(1.0), 1.0, NOW, capacity=2.0)
