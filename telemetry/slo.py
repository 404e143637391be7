"""The kernel's :class:`~controlplane.domain.SLOReader`, from the collector's views and windows.

:class:`ViewSLOReader` answers, for every configured :class:`~controlplane.domain.SLO`, the
service's status at the latest view, **keyed by** ``"<namespace>/<service>"`` (services of
several applications may share a name). Over the SLO's own window (``slo.window_s``), from the
series store, where each tick's rates cover the collector's rate window ``W``:

* the window is tiled with the stored ticks at ``end``, ``end - W``, ``end - 2W``, ... (the
  nearest tick within ``W/2``), whose rate windows do not overlap, so their sum is the
  window's ``increase`` (a last tile that sticks out of the window counts pro rata);
* the **error ratio** is ``sum(rps * error_ratio) / sum(rps)`` over the tiles;
* the **latency** is the exact quantile ``slo.latency_quantile`` of the service's Istio
  histogram, its bucket rates (``hist/<ns>/<svc>/le=...``) summed over the tiles.

Without ``W`` (a provider that does not say its ``rate_window_s``) every tick in the window
counts alike, a smoothed figure. Without a store (or before it holds the service) the latest
view's figures are used: its error ratio and the exact quantile of its histogram, or else the
closest of p50/p95/p99. ``met`` is :meth:`SLO.is_met`, no traffic (no latency) breaks no bound,
and the burn rate is the error ratio over the error budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from controlplane.domain import SLO, SLOStatus

from .histogram import BUCKET_PREFIX, histogram_quantile
from .model import ClusterView, ServiceView
from .store import SeriesStore

__all__ = ["ViewProvider", "ViewSLOReader"]


class ViewProvider(Protocol):
    """Anything with a latest cluster view, such as the :class:`~telemetry.collector.Collector`."""

    @property
    def view(self) -> ClusterView | None: ...


class ViewSLOReader:
    """SLO status per ``namespace/service`` from a view provider and (optionally) a store.

    ``store`` and ``rate_window_s`` default to the provider's attributes of those names when it
    has them (a collector).
    """

    def __init__(
        self,
        provider: ViewProvider,
        slos: Sequence[SLO],
        store: SeriesStore | None = None,
        rate_window_s: float | None = None,
    ) -> None:
        self.provider = provider
        self.slos = list(slos)
        default = getattr(provider, "store", None)
        self.store = store if store is not None else default
        if self.store is not None and not isinstance(self.store, SeriesStore):
            self.store = None
        window = rate_window_s or getattr(provider, "rate_window_s", None)
        self.rate_window_s = float(window) if isinstance(window, int | float) else None

    def status(self) -> Mapping[str, SLOStatus]:
        """The status of every SLO's service at the latest view (empty before the first)."""
        view = self.provider.view
        if view is None:
            return {}
        return {f"{slo.namespace}/{slo.service}": self._status(slo, view) for slo in self.slos}

    def _status(self, slo: SLO, view: ClusterView) -> SLOStatus:
        svc = view.services.get(f"{slo.namespace}/{slo.service}")
        error_ratio, latency = self._from_store(slo, view.time)
        if error_ratio is None and latency is None and svc is not None:
            error_ratio, latency = _from_view(slo, svc)
        met = slo.is_met(latency, error_ratio)
        return SLOStatus(
            service=slo.service,
            namespace=slo.namespace,
            latency_ms=latency,
            error_ratio=error_ratio,
            met=met,
            burn_rate=slo.burn_rate(error_ratio or 0.0),
            at=view.time,
        )

    def _from_store(self, slo: SLO, end: float) -> tuple[float | None, float | None]:
        store = self.store
        base = f"service/{slo.namespace}/{slo.service}"
        if store is None or f"{base}/rps" not in store:
            return None, None
        times, rps = store.window(f"{base}/rps", slo.window_s, end)
        errors = store.window(f"{base}/error_ratio", slo.window_s, end).values
        weights = self._tiles(times, end, slo.window_s)
        used = (weights > 0) & ~np.isnan(rps) & ~np.isnan(errors)
        requests = float((weights * rps)[used].sum())
        error_ratio = None
        if requests > 0:
            error_ratio = _ratio(float((weights * rps * errors)[used].sum()) / requests)
        buckets = []
        for name in store.names(f"{BUCKET_PREFIX}/{slo.namespace}/{slo.service}/"):
            values = store.window(name, slo.window_s, end).values
            bound = float(name.rpartition("/le=")[2])
            buckets.append((bound, float(np.nansum(weights * values))))
        latency = _latency(histogram_quantile(slo.latency_quantile, buckets))
        return error_ratio, latency

    def _tiles(self, times: np.ndarray, end: float, window_s: float) -> np.ndarray:
        """Each tick's weight: tiles of the rate window back from ``end``, or 1 for all."""
        step = self.rate_window_s
        if step is None or len(times) == 0:
            return np.ones(len(times))
        weights = np.zeros(len(times))
        for k in range(math.ceil(window_s / step - 1e-9)):
            gap = np.abs(times - (end - k * step))
            nearest = int(gap.argmin())
            if gap[nearest] <= step / 2:
                weights[nearest] = min(1.0, window_s / step - k)
        return weights


def _from_view(slo: SLO, svc: ServiceView) -> tuple[float | None, float | None]:
    error_ratio = None if math.isnan(svc.error_ratio) or svc.rps == 0 else svc.error_ratio
    if svc.latency_buckets:
        latency = histogram_quantile(slo.latency_quantile, svc.latency_buckets)
    else:
        computed = {0.5: svc.p50_ms, 0.95: svc.p95_ms, 0.99: svc.p99_ms}
        latency = computed[min(computed, key=lambda q: abs(q - slo.latency_quantile))]
    return (None if error_ratio is None else _ratio(error_ratio)), _latency(latency)


def _ratio(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _latency(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else max(value, 0.0)
