"""The names a chat answer may act on or talk about: those the store and the cluster know.

A name is never taken from the operator's text on trust. The store knows the services its
incidents are about, the Deployments its actions targeted and the namespaces of both and of
the operator controls; a word the store does not know becomes a name only when the cluster
confirms it (the executor's backend observes a Deployment of that name in a known namespace, a
namespace of that name, or the Deployment ``namespace/name`` written in full). At most
:data:`MAX_PROBES` words are looked up per message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actions.kubernetes import ActionBackend
from controlplane import ActionError, TargetKind, TargetRef
from controlplane.store import Store

__all__ = ["LABEL", "MAX_PROBES", "Inventory", "Known"]

log = logging.getLogger(__name__)

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A Kubernetes name part (an RFC 1123 label): what a word must look like to be a name."""
MAX_PROBES = 4
"""Words of one message looked up in the cluster, at most."""
_SCAN = 500
"""How many of the newest incidents and actions the store's names are read from."""


@dataclass(frozen=True)
class Known:
    """Known services (by name), Deployments (namespace, name) and namespaces."""

    services: frozenset[str] = frozenset()
    workloads: frozenset[tuple[str, str]] = frozenset()
    namespaces: frozenset[str] = frozenset()

    def is_service(self, word: str) -> bool:
        return word in self.services or any(name == word for _, name in self.workloads)

    def deployments(self, word: str, namespaces: Iterable[str] = ()) -> list[TargetRef]:
        """The Deployments ``word`` names (``name`` or ``namespace/name``), in ``namespaces``
        when any are given."""
        wanted = set(namespaces)
        ns, _, name = word.rpartition("/")
        return [
            TargetRef(kind=TargetKind.DEPLOYMENT, namespace=n, name=w)
            for n, w in sorted(self.workloads)
            if w == name and (n == ns if ns else not wanted or n in wanted)
        ]

    def listing(self) -> str:
        """What is known, for an answer about an unknown name (names only, cut short)."""
        services = sorted(self.services | {name for _, name in self.workloads})
        parts = [f"services {_few(services)}" if services else "no services yet"]
        if self.namespaces:
            parts.append(f"namespaces {_few(sorted(self.namespaces))}")
        return "; ".join(parts)

    def merged(self, other: Known) -> Known:
        return Known(
            self.services | other.services,
            self.workloads | other.workloads,
            self.namespaces | other.namespaces,
        )


def _few(names: Sequence[str], limit: int = 12) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@dataclass
class Inventory:
    """Reads :class:`Known` from the store; confirms other words with the cluster."""

    store: Store
    backend: ActionBackend | None = None
    max_probes: int = MAX_PROBES

    def known(self) -> Known:
        services: set[str] = set()
        workloads: set[tuple[str, str]] = set()
        namespaces: set[str] = set()
        with self.store.read() as tx:
            for incident in tx.incidents.page(limit=_SCAN):
                services.update(incident.services)
                if incident.namespace:
                    namespaces.add(incident.namespace)
                    workloads.update((incident.namespace, s) for s in incident.services)
            for record in tx.actions.page(limit=_SCAN):
                target = record.request.target
                if target.kind is TargetKind.DEPLOYMENT and target.namespace:
                    workloads.add((target.namespace, target.name))
                if target.namespace:
                    namespaces.add(target.namespace)
            namespaces.update(c.namespace for c in tx.controls.list() if c.namespace)
        return Known(
            frozenset(services),
            frozenset(w for w in workloads if all(LABEL.fullmatch(p) for p in w)),
            frozenset(n for n in namespaces if LABEL.fullmatch(n)),
        )

    def confirm(self, known: Known, words: Sequence[str]) -> tuple[Known, list[str]]:
        """``known`` with those of ``words`` the cluster has, and the words looked up (none
        without a backend)."""
        probed: list[str] = []
        backend = self.backend
        if backend is None:
            return known, probed
        found: set[tuple[str, str]] = set()
        namespaces: set[str] = set()
        try:
            for word in list(dict.fromkeys(words))[: self.max_probes]:
                probed.append(word)
                ns, _, name = word.rpartition("/")
                homes = [ns] if ns else sorted(known.namespaces)
                found.update((n, name) for n in homes if _exists(backend, n, name))
                if not ns and _exists(backend, None, name):
                    namespaces.add(name)
        except ActionError as exc:  # the cluster cannot be asked now: what the store knows
            log.warning("chat: cannot look names up in the cluster: %s", exc)
        confirmed = frozenset(namespaces | {n for n, _ in found})
        return known.merged(Known(frozenset(), frozenset(found), confirmed)), probed


def _exists(backend: ActionBackend, namespace: str | None, name: str) -> bool:
    """Whether the cluster has the Deployment ``namespace/name`` (the namespace ``name`` when
    ``namespace`` is ``None``); words that are no Kubernetes names are not looked up."""
    if not LABEL.fullmatch(name) or (namespace is not None and not LABEL.fullmatch(namespace)):
        return False
    kind = TargetKind.NAMESPACE if namespace is None else TargetKind.DEPLOYMENT
    return backend.observe(TargetRef(kind=kind, namespace=namespace, name=name)).exists
