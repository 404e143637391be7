"""From scores of named series to the kernel's :class:`~controlplane.domain.Signal`.

Series are named ``kind/namespace/object/metric`` (``service/hotel/search/p99_ms``,
``node/-/pool-001/cpu_ratio``, ``edge/hotel/search>geo/error_ratio``); the name is parsed here,
without importing ``telemetry``. A service series names its service, a node series its node, and
an edge series names the service it calls (the destination), whose trouble the edge shows.

:class:`SignalEmitter` debounces: a series must score at or above the threshold for ``debounce``
consecutive ticks before one signal is emitted, whose ``start`` is the first of those ticks; the
series is re-armed once it scores below the threshold again. The defaults are the control
plane's signal path: the ensemble's own output (it fires once per excursion, then rests) at
:data:`~forecasting.ensemble.DEFAULT_THRESHOLD` with ``debounce=1``, which is what
``benchmarks/nab.py`` scores at the fixed threshold. With ``debounce > 1`` feed it a score that
stays high while the anomaly lasts (:attr:`forecasting.ensemble.Ensemble.sustained`); on our NAB
subset that costs detections (``debounce=3``: 64.6 instead of 75.6, standard profile).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.domain import Evidence, Signal
from forecasting.ensemble import DEFAULT_THRESHOLD

__all__ = ["SeriesName", "SignalEmitter", "parse_series"]


@dataclass(frozen=True)
class SeriesName:
    """The parts of a series name; ``namespace`` is None for cluster-scoped objects (``-``)."""

    kind: str
    namespace: str | None
    obj: str
    metric: str

    @property
    def service(self) -> str | None:
        if self.kind == "service":
            return self.obj
        if self.kind == "edge":
            return self.obj.split(">", 1)[-1]
        return None

    @property
    def node(self) -> str | None:
        return self.obj if self.kind == "node" else None


def parse_series(name: str) -> SeriesName:
    """``service/hotel/search/p99_ms`` → ``SeriesName("service", "hotel", "search", "p99_ms")``."""
    parts = name.split("/", 3)
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"series name {name!r} is not kind/namespace/object/metric")
    kind, namespace, obj, metric = parts
    return SeriesName(kind, None if namespace == "-" else namespace, obj, metric)


@dataclass
class _Run:
    start: float
    ticks: int = 0
    emitted: bool = False


class SignalEmitter:
    """Debounced signals for a bank of named series."""

    def __init__(
        self,
        detector: str = "ensemble",
        threshold: float = DEFAULT_THRESHOLD,
        debounce: int = 1,
    ) -> None:
        if debounce < 1:
            raise ValueError("debounce must be at least 1")
        self.detector, self.threshold, self.debounce = detector, threshold, debounce
        self._runs: dict[str, _Run] = {}

    def update(
        self,
        names: Sequence[str],
        at: float,
        scores: np.ndarray,
        values: np.ndarray,
        baselines: np.ndarray,
    ) -> list[Signal]:
        """Signals that became due at time ``at`` (one per series and episode)."""
        if not len(names) == len(scores) == len(values) == len(baselines):
            raise ValueError("names, scores, values and baselines must have the same length")
        signals = []
        hot = [int(i) for i in np.flatnonzero(np.asarray(scores) >= self.threshold)]
        for i in hot:
            name = names[i]
            run = self._runs.setdefault(name, _Run(start=at))
            run.ticks += 1
            if run.ticks >= self.debounce and not run.emitted:
                run.emitted = True
                signals.append(self._signal(name, run.start, scores[i], values[i], baselines[i]))
        above = {names[i] for i in hot}
        for name in [n for n in self._runs if n not in above]:
            del self._runs[name]
        return signals

    def _signal(
        self, name: str, start: float, score: float, value: float, baseline: float
    ) -> Signal:
        parts = parse_series(name)
        evidence = Evidence(
            name=parts.metric,
            value=float(value) if np.isfinite(value) else "missing",
            baseline=float(baseline) if np.isfinite(baseline) else None,
        )
        return Signal(
            detector=self.detector,
            series=name,
            service=parts.service,
            node=parts.node,
            namespace=parts.namespace,
            score=float(score),
            start=start,
            evidence=[evidence],
        )
