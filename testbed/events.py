"""Kubernetes events, recorded and de-duplicated the way the API server's event sink does it.

The same (object, type, reason, message) seen again bumps ``count`` and ``lastTimestamp`` of the
existing event instead of adding a new one. Events expire after ``Timing.event_ttl_s`` (the API
server's ``--event-ttl``, one hour).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Cluster


@dataclass
class InvolvedObject:
    kind: str
    name: str
    namespace: str | None
    uid: str
    api_version: str
    field_path: str | None = None


@dataclass
class Event:
    name: str
    namespace: str
    uid: str
    involved: InvolvedObject
    type: str
    reason: str
    message: str
    component: str
    host: str | None
    first: float
    last: float
    count: int = 1
    rv: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.involved.uid, self.type, self.reason, self.message)


class EventRecorder:
    """All events of the cluster, oldest first."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.by_key: OrderedDict[tuple[str, str, str, str], Event] = OrderedDict()
        self.by_name: dict[tuple[str, str], Event] = {}
        self._seq = 0

    def record(
        self,
        involved: InvolvedObject,
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
    ) -> Event:
        now = self.cluster.now
        key = (involved.uid, type_, reason, message)
        existing = self.by_key.get(key)
        if existing is not None:
            existing.count += 1
            existing.last = now
            self.by_key.move_to_end(key)
            self.cluster.changed("events", existing, "MODIFIED")
            return existing
        self._seq += 1
        namespace = involved.namespace or "default"
        event = Event(
            name=f"{involved.name}.{int(now * 1000) + self._seq:x}",
            namespace=namespace,
            uid=self.cluster.new_uid(),
            involved=involved,
            type=type_,
            reason=reason,
            message=message,
            component=component,
            host=host,
            first=now,
            last=now,
        )
        self.by_key[key] = event
        self.by_name[(namespace, event.name)] = event
        self.cluster.changed("events", event, "ADDED")
        return event

    def expire(self, ttl: float) -> None:
        cutoff = self.cluster.now - ttl
        while self.by_key:
            key, event = next(iter(self.by_key.items()))
            if event.last >= cutoff:
                break
            del self.by_key[key]
            del self.by_name[(event.namespace, event.name)]
            self.cluster.changed("events", event, "DELETED")

    def all(self) -> list[Event]:
        return list(self.by_key.values())

    def get(self, namespace: str, name: str) -> Event | None:
        return self.by_name.get((namespace, name))


def event_fields(event: Event) -> dict[str, Any]:
    """The fields a field selector may name on an event."""
    inv = event.involved
    return {
        "metadata.name": event.name,
        "metadata.namespace": event.namespace,
        "involvedObject.kind": inv.kind,
        "involvedObject.name": inv.name,
        "involvedObject.namespace": inv.namespace or "",
        "involvedObject.uid": inv.uid,
        "involvedObject.apiVersion": inv.api_version,
        "involvedObject.fieldPath": inv.field_path or "",
        "reason": event.reason,
        "type": event.type,
        "source": event.component,
        "reportingComponent": event.component,
    }
