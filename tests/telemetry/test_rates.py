"""Counters into rates and histograms into quantiles, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from telemetry import CounterWindow, Frame, Sample, counter_increase, histogram_quantile
from telemetry.exposition import is_counter, parse_exposition
from testbed import slo as testbed_slo

NAN = math.nan


@pytest.mark.parametrize(
    ("values", "increase"),
    [
        ([1, 3, 6], 5),  # plain
        ([10, 12, 3, 5], 2 + 3 + 2),  # a reset: the step down adds the new value
        ([10, 0, 0], 0),  # reset to zero, no counting after it
        ([5, 2], 2),  # reset at the last step
        ([NAN, 4, 6], 6),  # a new series counts from zero
        ([NAN, NAN, 7], 7),
        ([1, NAN, 4], 3),  # a gap is bridged
        ([1, 3, NAN], 2),  # vanished: counts while it was there
        ([4], 0),  # one snapshot: no increase
    ],
)
def test_counter_increase(values: list[float], increase: float) -> None:
    assert counter_increase(np.array(values, dtype=float))[0] == pytest.approx(increase)


def test_a_series_seen_before_the_window_does_not_count_from_zero() -> None:
    values = np.array([[NAN, NAN], [100, 100], [104, 104]])
    seen = np.array([True, False])
    assert counter_increase(values, seen).tolist() == [4, 104]


def sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(name, labels, value)


def test_counter_window_rates_over_the_window() -> None:
    window = CounterWindow()
    assert window.rates(60) == (0.0, [])
    window.add(0, [sample("c_total", 0, pod="a")])
    assert window.rates(60) == (0.0, [])  # one snapshot: no rate yet
    for t, a, b in [(15, 30, None), (30, 60, 5), (45, 30, 10), (60, 90, 20)]:
        samples = [sample("c_total", a, pod="a")]
        if b is not None:
            samples.append(sample("c_total", b, pod="b"))
        window.add(t, samples)
    span, rates = window.rates(60)
    by_pod = {s.labels["pod"]: s.value for s in rates}
    # a: 0 -> 30 -> 60 -> (reset) 30 -> 90 = 30 + 30 + 30 + 60 = 150 over 60 s
    # b: new at t=30, counted from 0 at t=15: 5 + 5 + 10 = 20 over 60 s
    assert span == 60
    assert by_pod == pytest.approx({"a": 150 / 60, "b": 20 / 60})
    span, rates = window.rates(30)  # snapshots at 30, 45, 60 (older ones pruned)
    assert span == 30
    assert {s.labels["pod"]: s.value for s in rates} == pytest.approx({"a": 90 / 30, "b": 15 / 30})


def test_counter_window_keeps_vanished_series_and_forgets_old_ones() -> None:
    window = CounterWindow(max_snapshots=4)
    for t in range(0, 100, 10):
        samples = [sample("c_total", t * 2, pod="stays")]
        if t < 50:
            samples.append(sample("c_total", t, pod="goes"))
        window.add(t, samples)
        window.rates(25)
    span, rates = window.rates(25)
    assert len(window) <= 4
    assert span == 20
    assert [s.labels["pod"] for s in rates] == ["stays"]
    assert rates[0].value == pytest.approx(2.0)


def test_counter_window_bounds_its_index_under_churn() -> None:
    window = CounterWindow(max_snapshots=8)
    for t in range(200):
        window.add(t, [sample("c_total", t, pod=f"p{t // 2}-{i}") for i in range(50)])
        window.rates(5)
    assert window.series <= 2 * 512 + 100
    assert window.nbytes < 8 * 8 * 2000


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 1.5),  # rank 20 in (1, 2]: 1 + (20 - 10) / 20
        (0.1, 0.4),  # rank 4 in the first bucket, which starts at 0
        (0.25, 1.0),  # rank 10 is exactly the first bucket's count
        (0.9, 2.0),  # rank 36 in +Inf: the highest finite bound
        (1.0, 2.0),
        (-0.1, -math.inf),
        (1.1, math.inf),
    ],
)
def test_histogram_quantile_by_hand(q: float, expected: float) -> None:
    buckets = [(1.0, 10.0), (2.0, 30.0), (math.inf, 40.0)]
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edge_cases() -> None:
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))  # no observations
    assert math.isnan(histogram_quantile(0.5, [(1.0, 3.0), (2.0, 5.0)]))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.5, [(math.inf, 5.0)]))  # one bucket
    assert histogram_quantile(0.5, [(-1.0, 4.0), (math.inf, 5.0)]) == -1.0  # non-positive bound
    # unsorted, duplicated and non-monotonic buckets are repaired as Prometheus does
    messy = [(math.inf, 40.0), (2.0, 20.0), (1.0, 10.0), (2.0, 10.0), (1.5, 5.0)]
    assert histogram_quantile(0.5, messy) == pytest.approx(1.5 + 0.5 * (20 - 10) / 20)


def test_histogram_quantile_agrees_with_the_testbeds_implementation() -> None:
    rng = np.random.default_rng(3)
    bounds = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000]
    for _ in range(50):
        counts = np.cumsum(rng.integers(0, 20, len(bounds) + 1)).astype(float)
        q = float(rng.uniform(0.01, 0.99))
        ours = histogram_quantile(
            q, [*zip(bounds, counts[:-1], strict=True), (math.inf, counts[-1])]
        )
        theirs = testbed_slo.histogram_quantile(q, bounds, counts[:-1].tolist(), float(counts[-1]))
        assert ours == pytest.approx(theirs, nan_ok=True)


def test_histogram_of_prometheus_client_into_quantiles_over_a_window() -> None:
    """Observations between two expositions: the bucket rates' quantile, by hand."""
    reg = CollectorRegistry()
    h = Histogram("lat_ms", "Latency.", ["svc"], buckets=(10, 20, 40), registry=reg)
    window = CounterWindow()

    def snapshot(t: float) -> None:
        families = parse_exposition(generate_latest(reg).decode())
        window.add(t, [s for f in families for s in f.samples if is_counter(f.type, s.name)])

    for v in (5, 5, 15):
        h.labels(svc="a").observe(v)  # before the window: not counted
    snapshot(0)
    for v in [5] * 10 + [15] * 20 + [30] * 8 + [100] * 2:
        h.labels(svc="a").observe(v)
    snapshot(10)
    span, rates = window.rates(10)
    frame = Frame(
        10, span, rates={"lat_ms_bucket": [s for s in rates if s.name == "lat_ms_bucket"]}
    )
    buckets = sorted((float(s.labels["le"]), s.value) for s in frame.rate("lat_ms_bucket"))
    assert [b for b, _ in buckets] == [10, 20, 40, math.inf]
    assert [r for _, r in buckets] == pytest.approx([1.0, 3.0, 3.8, 4.0])
    # 40 observations: rank 20 in (10, 20] (10 below, 20 inside): 10 + 10 * 10 / 20
    assert histogram_quantile(0.5, buckets) == pytest.approx(15.0)
    # rank 36 in (20, 40] (30 below, 8 inside): 20 + 20 * 6 / 8
    assert histogram_quantile(0.9, buckets) == pytest.approx(35.0)
