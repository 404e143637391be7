"""The second shipped application, ``online-boutique``: its shape and its calibration.

The fault library is exercised on both shipped applications, so this one is deliberately unlike
the hotel app: other names (no ``frontend``), another namespace and node pool, a deeper call graph.
Its performance parameters are calibrated so that the default load's peak runs every service at
20-60 % of its CPU limit without errors, while a 3x flash crowd saturates the currency service
and fails requests at the entry. These tests hold the file to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

from controlplane.cli import main
from testbed.app import AppSpec, builtin_apps, load_app
from testbed.cluster import Cluster
from testbed.load import Constant, FlashCrowd
from testbed.traffic import BUCKETS_MS, CODES

APP = "online-boutique"
NS = "boutique"
OK = CODES.index("200")


@pytest.fixture(scope="module")
def shop() -> AppSpec:
    return load_app(APP)


def _peak(app: AppSpec) -> float:
    assert app.load is not None
    return float(app.load["high"])


def _depth(app: AppSpec, name: str) -> int:
    """Calls on the longest path from ``name`` down the call graph."""
    return max((1 + _depth(app, c.service) for c in app.service(name).calls), default=0)


def _quantile(cumulative: np.ndarray, total: float, q: float) -> float:
    """Prometheus' ``histogram_quantile`` over Istio's buckets (ms), linear within a bucket."""
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(BUCKETS_MS, cumulative, strict=True):
        if count >= rank:
            return float(lower + (bound - lower) * (rank - below) / max(count - below, 1e-12))
        lower, below = float(bound), float(count)
    return float("inf")


@dataclass
class Window:
    """What a stretch of simulated time looked like."""

    cpu: dict[str, list[float]]  # service -> per-pod CPU used, as a share of its limit
    workers: dict[str, float]  # service -> mean share of a pod's worker pool in use
    max_error: dict[str, float]  # service -> worst per-tick error ratio
    entry_error: float  # failed share of the requests into the entry (Istio counters)
    entry_p99_ms: float  # from the entry's latency histogram


def _observe(cluster: Cluster, seconds: int) -> Window:
    traffic, arrays = cluster.traffic, cluster.arrays
    comps = [c for c in traffic.components if c.namespace == NS]
    edge = next(e for e, c in traffic.entries if traffic.components[c].namespace == NS)
    cpu0 = arrays.cpu_total[: arrays.n].copy()
    hist0, req0 = traffic.hist[edge].copy(), traffic.requests[edge].copy()
    busy = dict.fromkeys((c.name for c in comps), 0.0)
    worst = dict.fromkeys((c.name for c in comps), 0.0)
    for _ in range(seconds):
        cluster.step()
        for c in comps:
            i = c.index
            per_pod = traffic.lam[i] / max(int(traffic.serving[i]), 1)
            hold = traffic.service_s[i] + traffic.down_latency[i]
            busy[c.name] += per_pod * hold / traffic.workers[i] / seconds
            worst[c.name] = max(worst[c.name], float(traffic.error[i]))
    n = arrays.n
    used = (arrays.cpu_total[:n] - cpu0[:n]) / seconds
    cpu: dict[str, list[float]] = {c.name: [] for c in comps}
    for slot in range(n):
        c = int(arrays.comp[slot])
        if arrays.running[slot] and c >= 0 and traffic.components[c].namespace == NS:
            cpu[traffic.components[c].name].append(float(used[slot] / arrays.cpu_lim[slot]))
    requests = traffic.requests[edge] - req0
    total = float(requests.sum())
    cumulative = (traffic.hist[edge] - hist0).sum(axis=0)
    return Window(
        cpu=cpu,
        workers=busy,
        max_error=worst,
        entry_error=1.0 - float(requests[OK]) / total,
        entry_p99_ms=_quantile(cumulative, total, 0.99),
    )


# ---------------------------------------------------------------------- the file


def test_the_file_is_shipped_and_loads(shop: AppSpec) -> None:
    assert APP in builtin_apps()
    assert shop.name == APP and shop.namespace == NS
    assert shop.entry != "frontend"
    assert shop.service(shop.entry).kind == "web"
    assert shop.load == {"type": "diurnal", "trace": "google", "low": 30, "high": 180}
    assert any(slo.service == shop.entry for slo in shop.slos)
    (pool,) = shop.cluster.node_pools
    assert (pool.count, pool.cpu, pool.memory, pool.instance_type) == (5, "8", "32Gi", "m5.2xlarge")
    assert len(pool.zones) == 3
    kinds = {s.kind for s in shop.services}
    assert {"web", "service", "cache", "database"} <= kinds
    assert [s.name for s in shop.services if s.credentials] == ["postgres-orders"]
    assert any(s.replicas >= 3 and s.min_available is not None for s in shop.services)


def test_it_shares_no_names_with_the_hotel_app(shop: AppSpec) -> None:
    hotel = load_app("hotel-reservation")
    assert not {s.name for s in shop.services} & {s.name for s in hotel.services}
    assert shop.namespace != hotel.namespace and shop.entry != hotel.entry


def test_its_call_graph_is_deeper_than_the_hotel_app(shop: AppSpec) -> None:
    hotel = load_app("hotel-reservation")
    assert _depth(shop, shop.entry) >= 4
    assert _depth(shop, shop.entry) > _depth(hotel, hotel.entry)
    # every service is reachable from the entry
    assert set(shop.topological_order()) == {s.name for s in shop.services}


def test_the_cli_lists_it() -> None:
    result = CliRunner().invoke(main, ["testbed", "apps"])
    assert result.exit_code == 0, result.output
    assert "online-boutique: 14 services, entry storefront, namespace boutique" in result.output
    check = CliRunner().invoke(main, ["testbed", "check", APP])
    assert check.exit_code == 0 and "storefront ->" in check.output


# ---------------------------------------------------------------------- its calibration


def test_the_default_peak_runs_error_free_within_the_slo(shop: AppSpec) -> None:
    cluster = Cluster(shop, seed=1, load=Constant(_peak(shop)))
    cluster.advance(120)
    window = _observe(cluster, 180)
    slo = next(s for s in shop.slos if s.service == shop.entry)

    assert max(window.max_error.values()) < 1e-4, window.max_error
    assert slo.error_ratio is not None and slo.latency_ms is not None
    assert window.entry_error < slo.error_ratio / 100
    assert window.entry_p99_ms < slo.latency_ms / 2
    for name, shares in window.cpu.items():
        assert shares and all(0.2 <= s <= 0.6 for s in shares), (name, shares)
    assert all(busy <= 0.6 for busy in window.workers.values()), window.workers


def test_a_threefold_flash_crowd_saturates_currency_and_fails_requests(shop: AppSpec) -> None:
    peak = _peak(shop)
    crowd = FlashCrowd(base=peak, peak=3 * peak, at_s=120, rise_s=30, hold_s=240, decay_s=60)
    cluster = Cluster(shop, seed=1, load=crowd)
    cluster.advance(60)
    assert _observe(cluster, 60).entry_error < 1e-4

    cluster.advance(90)  # the rise and the first minute at the crowd's peak
    window = _observe(cluster, 120)
    assert window.entry_error > 0.2
    assert min(window.cpu["currency"]) > 0.95
    assert window.max_error[shop.entry] > 0.2

    cluster.advance(180)  # the crowd is gone
    assert _observe(cluster, 60).entry_error < 1e-4


def test_it_runs_beside_the_hotel_app(shop: AppSpec) -> None:
    hotel = load_app("hotel-reservation")
    cluster = Cluster([hotel, shop], seed=1)  # each under its own default load
    cluster.advance(120)
    traffic = cluster.traffic

    assert {p.namespace for p in cluster.pods.values()} == {"hotel", NS}
    assert all(p.ready for p in cluster.pods.values())
    assert (NS, "postgres-orders-credentials") in cluster.secrets
    for ns, entry in (("hotel", hotel.entry), (NS, shop.entry)):
        assert traffic.lam[traffic.component_of(ns, entry)] > 0
    assert traffic.error.max() < 1e-4

    # losing the boutique's database fails its checkouts, and nothing of the hotel's
    db = cluster.deployments[(NS, "postgres-orders")]
    cluster.apply_deployment(NS, "postgres-orders", {}, db.spec | {"replicas": 0})
    cluster.advance(30)
    assert traffic.error[traffic.component_of(NS, "checkout")] == 1.0
    storefront = traffic.error[traffic.component_of(NS, shop.entry)]
    assert storefront == pytest.approx(0.03, abs=0.005)  # the share of requests that check out
    hotel_comps = [c.index for c in traffic.components if c.namespace == "hotel"]
    assert not traffic.error[hotel_comps].any()
