"""ViewSLOReader on hand-made views and stores: keys, windows, quantiles, burn rates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from controlplane.domain import SLO, SLOReader
from telemetry import ClusterView, SeriesStore, ServiceView, ViewSLOReader, bucket_series

INF = math.inf


@dataclass
class Provider:
    view: ClusterView | None = None
    store: SeriesStore | None = None
    rate_window_s: float = 60.0


def view(
    t: float, rps: float, errors: float, buckets: tuple[tuple[float, float], ...]
) -> ClusterView:
    svc = ServiceView("shop", "cart", rps=rps, error_ratio=errors, p50_ms=5, p95_ms=50, p99_ms=90)
    svc.latency_buckets = buckets
    return ClusterView(time=t, services={svc.key: svc})


SLOS = [
    SLO(
        service="cart",
        namespace="shop",
        latency_quantile=0.9,
        latency_ms=60,
        error_ratio=0.05,
        window_s=120,
    ),
    SLO(service="gone", namespace="shop", error_ratio=0.01),
]


def test_status_is_keyed_by_namespace_and_service_and_empty_before_a_view() -> None:
    reader = ViewSLOReader(Provider(), SLOS)
    assert isinstance(reader, SLOReader)
    assert reader.status() == {}
    reader.provider.view = view(100, 10, 0.0, ((10, 9), (100, 10), (INF, 10)))
    status = reader.status()
    assert set(status) == {"shop/cart", "shop/gone"}
    gone = status["shop/gone"]
    assert (gone.met, gone.latency_ms, gone.error_ratio, gone.at) == (True, None, None, 100)


def test_without_a_store_the_latest_view_counts() -> None:
    provider = Provider(view(100, 10, 0.1, ((10, 5), (100, 10), (INF, 10))))
    cart = ViewSLOReader(provider, SLOS).status()["shop/cart"]
    assert cart.latency_ms == pytest.approx(10 + 90 * (9 - 5) / 5)  # p90 of the view's histogram
    assert cart.error_ratio == pytest.approx(0.1)
    assert not cart.met
    assert cart.burn_rate == pytest.approx(0.1 / 0.01)  # budget 1 - 0.99
    provider.view.services["shop/cart"].latency_buckets = ()
    cart = ViewSLOReader(provider, SLOS).status()["shop/cart"]
    assert cart.latency_ms == 50  # p95, the computed quantile closest to 0.9


def test_the_slo_window_is_tiled_with_rate_windows_from_the_store() -> None:
    store = SeriesStore()
    provider = Provider(store=store)
    healthy = ((10, 10), (100, 10), (INF, 10))
    slow = ((10, 0), (100, 20), (INF, 20))
    # ticks every 30 s; rates over 60 s. Tiles of the last 120 s: the ticks at 300 and 240.
    for t, rps, err, buckets in [
        (150, 10, 0.0, healthy),  # outside the window (180, 300]
        (180, 10, 0.0, healthy),
        (210, 10, 0.0, healthy),  # inside, but its rate window overlaps the tiles'
        (240, 10, 0.0, healthy),
        (270, 15, 0.5, healthy),  # the same
        (300, 20, 0.25, slow),
    ]:
        v = view(t, rps, err, buckets)
        store.append(t, {**v.series(), **bucket_series(v)})
        provider.view = v
    cart = ViewSLOReader(provider, SLOS).status()["shop/cart"]
    assert cart.error_ratio == pytest.approx((20 * 0.25) / (10 + 20))
    # 30 requests/s over the tiles: 10 under 10 ms, all under 100 ms; rank 27 in (10, 100]
    assert cart.latency_ms == pytest.approx(10 + 90 * (27 - 10) / 20)
    assert not cart.met and cart.at == 300
    # without the rate window every tick in the window counts alike
    smoothed = ViewSLOReader(provider, SLOS)
    smoothed.rate_window_s = None
    cart = smoothed.status()["shop/cart"]
    assert cart.error_ratio == pytest.approx((15 * 0.5 + 20 * 0.25) / (10 + 15 + 20 + 10))
