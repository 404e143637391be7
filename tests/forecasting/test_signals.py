"""Signals from named series: parsing, debounce, start time and evidence."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.signals import SignalEmitter, parse_series

NAMES = ["service/hotel/search/p99_ms", "node/-/pool-001/cpu_ratio", "edge/hotel/search>geo/rps"]


def test_parse_series() -> None:
    svc, node, edge = (parse_series(n) for n in NAMES)
    assert (svc.kind, svc.namespace, svc.service, svc.node, svc.metric) == (
        "service",
        "hotel",
        "search",
        None,
        "p99_ms",
    )
    assert (node.namespace, node.node, node.service) == (None, "pool-001", None)
    assert edge.service == "geo"
    with pytest.raises(ValueError):
        parse_series("service/hotel/search")


def _tick(emitter: SignalEmitter, at: float, scores: list[float]) -> list:
    values = np.array([250.0, 0.9, 12.0])
    baselines = np.array([80.0, 0.4, 10.0])
    return emitter.update(NAMES, at, np.array(scores), values, baselines)


def test_debounce_start_and_evidence() -> None:
    emitter = SignalEmitter(detector="ensemble", threshold=0.5, debounce=3)
    assert _tick(emitter, 10.0, [0.6, 0.0, 0.0]) == []
    assert _tick(emitter, 15.0, [0.7, 0.9, 0.0]) == []
    (signal,) = _tick(emitter, 20.0, [0.8, 0.9, 0.0])
    assert signal.series == NAMES[0] and signal.start == 10.0 and signal.score == 0.8
    assert (signal.service, signal.namespace, signal.node) == ("search", "hotel", None)
    (evidence,) = signal.evidence
    assert (evidence.name, evidence.value, evidence.baseline) == ("p99_ms", 250.0, 80.0)
    (node_signal,) = _tick(emitter, 25.0, [0.9, 0.9, 0.0])  # the node's third tick; no repeat
    assert node_signal.node == "pool-001" and node_signal.start == 15.0
    assert node_signal.namespace is None


def test_a_dip_below_the_threshold_rearms() -> None:
    emitter = SignalEmitter(threshold=0.5, debounce=2)
    _tick(emitter, 0.0, [0.9, 0.0, 0.0])
    assert _tick(emitter, 5.0, [0.4, 0.0, 0.0]) == []  # broken run: nothing
    _tick(emitter, 10.0, [0.9, 0.0, 0.0])
    (signal,) = _tick(emitter, 15.0, [0.9, 0.0, 0.0])
    assert signal.start == 10.0
    _tick(emitter, 20.0, [0.0, 0.0, 0.0])
    _tick(emitter, 25.0, [0.9, 0.0, 0.0])
    assert len(_tick(emitter, 30.0, [0.9, 0.0, 0.0])) == 1  # a new episode
