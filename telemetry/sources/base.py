"""The seam every telemetry source plugs into the :class:`~telemetry.collector.Collector` by."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..model import ClusterView

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """Something that can tell, when asked at ``now``, what it sees of the cluster.

    ``name`` identifies the source in :attr:`ClusterView.sources` and in errors. ``fetch``
    returns the view over the ``window_s`` seconds before ``now`` (rates, quantiles, events
    since the last call) or raises :class:`~controlplane.exceptions.TelemetryError` naming the
    source and the reason; it must time out on its own (a few seconds). Sources of metrics
    build their views with a :class:`~telemetry.views.ViewBuilder` from a
    :class:`~telemetry.frame.Frame`, so that every source yields the same views.
    """

    name: str

    def fetch(self, now: float, window_s: float) -> ClusterView: ...
