"""The application's topology, learned from telemetry: who calls whom, what runs where.

:class:`LearnedTopology` is fed every tick's :class:`~telemetry.ClusterView`
(:meth:`LearnedTopology.update`). It learns

- the **call graph** from the edge views with traffic (``ClusterView.call_graph()``: Istio's
  ``istio_requests_total`` by source and destination workload). Each edge keeps an exponentially
  weighted request rate and the time it was last seen; an edge not seen for ``expire_s`` is
  forgotten (a dependency that was removed), so the graph follows the application as it changes
  without forgetting a dependency during a short outage of it.
- the **placement**: the nodes each service's pods run on (``ServiceView.nodes``), remembered for
  ``placement_memory_s`` after a pod left a node, so a node that just failed still counts as
  hosting what it hosted.
- **shared infrastructure**, inferred: a *datastore-like* service is a callee that calls nothing
  itself (a database, a cache); a *shared* service is one that several services call.

It never reads an application file. Services are keyed ``namespace/name`` (as views key them);
every query also takes a bare ``name``, as :class:`~controlplane.domain.Signal` names a service,
and then answers in bare names, so it is the kernel's
:class:`~controlplane.topology.Topology` for the correlator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from telemetry import ClusterView

__all__ = ["INGRESS", "EdgeStats", "LearnedTopology"]

INGRESS = "istio-ingressgateway"
"""The source workload of calls from outside the application (not a service of it)."""


@dataclass
class EdgeStats:
    """What the topology remembers of one call edge."""

    rps: float
    first_seen: float
    last_seen: float


def split_key(key: str) -> tuple[str | None, str]:
    """``hotel/geo`` → (``hotel``, ``geo``); ``geo`` → (None, ``geo``)."""
    namespace, sep, name = key.rpartition("/")
    return (namespace, name) if sep else (None, key)


class LearnedTopology:
    """The call graph, placement and shared infrastructure, learned from cluster views.

    ``expire_s``: an edge unseen this long is dropped. ``placement_memory_s``: a node that
    stopped hosting a service still counts this long. ``half_life_s``: of the edges' rate average.
    """

    def __init__(
        self,
        *,
        expire_s: float = 3600.0,
        placement_memory_s: float = 300.0,
        half_life_s: float = 300.0,
    ) -> None:
        if expire_s <= 0 or placement_memory_s < 0 or half_life_s <= 0:
            raise ValueError("expire_s and half_life_s must be positive")
        self.expire_s = expire_s
        self.placement_memory_s = placement_memory_s
        self.half_life_s = half_life_s
        self.edges: dict[tuple[str, str], EdgeStats] = {}
        self.entries: dict[str, float] = {}
        """Services called from outside (by the ingress gateway) → when last seen so."""
        self.placement: dict[str, dict[str, float]] = {}
        """Service key → node → when a pod of the service was last seen on it."""
        self.zones: dict[str, str] = {}
        self.services: dict[str, float] = {}
        """Every service key seen → when last seen."""
        self.time: float | None = None
        self.version = 0
        """Bumped whenever the graph or the placement changes shape."""

    # --- learning --------------------------------------------------------------------------

    def update(self, view: ClusterView) -> bool:
        """Learn from one tick's view; whether the topology changed shape."""
        now = view.time
        decay = 1.0 if self.time is None else 0.5 ** (max(now - self.time, 0.0) / self.half_life_s)
        self.time = now
        before = self._shape()
        for key in view.services:
            self.services[key] = now
        for stats in self.edges.values():
            stats.rps *= decay
        for edge in view.edges.values():
            if not edge.rps > 0:
                continue
            destination = f"{edge.namespace}/{edge.destination}"
            if edge.source == INGRESS:
                self.entries[destination] = now
                continue
            pair = (f"{edge.namespace}/{edge.source}", destination)
            known = self.edges.get(pair)
            if known is None:
                self.edges[pair] = EdgeStats(edge.rps, now, now)
            else:
                known.rps += (1.0 - decay) * edge.rps
                known.last_seen = now
        for svc in view.services.values():
            hosts = self.placement.setdefault(svc.key, {})
            for node in svc.nodes:
                hosts[node] = now
        for node_view in view.nodes.values():
            if node_view.zone:
                self.zones[node_view.name] = node_view.zone
        self._expire(now)
        changed = self._shape() != before
        if changed:
            self.version += 1
        return changed

    def _expire(self, now: float) -> None:
        self.edges = {k: s for k, s in self.edges.items() if now - s.last_seen <= self.expire_s}
        self.entries = {k: t for k, t in self.entries.items() if now - t <= self.expire_s}
        for service, hosts in list(self.placement.items()):
            kept = {n: t for n, t in hosts.items() if now - t <= self.placement_memory_s}
            if kept:
                self.placement[service] = kept
            else:
                del self.placement[service]

    def _shape(self) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
        hosted = frozenset((s, n) for s, hosts in self.placement.items() for n in hosts)
        return frozenset(self.edges), hosted

    # --- keys -------------------------------------------------------------------------------

    def resolve(self, service: str) -> set[str]:
        """The ``namespace/name`` keys ``service`` may mean (a bare name: in any namespace)."""
        if "/" in service:
            return {service}
        return {k for k in self._known() if split_key(k)[1] == service}

    def _known(self) -> set[str]:
        known = set(self.services) | set(self.placement) | set(self.entries)
        for caller, callee in self.edges:
            known |= {caller, callee}
        return known

    @staticmethod
    def _answer(asked: str, keys: Iterable[str]) -> set[str]:
        """Keys in the form asked: bare names for a bare name."""
        if "/" in asked:
            return set(keys)
        return {split_key(k)[1] for k in keys}

    # --- the call graph ---------------------------------------------------------------------

    def callees(self, service: str) -> set[str]:
        """Services ``service`` calls."""
        keys = self.resolve(service)
        return self._answer(service, (b for a, b in self.edges if a in keys))

    def callers(self, service: str) -> set[str]:
        """Services that call ``service`` (not the ingress gateway)."""
        keys = self.resolve(service)
        return self._answer(service, (a for a, b in self.edges if b in keys))

    def neighbours(self, service: str) -> set[str]:
        """Services that call ``service`` or that it calls."""
        return self.callers(service) | self.callees(service)

    def upstream(self, service: str) -> set[str]:
        """Every service whose calls reach ``service``, directly or not."""
        return self._closure(service, self.callers)

    def downstream(self, service: str) -> set[str]:
        """Every service ``service`` reaches through its calls, directly or not."""
        return self._closure(service, self.callees)

    def _closure(self, service: str, step: Callable[[str], set[str]]) -> set[str]:
        seen: set[str] = set()
        frontier = step(service)
        while frontier:
            seen |= frontier
            frontier = {n for s in frontier for n in step(s)} - seen
        seen.discard(service)
        return seen

    def edge_rps(self, caller: str, callee: str) -> float:
        """The learned request rate on ``caller → callee`` (keys ``namespace/name``)."""
        stats = self.edges.get((caller, callee))
        return 0.0 if stats is None else stats.rps

    def entry_points(self) -> set[str]:
        """Services called from outside the application."""
        return set(self.entries)

    def depth(self, service: str) -> int:
        """Calls from the nearest entry point to ``service`` (0 for an entry; large if none)."""
        keys = self.resolve(service)
        frontier, seen, level = set(self.entries), set(self.entries), 0
        while frontier:
            if frontier & keys:
                return level
            frontier = {b for a, b in self.edges if a in frontier} - seen
            seen |= frontier
            level += 1
        return 1_000

    # --- shared infrastructure --------------------------------------------------------------

    def is_datastore(self, service: str) -> bool:
        """A callee that calls nothing itself: a database, a cache, a queue."""
        return bool(self.callers(service)) and not self.callees(service)

    def is_shared(self, service: str) -> bool:
        """Called by two services or more."""
        return len(self.callers(service)) >= 2

    def dependencies(self, service: str) -> set[str]:
        """Shared infrastructure ``service`` calls: datastore-like or shared callees."""
        return {c for c in self.callees(service) if self.is_datastore(c) or self.is_shared(c)}

    def datastores(self) -> set[str]:
        """Every datastore-like service (``namespace/name``)."""
        return {b for _, b in self.edges if self.is_datastore(b)}

    # --- placement --------------------------------------------------------------------------

    def nodes_of(self, service: str) -> set[str]:
        """Nodes where pods of ``service`` run (or ran within ``placement_memory_s``)."""
        return {n for key in self.resolve(service) for n in self.placement.get(key, {})}

    def services_on(self, node: str) -> set[str]:
        """Services (``namespace/name``) with pods on ``node`` (now or lately)."""
        return {s for s, hosts in self.placement.items() if node in hosts}

    def zone_of(self, node: str) -> str | None:
        return self.zones.get(node)
