"""What only a running loop knows, as Prometheus metrics in the process's registry: ticks (and
whether this process led them), how long a tick took, and detection latency (from the start of
an incident's earliest signal to the tick that opened it). ``/metrics`` serves them when the API
runs in the same process as the loop (``aiops run --api-port``)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["LoopMetrics"]

_default: LoopMetrics | None = None


class LoopMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.ticks = Counter(
            "aiops_loop_ticks",
            "Ticks of the control loop, by leadership.",
            ["leader"],
            registry=registry,
        )
        self.tick_seconds = Histogram(
            "aiops_loop_tick_seconds",
            "Wall seconds one tick took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.detection_latency = Histogram(
            "aiops_detection_latency_seconds",
            "From the start of an incident's earliest signal to the tick that opened it "
            "(the loop's clock: virtual in the embedded testbed).",
            buckets=(15, 30, 60, 90, 120, 180, 300, 600, 1200),
            registry=registry,
        )

    @classmethod
    def default(cls) -> LoopMetrics:
        """The process's one instance in the default registry."""
        global _default
        if _default is None:
            _default = cls()
        return _default
