"""A frame: what one source saw at one time, with its counters already turned into rates.

The seam between a source and the :class:`~telemetry.views.ViewBuilder`. The scrape source
computes the rates in-process from its raw snapshots; a PromQL source asks the server for
``rate(name[W])`` of each counter and the instant value of each gauge. Either way the builder
gets per-second rates of counters (histogram ``_bucket`` series included, one per ``le``) and
current values of gauges, keyed by sample name, and builds the same views from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Frame", "Sample", "group_by_name"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One series' value: its sample name (``istio_requests_total``), labels and value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Frame:
    """Gauges at ``time`` and counters' per-second rates over the ``window_s`` before it.

    ``window_s`` is the span the rates really cover (0 when the source has no rates yet, e.g.
    at its first scrape): an increase over the window is ``rate * window_s``. Rates include the
    series that vanished during the window (a deleted pod's CPU), as PromQL's ``rate`` does.
    ``held`` holds identity gauges over the whole window (PromQL's ``max_over_time``), so such
    a series can still be attributed to its workload; without it, :meth:`held_gauge` falls
    back to the current gauges.
    """

    time: float
    window_s: float = 0.0
    gauges: dict[str, list[Sample]] = field(default_factory=dict)
    rates: dict[str, list[Sample]] = field(default_factory=dict)
    held: dict[str, list[Sample]] = field(default_factory=dict)

    @property
    def has_rates(self) -> bool:
        return self.window_s > 0

    def gauge(self, name: str) -> list[Sample]:
        """The gauge samples named ``name`` (empty when absent)."""
        return self.gauges.get(name, [])

    def held_gauge(self, name: str) -> list[Sample]:
        """The gauge samples named ``name`` seen during the window (the current ones if none)."""
        return self.held.get(name) or self.gauges.get(name, [])

    def rate(self, name: str) -> list[Sample]:
        """The per-second rates of the counter samples named ``name`` (empty when absent)."""
        return self.rates.get(name, [])


def group_by_name(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    """Samples grouped under their names, in order."""
    out: dict[str, list[Sample]] = {}
    for sample in samples:
        out.setdefault(sample.name, []).append(sample)
    return out
