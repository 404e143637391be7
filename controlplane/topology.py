"""What the correlator needs to know about the application: who calls whom and what runs where.

The kernel imports no other package, so the call graph (learned by ``telemetry/`` from the edge
metrics) and the placement of pods on nodes come in through the :class:`Topology` protocol;
:class:`StaticTopology` is the plain-data implementation callers fill from their views. Services
are named as in :attr:`~controlplane.domain.Signal.service` (without the namespace).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Protocol, runtime_checkable

__all__ = ["StaticTopology", "Topology"]


@runtime_checkable
class Topology(Protocol):
    """The call graph, the placement of services on nodes, and shared dependencies."""

    def neighbours(self, service: str) -> AbstractSet[str]:
        """Services that call ``service`` or that it calls."""
        ...

    def nodes_of(self, service: str) -> AbstractSet[str]:
        """Nodes where pods of ``service`` run."""
        ...

    def dependencies(self, service: str) -> AbstractSet[str]:
        """Shared infrastructure ``service`` depends on (a database, a cache, a queue)."""
        ...


class StaticTopology:
    """A topology from plain data.

    ``calls`` maps a caller to its callees; ``placement`` a service to the nodes its pods run on.
    ``shared`` names the services that count as shared infrastructure; by default a service that
    several services call is one (a database two services use).
    """

    def __init__(
        self,
        calls: Mapping[str, AbstractSet[str]] | None = None,
        placement: Mapping[str, AbstractSet[str]] | None = None,
        shared: AbstractSet[str] | None = None,
    ) -> None:
        self._calls = {caller: frozenset(callees) for caller, callees in (calls or {}).items()}
        self._placement = {svc: frozenset(nodes) for svc, nodes in (placement or {}).items()}
        callers: dict[str, set[str]] = {}
        for caller, callees in self._calls.items():
            for callee in callees:
                callers.setdefault(callee, set()).add(caller)
        self._callers = {callee: frozenset(c) for callee, c in callers.items()}
        if shared is None:
            shared = {callee for callee, c in self._callers.items() if len(c) >= 2}
        self._shared = frozenset(shared)

    def neighbours(self, service: str) -> AbstractSet[str]:
        return self._calls.get(service, frozenset()) | self._callers.get(service, frozenset())

    def nodes_of(self, service: str) -> AbstractSet[str]:
        return self._placement.get(service, frozenset())

    def dependencies(self, service: str) -> AbstractSet[str]:
        return self._calls.get(service, frozenset()) & self._shared
