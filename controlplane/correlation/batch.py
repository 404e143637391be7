"""One ingest: the rules applied signal by signal, and the rows to write, buffered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane.correlation.severity import severity_for
from controlplane.correlation.working import Seen, Work, WorkingSet
from controlplane.domain import IncidentState, Severity, Signal, SignalKind, SLOStatus, new_id
from controlplane.store import Transaction
from controlplane.store.signals import signal_values

if TYPE_CHECKING:
    from controlplane.correlation.correlator import Correlator

__all__ = ["Batch", "IngestResult"]

_ABSORBABLE = frozenset({IncidentState.OPEN, IncidentState.DIAGNOSING})
"""States an incident may be merged away in: nobody has acted on it yet."""


@dataclass
class IngestResult:
    """What one :meth:`Correlator.ingest` did."""

    assignments: dict[str, str] = field(default_factory=dict)
    """Signal id → the incident it joined (a duplicate: its first sighting's incident)."""
    opened: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)
    """Absorbed incident → the incident it was merged into."""
    escalated: dict[str, Severity] = field(default_factory=dict)
    duplicates: int = 0
    replayed: int = 0
    taken: list[Signal] = field(default_factory=list)
    """Signals taken from the store's inbox (alerts from outside) and ingested with the batch."""


class Batch:
    """Applies the correlation rules to one batch inside one write transaction."""

    def __init__(
        self,
        correlator: Correlator,
        tx: Transaction,
        working: WorkingSet,
        signals: Sequence[Signal],
    ) -> None:
        self.c, self.tx, self.working, self.result = correlator, tx, working, IngestResult()
        self.recent: dict[tuple[str, str], Seen] = {}
        self.signal_rows: list[dict[str, Any]] = []
        self.seen_again: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.merges: list[tuple[str, str, float]] = []
        first = min((s.start for s in signals), default=None)
        reopen_since = None if first is None else first - correlator.reopen_window_s
        working.refresh(tx.incidents.candidates(reopen_since))
        unresolved = [w.id for w in working.incidents.values() if w.unresolved]
        for known in tx.signals.in_incidents(unresolved, {s.series for s in signals}):
            key = (known.detector, known.series)
            current = self.recent.get(key)
            if current is None or current.last_seen < known.last_seen:
                self.recent[key] = Seen(
                    known.id, known.incident_id, known.last_seen, known.occurrences, known.score
                )

    # --- the rules ----------------------------------------------------------------------------

    def ingest(self, signal: Signal) -> None:
        seen = self.recent.get((signal.detector, signal.series))
        if seen is not None and seen.incident_id is not None:
            work = self.working.incidents.get(seen.incident_id)
            fresh = signal.start - seen.last_seen <= self.c.duplicate_window_s
            if work is not None and work.unresolved and fresh:
                self._duplicate(signal, seen, work)
                return
        matches = self.working.matches(signal, self.c.window_s)
        if matches:
            work = matches[0]
            for other in matches[1:]:
                if other.state in _ABSORBABLE:
                    self._merge(work, other, signal.start)
        else:
            reopened = self.working.recurrence(signal, self.c.reopen_window_s)
            work = self._reopen(reopened, signal) if reopened else self._open(signal)
        self._join(work, signal)

    def _duplicate(self, signal: Signal, seen: Seen, work: Work) -> None:
        seen.last_seen = max(seen.last_seen, signal.start)
        seen.count += 1
        seen.score = max(seen.score, signal.score)
        self.seen_again[seen.signal_id] = {
            "id": seen.signal_id,
            "count": seen.count,
            "last_seen": seen.last_seen,
            "score": seen.score,
        }
        self._touch(work, signal.start)
        self.result.assignments[signal.id] = work.id
        self.result.duplicates += 1

    def _open(self, signal: Signal) -> Work:
        work = Work(
            id=new_id(),
            state=IncidentState.OPEN,
            severity=Severity.LOW if signal.kind is SignalKind.CAPACITY else Severity.MEDIUM,
            namespace=signal.namespace,
            services=[],
            nodes=[],
            opened_at=signal.start,
            updated_at=signal.start,
            last_signal_at=signal.start,
            resolved_at=None,
            capacity_only=True,
            new=True,
        )
        self.tx.incidents.insert_many([work.insert_columns()])
        self.working.add(work)
        what = signal.service or signal.node or signal.series
        self._timeline(work.id, signal.start, "opened", f"opened on {what}", signal.id)
        self._audit("incident.opened", work.id, {"signal": signal.id, "series": signal.series})
        self.result.opened.append(work.id)
        return work

    def _reopen(self, work: Work, signal: Signal) -> Work:
        self.flush_signals()
        reason = f"recurred: {signal.detector} on {signal.series}"
        self.tx.incidents.move(
            work.id, IncidentState.OPEN, reason, signal.start, "reopened", actor=self.c.actor
        )
        work.state, work.resolved_at = IncidentState.OPEN, None
        work.updated_at = max(work.updated_at, signal.start)
        self.result.reopened.append(work.id)
        return work

    def _merge(self, into: Work, other: Work, at: float) -> None:
        self.merges.append((into.id, other.id, at))  # written by flush(), in order
        other.merged, other.state = True, IncidentState.RESOLVED
        for service in other.services:
            self.working.add_service(into, service)
        for node in other.nodes:
            self.working.add_node(into, node)
        into.capacity_only = into.capacity_only and other.capacity_only
        into.severity = max(into.severity, other.severity)
        into.last_signal_at = max(into.last_signal_at, other.last_signal_at)
        into.dirty = True
        for seen in self.recent.values():
            if seen.incident_id == other.id:
                seen.incident_id = into.id
        self.result.merged[other.id] = into.id

    def _join(self, work: Work, signal: Signal) -> None:
        if signal.service is not None:
            self.working.add_service(work, signal.service)
        if signal.node is not None:
            self.working.add_node(work, signal.node)
        if work.namespace is None:
            work.namespace = signal.namespace
        if signal.kind is not SignalKind.CAPACITY:
            work.capacity_only = False  # the severity follows in rate()
        self._touch(work, signal.start)
        self.signal_rows.append(signal_values(signal))
        self.links.append(
            {"incident_id": work.id, "signal_id": signal.id, "linked_at": signal.start}
        )
        summary = f"{signal.detector} on {signal.series} (score {signal.score:.3g})"
        self._timeline(work.id, signal.start, "signal", summary, signal.id)
        self.recent[(signal.detector, signal.series)] = Seen(
            signal.id, work.id, signal.start, 1, signal.score
        )
        self.result.assignments[signal.id] = work.id

    def _touch(self, work: Work, at: float) -> None:
        work.last_signal_at = max(work.last_signal_at, at)
        work.updated_at = max(work.updated_at, at)
        work.dirty = True

    def rate(self, statuses: Mapping[str, SLOStatus]) -> None:
        """Raise the severity of every unresolved incident its SLO impact calls for."""
        for work in self.working.incidents.values():
            if not work.unresolved:
                continue
            wanted = severity_for(work.services, work.capacity_only, statuses, self.c.slos)
            if wanted <= work.severity:
                continue
            if not work.new:
                reason = "SLO impact" if wanted > Severity.MEDIUM else "not only capacity"
                summary = f"{work.severity} -> {wanted}: {reason}"
                self._timeline(work.id, work.updated_at, "severity", summary, None)
                details = {"from": str(work.severity), "to": str(wanted), "reason": reason}
                self._audit("incident.severity", work.id, details)
            self.result.escalated[work.id] = wanted
            work.severity, work.dirty = wanted, True

    # --- writing ------------------------------------------------------------------------------

    def _timeline(
        self, incident_id: str, at: float, kind: str, summary: str, ref: str | None
    ) -> None:
        self.timeline.append(
            {"incident_id": incident_id, "at": at, "kind": kind, "summary": summary, "ref_id": ref}
        )

    def _audit(self, kind: str, subject_id: str, details: dict[str, Any]) -> None:
        self.audit.append(
            {"kind": kind, "subject_id": subject_id, "details": details, "actor": self.c.actor}
        )

    def flush_signals(self) -> None:
        """Write the buffered signals, links and timeline entries (before a reopen)."""
        self.tx.signals.add_many(self.signal_rows)
        self.tx.signals.seen_again(list(self.seen_again.values()))
        self.tx.incidents.link_many(self.links)
        self.tx.incidents.timeline_many(self.timeline)
        self.signal_rows, self.links, self.timeline, self.seen_again = [], [], [], {}

    def flush(self) -> None:
        """Write everything still buffered (merges after the links they move)."""
        self.flush_signals()
        self.tx.incidents.merge_many(self.merges, actor=self.c.actor)
        self.merges = []
        dirty = [w for w in self.working.incidents.values() if w.dirty]
        self.tx.incidents.update_many([w.columns() for w in dirty])
        self.tx.audit.append_many(self.audit)
        self.audit = []
