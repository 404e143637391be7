"""The correlator: a batch of signals in, incidents in the store out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.correlation.batch import Batch, IngestResult
from controlplane.correlation.working import WorkingSet
from controlplane.domain import SLO, Signal, SLOStatus
from controlplane.store import Store
from controlplane.topology import StaticTopology, Topology

__all__ = ["Correlator", "IngestResult"]


class Correlator:
    """Joins signals into incidents kept in ``store`` (the rules: :mod:`controlplane.correlation`).

    ``topology`` supplies the call graph and placement (none: only signals on an incident's own
    services and nodes join it); ``slos`` the fast-burn thresholds per service (default: the SLO
    default). One process correlates at a time (the leader); others may change incidents.
    """

    def __init__(
        self,
        store: Store,
        topology: Topology | None = None,
        *,
        window_s: float = 600.0,
        reopen_window_s: float = 1800.0,
        duplicate_window_s: float | None = None,
        slos: Mapping[str, SLO] | None = None,
        actor: str = "correlator",
    ) -> None:
        if window_s <= 0 or reopen_window_s < 0:
            raise ValueError("window_s must be positive and reopen_window_s not negative")
        self.store, self.topology = store, topology or StaticTopology()
        self.window_s, self.reopen_window_s = window_s, reopen_window_s
        self.duplicate_window_s = window_s if duplicate_window_s is None else duplicate_window_s
        self.slos: Mapping[str, SLO] = dict(slos or {})
        self.actor = actor
        self._working = WorkingSet(self.topology)

    def ingest(
        self,
        signals: Sequence[Signal],
        slo_status: Mapping[str, SLOStatus] | None = None,
        *,
        inbox: int = 0,
    ) -> IngestResult:
        """Correlate and store a batch of signals (a tick's) in one transaction.

        ``slo_status`` (an :class:`~controlplane.domain.SLOReader`'s ``status()``) raises the
        severity of the unresolved incidents whose services it shows in trouble. A signal whose
        id is already stored is skipped, so a replayed batch changes nothing. ``inbox``: take up
        to this many signals waiting in the store's inbox (alerts from outside) in the same
        transaction and ingest them too (``IngestResult.taken``), so a taken signal is stored
        with its incident or, the transaction failing, still waits.
        """
        if not signals and not slo_status and not inbox:
            return IngestResult()
        try:
            with self.store.write() as tx:
                taken = tx.inbox.take(inbox) if inbox else []
                signals = [*signals, *taken]
                if not signals and not slo_status:
                    return IngestResult()  # an empty inbox, and nothing else to do
                batch = Batch(self, tx, self._working, signals)
                batch.result.taken = taken
                known = {k.id for k in tx.signals.known([s.id for s in signals])}
                for signal in _order(signals):
                    if signal.id in known:
                        batch.result.replayed += 1
                        continue
                    known.add(signal.id)
                    batch.ingest(signal)
                batch.rate(slo_status or {})
                batch.flush()
        except BaseException:
            self._working.reset()  # it may hold changes that were rolled back
            raise
        self._working.committed()
        return batch.result


def _order(signals: Sequence[Signal]) -> list[Signal]:
    """Node signals first, then by start: a node failure's incident opens on the node."""
    return sorted(signals, key=lambda s: (s.node is None, s.start))
