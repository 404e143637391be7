"""The windowed series store: windows, last values, names, and bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telemetry import SeriesStore


def test_window_last_and_names() -> None:
    store = SeriesStore(points=10)
    assert store.now is None
    assert store.last("a") is None
    for t in range(5):
        store.append(100.0 + 5 * t, {"service/ns/a/rps": float(t), "node/-/n1/cpu_ratio": 0.5})
    store.append(125.0, {"service/ns/a/rps": 9.0})  # the node is missing at this tick
    assert store.now == 125.0
    assert store.last("service/ns/a/rps") == 9.0
    assert math.isnan(store.last("node/-/n1/cpu_ratio") or 0.0)
    window = store.window("service/ns/a/rps", 10)  # (115, 125]
    assert window.times.tolist() == [120.0, 125.0]
    assert window.values.tolist() == [4.0, 9.0]
    node = store.window("node/-/n1/cpu_ratio", 100)
    assert node.times.tolist() == [100.0, 105.0, 110.0, 115.0, 120.0, 125.0]
    assert np.isnan(node.values[-1]) and node.values[:-1].tolist() == [0.5] * 5
    assert store.window("service/ns/a/rps", 10, end=110.0).values.tolist() == [1.0, 2.0]
    assert store.names("service/") == ["service/ns/a/rps"]
    assert store.names() == ["node/-/n1/cpu_ratio", "service/ns/a/rps"]
    assert len(store.window("nope", 10).times) == 0
    assert "service/ns/a/rps" in store and len(store) == 2


def test_the_ring_keeps_only_the_last_points() -> None:
    store = SeriesStore(points=4)
    for t in range(10):
        store.append(float(t), {"x": float(t * t)})
    window = store.window("x", 1000)
    assert window.times.tolist() == [6.0, 7.0, 8.0, 9.0]
    assert window.values.tolist() == [36.0, 49.0, 64.0, 81.0]


def test_time_must_not_go_back() -> None:
    store = SeriesStore()
    store.append(10.0, {"x": 1.0})
    store.append(10.0, {"x": 2.0})  # the same time is fine
    with pytest.raises(ValueError, match="went back"):
        store.append(9.0, {"x": 1.0})


def test_memory_stays_bounded_under_many_series_and_points() -> None:
    points, cap = 50, 1_000
    store = SeriesStore(points=points, max_series=cap)
    bound = cap * points * 8 + points * 8 + cap * 8 + cap * 200 + 100_000
    for t in range(300):
        # 300 churning series a tick (90,000 names in all) and one that is always there
        series = {f"edge/ns/pod-{t}-{i}>x/rps": float(i) for i in range(300)}
        series["service/ns/steady/rps"] = float(t)
        store.append(float(t), series)
        assert len(store) <= cap
        assert store.nbytes <= bound
    assert store.evicted == 300 * 300 + 1 - cap
    # least recently updated went first: the steady series and the latest ticks' series stayed
    assert store.last("service/ns/steady/rps") == 299.0
    assert store.window("service/ns/steady/rps", 1e9).values.tolist() == list(
        map(float, range(250, 300))
    )
    assert "edge/ns/pod-299-0>x/rps" in store
    assert "edge/ns/pod-0-0>x/rps" not in store
    # a name evicted and seen again starts a fresh row, without the old points
    store.append(300.0, {"edge/ns/pod-0-0>x/rps": 7.0})
    window = store.window("edge/ns/pod-0-0>x/rps", 1e9)
    assert np.nansum(window.values) == 7.0


def test_one_tick_may_not_exceed_the_cap() -> None:
    store = SeriesStore(points=2, max_series=3)
    with pytest.raises(ValueError, match="max_series"):
        store.append(0.0, {str(i): 0.0 for i in range(4)})
