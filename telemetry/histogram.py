"""Histogram quantiles as Prometheus' ``histogram_quantile`` computes them, and the store's
series for a service's latency histogram.

Buckets are ``(upper bound, cumulative count or rate)`` pairs, as the ``le`` series of a
Prometheus histogram; the ``+Inf`` bucket holds the total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .model import ClusterView

__all__ = [
    "BUCKET_PREFIX",
    "bucket_series",
    "histogram_quantile",
]

Buckets = Iterable[tuple[float, float]]

#: Store series of latency histograms: ``hist/<namespace>/<service>/le=<bound>``.
BUCKET_PREFIX = "hist"


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """The ``q``-quantile of a histogram, after Prometheus' ``bucketQuantile``.

    Buckets are sorted and merged by bound and made monotonic; without a ``+Inf`` bucket, with
    fewer than two buckets or no observations the result is NaN. The rank ``q * total`` falls
    in the first bucket whose cumulative count reaches it and is interpolated linearly inside
    it (the first bucket starts at 0, unless its bound is not positive: then the bound is the
    answer); a rank in the ``+Inf`` bucket gives the highest finite bound.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        if math.isnan(count):
            continue
        merged[float(bound)] = merged.get(float(bound), 0.0) + float(count)
    bounds = sorted(merged)
    if len(bounds) < 2 or not math.isinf(bounds[-1]):
        return math.nan
    counts: list[float] = []
    for bound in bounds:  # ensure monotonic counts (rates of separate series may jitter)
        counts.append(max(merged[bound], counts[-1] if counts else merged[bound]))
    total = counts[-1]
    if not total > 0:
        return math.nan
    rank = q * total
    b = next(i for i, count in enumerate([*counts[:-1], math.inf]) if count >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, below = (bounds[b - 1], counts[b - 1]) if b > 0 else (0.0, 0.0)
    inside = counts[b] - below
    if inside <= 0:
        return start
    return start + (bounds[b] - start) * (rank - below) / inside


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def bucket_series(view: ClusterView) -> dict[str, float]:
    """Each service's latency bucket rates under ``hist/<ns>/<service>/le=<bound>``."""
    return {
        f"{BUCKET_PREFIX}/{svc.namespace}/{svc.name}/le={_le(bound)}": rate
        for svc in view.services.values()
        for bound, rate in svc.latency_buckets
    }
