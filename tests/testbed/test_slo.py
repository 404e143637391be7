"""SLO evaluation on the Istio counters: Prometheus' histogram_quantile and error ratios."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbed.app import SLOSpec
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.slo import Snapshot, evaluate, evaluate_windows, histogram_quantile
from testbed.traffic import BUCKETS_MS, CODES

NS = "hotel"
OK, E500 = CODES.index("200"), CODES.index("500")


# ---------------------------------------------------------------------- histogram_quantile


def test_quantile_interpolates_linearly_inside_the_bucket() -> None:
    bounds, counts = [1.0, 5.0, 10.0], [0.0, 50.0, 100.0]
    assert histogram_quantile(0.5, bounds, counts, 100.0) == pytest.approx(5.0)
    assert histogram_quantile(0.25, bounds, counts, 100.0) == pytest.approx(3.0)
    assert histogram_quantile(0.99, bounds, counts, 100.0) == pytest.approx(9.9)


def test_the_first_bucket_starts_at_zero() -> None:
    assert histogram_quantile(0.5, [10.0, 20.0], [100.0, 100.0], 100.0) == pytest.approx(5.0)


def test_a_rank_beyond_the_finite_buckets_gives_the_highest_bound() -> None:
    assert histogram_quantile(0.99, [1.0, 5.0, 10.0], [0.0, 50.0, 90.0], 100.0) == 10.0


def test_an_empty_histogram_has_no_quantile() -> None:
    assert math.isnan(histogram_quantile(0.99, [1.0, 5.0], [0.0, 0.0], 0.0))


# ---------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster(seed=1, load=Constant(100), noise=0.0)


def _snapshot(cluster: Cluster, time: float) -> Snapshot:
    tr = cluster.traffic
    return Snapshot(time, np.zeros_like(tr.requests), np.zeros_like(tr.hist))


def _fill(snap: Snapshot, edge: int, code: int, count: float, latency_ms: float) -> None:
    """``count`` requests with code ``code`` on ``edge``, all of them taking ``latency_ms``."""
    snap.requests[edge, code] += count
    snap.hist[edge, code] += np.where(latency_ms <= BUCKETS_MS, count, 0.0)


def test_error_ratio_and_latency_over_a_window(cluster: Cluster) -> None:
    tr = cluster.traffic
    ingress = tr.entries[0][0]
    other = next(e.index for e in tr.edges if e.index != ingress)
    before, after = _snapshot(cluster, 0.0), _snapshot(cluster, 300.0)
    _fill(before, ingress, OK, 500, 3)  # counted before the window: subtracted
    _fill(after, ingress, OK, 500 + 990, 3)
    _fill(after, ingress, E500, 10, 40)
    _fill(after, other, E500, 10_000, 5000)  # another service's edge: ignored
    slo = SLOSpec(service="frontend", latency_ms=50, error_ratio=0.01)

    result = evaluate(before, after, tr, slo, NS)

    assert (result.start, result.end, result.requests) == (0.0, 300.0, 1000.0)
    assert result.error_ratio == pytest.approx(0.01)
    # 990 requests in (1, 5] ms and 10 in (25, 50] ms: the 99th percentile is 5 ms
    assert result.latency_ms == pytest.approx(5.0)
    assert result.met


def test_a_breach_of_either_objective_is_not_met(cluster: Cluster) -> None:
    tr = cluster.traffic
    ingress = tr.entries[0][0]
    before, after = _snapshot(cluster, 0.0), _snapshot(cluster, 300.0)
    _fill(after, ingress, OK, 980, 3)
    _fill(after, ingress, E500, 20, 700)

    errors = evaluate(before, after, tr, SLOSpec(service="frontend", latency_ms=None), NS)
    slow = evaluate(before, after, tr, SLOSpec(service="frontend", error_ratio=None), NS)

    assert errors.error_ratio == pytest.approx(0.02) and not errors.met
    assert 500 < slow.latency_ms <= 1000 and not slow.met


def test_a_window_without_requests_is_met(cluster: Cluster) -> None:
    empty = _snapshot(cluster, 0.0)
    result = evaluate(empty, empty, cluster.traffic, SLOSpec(service="frontend"), NS)
    assert result.met and result.requests == 0 and math.isnan(result.latency_ms)


def test_an_unknown_service_is_an_error(cluster: Cluster) -> None:
    empty = _snapshot(cluster, 0.0)
    with pytest.raises(KeyError, match="nowhere"):
        evaluate(empty, empty, cluster.traffic, SLOSpec(service="nowhere"), NS)


def test_windows_of_a_running_cluster_see_an_added_delay() -> None:
    cluster = Cluster(seed=2, load=Constant(100))
    cluster.advance(120)
    slo = cluster.apps[0].spec.effective_slos()[0]
    snaps = [Snapshot.take(cluster)]
    for delay in (0.0, 0.8):
        cluster.traffic.extra_latency_s[cluster.traffic.entries[0][1]] = delay
        cluster.advance(slo.window_s)
        snaps.append(Snapshot.take(cluster))

    healthy, slow = evaluate_windows(snaps, cluster.traffic, slo, NS)

    assert healthy.met and healthy.error_ratio == 0 and 0 < healthy.latency_ms < 100
    assert healthy.requests == pytest.approx(100 * slo.window_s, rel=0.05)
    assert not slow.met and slow.latency_ms > slo.latency_ms  # type: ignore[operator]
