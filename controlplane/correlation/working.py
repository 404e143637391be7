"""The correlator's working set: the incidents signals may join, indexed for matching.

Kept between batches. :meth:`WorkingSet.refresh` compares each incident the database returns
with what this process last wrote or read; only the ones that differ are re-indexed. After a
failed batch :meth:`WorkingSet.reset` drops everything and the next batch rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from controlplane.domain import IncidentState, Severity, Signal
from controlplane.store.incidents import IncidentSnapshot, json_list
from controlplane.topology import Topology

__all__ = ["Seen", "Work", "WorkingSet"]

Index = dict[str, set[str]]


@dataclass
class Work:
    """An incident as the correlator holds it."""

    id: str
    state: IncidentState
    severity: Severity
    namespace: str | None
    services: list[str]
    nodes: list[str]
    opened_at: float
    updated_at: float
    last_signal_at: float
    resolved_at: float | None
    capacity_only: bool
    new: bool = False
    """Opened in the current batch (its severity needs no timeline entry)."""
    dirty: bool = False
    merged: bool = False

    @classmethod
    def of(cls, snap: IncidentSnapshot) -> Work:
        return cls(
            id=snap.id,
            state=IncidentState(snap.state),
            severity=Severity(snap.severity),
            namespace=snap.namespace,
            services=snap.services,
            nodes=snap.nodes,
            opened_at=snap.opened_at,
            updated_at=snap.updated_at,
            last_signal_at=snap.opened_at if snap.last_signal_at is None else snap.last_signal_at,
            resolved_at=snap.resolved_at,
            capacity_only=snap.capacity_only,
        )

    def snapshot(self) -> IncidentSnapshot:
        """The row as the database now holds it (what :meth:`IncidentRepository.candidates`
        would return)."""
        return IncidentSnapshot(
            id=self.id,
            state=str(self.state),
            severity=str(self.severity),
            namespace=self.namespace,
            services_json=json_list(self.services),
            nodes_json=json_list(self.nodes),
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            last_signal_at=self.last_signal_at,
            resolved_at=self.resolved_at,
            capacity_only=self.capacity_only,
        )

    @property
    def unresolved(self) -> bool:
        return self.state is not IncidentState.RESOLVED and not self.merged

    def columns(self) -> dict[str, object]:
        """The columns the correlator changes (for ``update_many``)."""
        return {
            "id": self.id,
            "severity": str(self.severity),
            "namespace": self.namespace,
            "services": self.services,
            "nodes": self.nodes,
            "last_signal_at": self.last_signal_at,
            "capacity_only": self.capacity_only,
            "updated_at": self.updated_at,
        }

    def insert_columns(self) -> dict[str, object]:
        return {**self.columns(), "state": str(self.state), "opened_at": self.opened_at}


@dataclass
class Seen:
    """The latest sighting of one detector and series in an unresolved incident."""

    signal_id: str
    incident_id: str | None
    last_seen: float
    count: int
    score: float


class WorkingSet:
    """Incidents by id, with indexes from services, nodes, host nodes and dependencies to them."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a failed batch); the next refresh rebuilds the set."""
        self.incidents: dict[str, Work] = {}
        self.by_service: Index = {}
        self.by_node: Index = {}
        self.by_host: Index = {}
        self.by_dependency: Index = {}
        self._entries: dict[str, list[tuple[Index, str]]] = {}
        self._persisted: dict[str, IncidentSnapshot] = {}

    # --- keeping in step with the database ----------------------------------------------------

    def refresh(self, snapshots: Iterable[IncidentSnapshot]) -> None:
        """Make the set what the database holds, re-indexing only what changed."""
        current = set()
        for snap in snapshots:
            current.add(snap.id)
            if self._persisted.get(snap.id) != snap:
                self.drop(snap.id)
                self.add(Work.of(snap))
                self._persisted[snap.id] = snap
        for gone in set(self.incidents) - current:
            self.drop(gone)

    def committed(self) -> None:
        """The batch committed: what the set holds is now what the database holds."""
        for work in list(self.incidents.values()):
            if work.merged:
                self.drop(work.id)
                continue
            work.new = work.dirty = False
            self._persisted[work.id] = work.snapshot()

    # --- membership ---------------------------------------------------------------------------

    def add(self, work: Work) -> None:
        self.incidents[work.id] = work
        self._entries[work.id] = []
        for service in work.services:
            self._index_service(work.id, service)
        for node in work.nodes:
            self._put(self.by_node, node, work.id)

    def drop(self, incident_id: str) -> None:
        self.incidents.pop(incident_id, None)
        self._persisted.pop(incident_id, None)
        for index, key in self._entries.pop(incident_id, []):
            ids = index.get(key)
            if ids is not None:
                ids.discard(incident_id)
                if not ids:
                    del index[key]

    def add_service(self, work: Work, service: str) -> None:
        if service not in work.services:
            work.services.append(service)
            self._index_service(work.id, service)

    def add_node(self, work: Work, node: str) -> None:
        if node not in work.nodes:
            work.nodes.append(node)
            self._put(self.by_node, node, work.id)

    def _index_service(self, incident_id: str, service: str) -> None:
        self._put(self.by_service, service, incident_id)
        for node in self.topology.nodes_of(service):
            self._put(self.by_host, node, incident_id)
        for dependency in self.topology.dependencies(service):
            self._put(self.by_dependency, dependency, incident_id)

    def _put(self, index: Index, key: str, incident_id: str) -> None:
        index.setdefault(key, set()).add(incident_id)
        self._entries[incident_id].append((index, key))

    # --- matching -----------------------------------------------------------------------------

    def matches(self, signal: Signal, window_s: float) -> list[Work]:
        """Unresolved incidents ``signal`` may join, oldest first.

        Its own services and nodes at any time; neighbours and shared infrastructure only when
        the incident's newest signal is at most ``window_s`` older.
        """
        own: set[str] = set()
        near: set[str] = set()
        if signal.service is not None:
            service = signal.service
            own |= self._same_namespace(self.by_service.get(service, ()), signal)
            related: set[str] = set()
            for name in self.topology.neighbours(service):
                related |= self.by_service.get(name, set())
            for dependency in self.topology.dependencies(service):
                related |= self.by_dependency.get(dependency, set())
            near |= self._same_namespace(related, signal)
            for node in self.topology.nodes_of(service):
                near |= self.by_node.get(node, set())
        if signal.node is not None:
            own |= self.by_node.get(signal.node, set())
            near |= self.by_host.get(signal.node, set())
        since = signal.start - window_s
        found = [w for i in own if (w := self.incidents[i]).unresolved]
        found += [
            w
            for i in near - own
            if (w := self.incidents[i]).unresolved and w.last_signal_at >= since
        ]
        return sorted(found, key=lambda w: (w.opened_at, w.id))

    def recurrence(self, signal: Signal, reopen_window_s: float) -> Work | None:
        """The resolved incident on the same service or node that ``signal`` reopens."""
        ids: set[str] = set()
        if signal.service is not None:
            ids |= self._same_namespace(self.by_service.get(signal.service, ()), signal)
        if signal.node is not None:
            ids |= self.by_node.get(signal.node, set())
        found = [
            w
            for i in ids
            if (w := self.incidents[i]).state is IncidentState.RESOLVED
            and not w.merged
            and w.resolved_at is not None
            and 0 <= signal.start - w.resolved_at <= reopen_window_s
        ]
        return max(found, key=lambda w: (w.resolved_at or 0.0, w.id), default=None)

    def _same_namespace(self, ids: AbstractSet[str] | tuple[()], signal: Signal) -> set[str]:
        return {i for i in ids if _same_namespace(self.incidents[i], signal)}


def _same_namespace(work: Work, signal: Signal) -> bool:
    return work.namespace is None or signal.namespace is None or work.namespace == signal.namespace
