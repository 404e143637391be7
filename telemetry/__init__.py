"""Telemetry: sources (scrape, PromQL, events, logs), the windowed series store, the SLOReader.

A :class:`Collector` ticks its :class:`Source`\\ s into :class:`ClusterView`\\ s and a
:class:`SeriesStore`; :class:`ViewSLOReader` reads SLO status from them. Metric sources share
one :class:`ViewBuilder`, which turns a :class:`Frame` (gauges and counter rates) into views.
"""

from .collector import Backoff, Collector, merge_views
from .exposition import Family, is_counter, parse_exposition
from .frame import Frame, Sample
from .histogram import bucket_series, histogram_quantile
from .model import (
    EDGE_METRICS,
    NODE_METRICS,
    SERVICE_METRICS,
    ClusterView,
    EdgeView,
    KubeEvent,
    NodeView,
    ServiceView,
    SourceState,
    SourceStatus,
    parse_series,
)
from .rates import CounterWindow, counter_increase
from .slo import ViewProvider, ViewSLOReader
from .sources import KubernetesSource, LogLines, PrometheusSource, ScrapeSource, Source
from .store import SeriesStore, SeriesWindow
from .views import COUNTERS, GAUGES, HELD, ViewBuilder

__all__ = [
    "COUNTERS",
    "EDGE_METRICS",
    "GAUGES",
    "HELD",
    "NODE_METRICS",
    "SERVICE_METRICS",
    "Backoff",
    "ClusterView",
    "Collector",
    "CounterWindow",
    "EdgeView",
    "Family",
    "Frame",
    "KubeEvent",
    "KubernetesSource",
    "LogLines",
    "NodeView",
    "PrometheusSource",
    "Sample",
    "ScrapeSource",
    "SeriesStore",
    "SeriesWindow",
    "ServiceView",
    "Source",
    "SourceState",
    "SourceStatus",
    "ViewBuilder",
    "ViewProvider",
    "ViewSLOReader",
    "bucket_series",
    "counter_increase",
    "histogram_quantile",
    "is_counter",
    "merge_views",
    "parse_exposition",
    "parse_series",
]
