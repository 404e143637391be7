"""The monitors' own rules, on views built by hand (the live testbed is in test_monitor_testbed)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from controlplane.domain import SignalKind
from forecasting.monitor import SYMPTOMS, AnomalyMonitor, CapacityMonitor, Effect

TICK_S = 15.0
T0 = 1_700_000_000.0


@dataclass
class View:
    """What the monitors read of a ``telemetry.ClusterView``."""

    time: float
    values: dict[str, float]
    stale_sources: list[str] = field(default_factory=list)

    def series(self) -> dict[str, float]:
        return dict(self.values)

    @property
    def stale(self) -> list[str]:
        return self.stale_sources


def healthy(i: int, rng: np.random.Generator) -> dict[str, float]:
    return {
        "service/shop/cart/error_ratio": 0.0,
        "service/shop/cart/p99_ms": 50.0 + rng.normal(0, 2),
        "service/shop/cart/rps": 100.0 + 30 * math.sin(i / 40),
        "service/shop/cart/pending_pods": 0.0,
        "node/-/n1/ready": 1.0,
    }


def run(
    monitor: AnomalyMonitor, ticks: int, start: int = 0, override: dict[str, float] | None = None
) -> list:
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + ticks):
        values = healthy(i, rng) | (override or {})
        out += monitor.update(View(T0 + i * TICK_S, values))
    return out


def test_only_symptom_series_are_watched() -> None:
    monitor = AnomalyMonitor(TICK_S)
    run(monitor, 5)
    assert "service/shop/cart/rps" not in monitor.names
    assert {"service/shop/cart/p99_ms", "node/-/n1/ready"} <= set(monitor.names)
    assert all(name.split("/")[0] + "/" + name.split("/")[3] in SYMPTOMS for name in monitor.names)


def test_a_real_error_burst_is_signalled_once_with_evidence() -> None:
    monitor = AnomalyMonitor(TICK_S)
    assert not run(monitor, 400)
    signals = run(monitor, 20, start=400, override={"service/shop/cart/error_ratio": 0.3})
    assert [s.series for s in signals] == ["service/shop/cart/error_ratio"]
    (signal,) = signals
    assert signal.service == "cart" and signal.namespace == "shop"
    assert signal.evidence[0].value == pytest.approx(0.3) and signal.evidence[0].baseline == 0.0
    assert T0 + 400 * TICK_S <= signal.start <= T0 + 402 * TICK_S


def test_a_surprising_but_tiny_move_is_not_signalled() -> None:
    monitor = AnomalyMonitor(TICK_S)
    run(monitor, 400)
    # the detector never saw an error, but 0.5% of requests failing is below the 2% effect
    assert not run(monitor, 20, start=400, override={"service/shop/cart/error_ratio": 0.005})


def test_pending_pods_must_last_before_they_count() -> None:
    monitor = AnomalyMonitor(TICK_S)
    run(monitor, 400)
    hold = SYMPTOMS["service/pending_pods"].hold_s
    assert hold > 0
    brief = int(hold // TICK_S)  # a rollout's pod Pending for under the hold time
    assert not run(monitor, brief, start=400, override={"service/shop/cart/pending_pods": 1.0})
    assert not run(monitor, 40, start=400 + brief)
    # the same again, for longer: the detectors have seen it before, but it lasts
    alarm = SYMPTOMS["service/pending_pods"].alarm_s
    lasting = run(
        monitor,
        int(alarm // TICK_S) + 2,
        start=440 + brief,
        override={"service/shop/cart/pending_pods": 1.0},
    )
    assert [s.series for s in lasting] == ["service/shop/cart/pending_pods"]
    assert lasting[0].start >= T0 + (440 + brief) * TICK_S


def test_a_node_going_not_ready_is_signalled_on_the_node() -> None:
    monitor = AnomalyMonitor(TICK_S)
    run(monitor, 400)
    signals = run(monitor, 10, start=400, override={"node/-/n1/ready": 0.0})
    assert [(s.node, s.service) for s in signals] == [("n1", None)]


def test_stale_ticks_and_a_clock_going_back_are_not_scored() -> None:
    monitor = AnomalyMonitor(TICK_S)
    run(monitor, 400)
    bad = healthy(400, np.random.default_rng(0)) | {"service/shop/cart/error_ratio": 0.5}
    for i in range(400, 410):  # a stale source repeats its last numbers: not evidence
        assert not monitor.update(View(T0 + i * TICK_S, bad, ["scrape"]))
    before = monitor.last_time
    assert not monitor.update(View(T0, bad))  # stepped back: ignored
    assert monitor.last_time == before


def test_effect_directions() -> None:
    up, down = Effect(+1, floor=1.0, share=0.5), Effect(-1, floor=1.0)
    base = np.array([10.0, 10.0, 10.0, 2.0])
    assert up.matters(np.array([14.0, 15.0, 5.0, np.nan]), base).tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert down.matters(np.array([9.5, 9.0, 12.0, 0.0]), base).tolist() == [
        False,
        True,
        False,
        True,
    ]


def cpu_day(day: float, growth_per_day: float) -> float:
    """A CPU ratio with a daily cycle between 0.2 and 0.5, growing by ``growth_per_day``."""
    return 0.35 + 0.15 * math.sin(2 * math.pi * day) + growth_per_day * day


def capacity_run(growth: float, days: float) -> list:
    monitor = CapacityMonitor(threshold=0.8, horizon_minutes=120)
    signals = []
    step = 300.0
    for i in range(int(days * 86_400 / step)):
        t = T0 + i * step
        value = cpu_day(i * step / 86_400, growth)
        signals += monitor.update(View(t, {"service/shop/cart/cpu_ratio": value}))
    return signals


def test_capacity_monitor_warns_before_growth_crosses_the_limit() -> None:
    signals = capacity_run(growth=0.1, days=3.6)
    assert signals, "a CPU ratio growing into 80% raised no capacity signal"
    first = signals[0]
    assert first.kind is SignalKind.CAPACITY and first.service == "cart"
    crossing = next(e.value for e in first.evidence if e.name == "crossing_minutes")
    assert isinstance(crossing, float) and 0 <= crossing <= 120
    # the warning came before the actual value reached the limit
    day = (first.start - T0) / 86_400
    assert cpu_day(day, 0.1) < 0.8
    # one signal per crossing episode, not one per bucket
    assert len(signals) < 10


def test_capacity_monitor_is_quiet_on_a_steady_cycle() -> None:
    assert not capacity_run(growth=0.0, days=3.2)
