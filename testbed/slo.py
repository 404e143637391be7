"""Service level objectives evaluated on the traffic model's Istio counters, as Prometheus would.

An SLO (:class:`testbed.app.SLOSpec`) is about the requests into one service, all callers
together: the share that failed (any code but 200) and a latency quantile over a window. Take a
:class:`Snapshot` of the cumulative counters at each end of the window and :func:`evaluate` the
difference the way ``sum(rate(istio_requests_total[5m]))`` and ``histogram_quantile(0.99,
sum by (le) (rate(istio_request_duration_milliseconds_bucket[5m])))`` would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from .app import SLOSpec
from .traffic import BUCKETS_MS, CODES

if TYPE_CHECKING:
    from .cluster import Cluster
    from .traffic import TrafficModel

OK = CODES.index("200")


@dataclass(frozen=True)
class Snapshot:
    """The cumulative edge counters (requests by code, latency histograms) at one time."""

    time: float
    requests: np.ndarray  # edges x codes
    hist: np.ndarray  # edges x codes x buckets, cumulative (``le``) counts

    @classmethod
    def take(cls, cluster: Cluster) -> Snapshot:
        traffic = cluster.traffic
        return cls(cluster.now, traffic.requests.copy(), traffic.hist.copy())


@dataclass(frozen=True)
class SLOResult:
    """One window's outcome. ``latency_ms`` is NaN when no request arrived (the SLO is met)."""

    start: float
    end: float
    requests: float
    error_ratio: float
    latency_ms: float
    met: bool


def histogram_quantile(
    q: float, bounds: Sequence[float], counts: Sequence[float], total: float
) -> float:
    """Prometheus' ``histogram_quantile`` over cumulative bucket ``counts``.

    ``bounds`` are the finite upper bounds (``le``), ``counts`` the cumulative counts in them and
    ``total`` the ``+Inf`` bucket. The rank ``q * total`` falls in the first bucket whose count
    reaches it; the value is interpolated linearly inside that bucket (the first one starting at
    0); a rank beyond the last finite bucket gives its bound. NaN when the histogram is empty.
    """
    if total <= 0 or not bounds:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for i, (bound, count) in enumerate(zip(bounds, counts, strict=True)):
        if count >= rank:
            if i == 0 and bound <= 0:
                return float(bound)
            inside = count - below
            if inside <= 0:
                return float(bound)
            return lower + (float(bound) - lower) * (rank - below) / inside
        lower, below = float(bound), float(count)
    return float(bounds[-1])


def evaluate(
    before: Snapshot, after: Snapshot, traffic: TrafficModel, slo: SLOSpec, namespace: str
) -> SLOResult:
    """The SLO over the window between two snapshots, for requests into ``slo.service``."""
    dst = traffic.component_of(namespace, slo.service)
    if dst < 0:
        raise KeyError(f"no service {slo.service!r} in namespace {namespace!r}")
    edges = [e.index for e in traffic.edges if e.dst == dst]
    requests = (after.requests[edges] - before.requests[edges]).sum(axis=0)
    buckets = (after.hist[edges] - before.hist[edges]).sum(axis=(0, 1))
    total = float(requests.sum())
    if total <= 0:
        return SLOResult(before.time, after.time, 0.0, 0.0, math.nan, True)
    error_ratio = float(requests.sum() - requests[OK]) / total
    latency = histogram_quantile(slo.latency_quantile, BUCKETS_MS.tolist(), buckets.tolist(), total)
    met = (slo.error_ratio is None or error_ratio <= slo.error_ratio) and (
        slo.latency_ms is None or latency <= slo.latency_ms
    )
    return SLOResult(before.time, after.time, total, error_ratio, latency, met)


def evaluate_windows(
    snapshots: Sequence[Snapshot], traffic: TrafficModel, slo: SLOSpec, namespace: str
) -> list[SLOResult]:
    """The SLO over each window between consecutive snapshots."""
    return [evaluate(a, b, traffic, slo, namespace) for a, b in pairwise(snapshots)]


__all__ = ["SLOResult", "Snapshot", "evaluate", "evaluate_windows", "histogram_quantile"]


# ---------------------------------------------------------------------- from an exposition

#: An Istio edge as ``/metrics`` names it: source namespace, source, destination namespace,
#: destination.
EdgeKey = tuple[str, str, str, str]
_ISTIO_PREFIXES = ("istio_requests_total{", "istio_request_duration_milliseconds_bucket{")


@dataclass(frozen=True)
class ExpositionSnapshot(Snapshot):
    """A :class:`Snapshot` read from a ``/metrics`` exposition: row ``i`` is ``edges[i]``.

    Only edges and codes that have been counted appear in an exposition, so two snapshots may
    hold different rows; :func:`evaluate_exposition` pairs them by edge.
    """

    edges: tuple[EdgeKey, ...] = ()


def snapshot_from_exposition(text: str, time: float = 0.0) -> ExpositionSnapshot:
    """The Istio counters of a Prometheus text exposition (what an operator's scraper sees).

    Reads ``istio_requests_total`` and the ``istio_request_duration_milliseconds_bucket``
    histogram by edge and response code; codes other than :data:`~testbed.traffic.CODES` and
    the ``+Inf`` bucket (equal to the request count) are skipped. ``time`` stamps the snapshot.
    """
    from prometheus_client.parser import text_string_to_metric_families

    lines = [line for line in text.splitlines() if line.startswith(_ISTIO_PREFIXES)]
    bucket_of = {float(b): i for i, b in enumerate(BUCKETS_MS)}
    rows: dict[EdgeKey, int] = {}
    requests: list[np.ndarray] = []
    hist: list[np.ndarray] = []
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            labels = sample.labels
            code = labels.get("response_code", "")
            if code not in CODES:
                continue
            key = (
                labels.get("source_workload_namespace", ""),
                labels.get("source_workload", ""),
                labels.get("destination_workload_namespace", ""),
                labels.get("destination_workload", ""),
            )
            row = rows.get(key)
            if row is None:
                row = rows[key] = len(rows)
                requests.append(np.zeros(len(CODES)))
                hist.append(np.zeros((len(CODES), len(BUCKETS_MS))))
            k = CODES.index(code)
            if sample.name == "istio_requests_total":
                requests[row][k] = sample.value
            elif sample.name.endswith("_bucket"):
                bucket = bucket_of.get(float(labels.get("le", "+Inf")))
                if bucket is not None:
                    hist[row][k, bucket] = sample.value
    shape = (len(rows), len(CODES))
    return ExpositionSnapshot(
        time,
        np.array(requests).reshape(shape),
        np.array(hist).reshape((*shape, len(BUCKETS_MS))),
        tuple(rows),
    )


def evaluate_exposition(
    before: ExpositionSnapshot, after: ExpositionSnapshot, slo: SLOSpec, namespace: str
) -> SLOResult:
    """:func:`evaluate` for snapshots read from expositions (no traffic model at hand).

    Edges are paired by name; an edge absent from ``before`` counts from zero, and a counter
    that went down (a restarted exporter) counts from zero too, as Prometheus' ``rate`` does.
    """
    earlier = {key: i for i, key in enumerate(before.edges)}
    requests = np.zeros(len(CODES))
    buckets = np.zeros(len(BUCKETS_MS))
    for row, key in enumerate(after.edges):
        if key[2:] != (namespace, slo.service):
            continue
        req, hist = after.requests[row], after.hist[row]
        i = earlier.get(key)
        if i is not None and np.all(req >= before.requests[i]):
            req, hist = req - before.requests[i], hist - before.hist[i]
        requests += req
        buckets += hist.sum(axis=0)
    total = float(requests.sum())
    if total <= 0:
        return SLOResult(before.time, after.time, 0.0, 0.0, math.nan, True)
    error_ratio = float(total - requests[OK]) / total
    latency = histogram_quantile(slo.latency_quantile, BUCKETS_MS.tolist(), buckets.tolist(), total)
    met = (slo.error_ratio is None or error_ratio <= slo.error_ratio) and (
        slo.latency_ms is None or latency <= slo.latency_ms
    )
    return SLOResult(before.time, after.time, total, error_ratio, latency, met)


__all__ += ["ExpositionSnapshot", "evaluate_exposition", "snapshot_from_exposition"]
