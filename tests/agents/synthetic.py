"""Hand-built telemetry for analysis unit tests: a small application's views tick by tick.

``web`` (the entry) calls ``api`` and ``worker``; both call the datastore ``db``. Pods: ``web`` on
n1 and n2, ``api`` on n1, ``worker`` on n2, ``db`` on n2. A :class:`History` records healthy ticks,
then ticks with whatever a test changes, into a real :class:`~telemetry.SeriesStore` and a
:class:`~agents.analysis.LearnedTopology`, with the events a test adds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.analysis import AnalysisContext, EventWindow, LearnedTopology
from controlplane import Evidence, Signal
from telemetry import ClusterView, EdgeView, KubeEvent, NodeView, SeriesStore, ServiceView
from telemetry.model import parse_series

NS = "shop"
T0 = 1_700_000_000.0
TICK = 15.0
PLACEMENT = {"web": ("n1", "n2"), "api": ("n1",), "worker": ("n2",), "db": ("n2",)}
EDGES = {
    ("istio-ingressgateway", "web"): 100.0,
    ("web", "api"): 60.0,
    ("web", "worker"): 40.0,
    ("api", "db"): 60.0,
    ("worker", "db"): 40.0,
}


def healthy_view(t: float) -> ClusterView:
    view = ClusterView(time=t)
    rps = {"web": 100.0, "api": 60.0, "worker": 40.0, "db": 100.0}
    for name, nodes in PLACEMENT.items():
        replicas = float(len(nodes))
        view.services[f"{NS}/{name}"] = ServiceView(
            NS,
            name,
            rps=rps[name],
            error_ratio=0.0,
            p50_ms=5.0,
            p95_ms=9.0,
            p99_ms=10.0,
            cpu_cores=0.2 * replicas,
            cpu_ratio=0.2,
            memory_ratio=0.3,
            replicas=replicas,
            ready_replicas=replicas,
            nodes=nodes,
        )
    for node in ("n1", "n2"):
        view.nodes[node] = NodeView(
            node,
            cpu_capacity=4.0,
            cpu_cores=0.6,
            cpu_ratio=0.15,
            pods_cpu_cores=0.6,
            pods=3,
            zone=f"zone-{node}",
        )
    for (source, destination), value in EDGES.items():
        edge = EdgeView(NS, source, destination, rps=value, error_ratio=0.0, p99_ms=10.0)
        view.edges[edge.key] = edge
    return view


Change = Callable[[ClusterView], None]


@dataclass
class History:
    store: SeriesStore = field(default_factory=SeriesStore)
    topology: LearnedTopology = field(default_factory=LearnedTopology)
    events: EventWindow = field(default_factory=EventWindow)
    time: float = T0
    view: ClusterView | None = None
    signals: list[Signal] = field(default_factory=list)

    def tick(self, change: Change | None = None, events: list[KubeEvent] | None = None) -> None:
        self.time += TICK
        view = healthy_view(self.time)
        if change is not None:
            change(view)
        view.events = list(events or [])
        self.store.append(view.time, view.series())
        self.topology.update(view)
        self.events.update(view)
        self.view = view

    def run(self, ticks: int, change: Change | None = None) -> None:
        for _ in range(ticks):
            self.tick(change)

    def signal(self, series: str, value: float, baseline: float) -> Signal:
        name = parse_series(series)
        kind, namespace, obj, _ = name
        service = obj.split(">")[-1] if kind == "edge" else (obj if kind == "service" else None)
        found = Signal(
            detector="test",
            series=series,
            service=service,
            node=obj if kind == "node" else None,
            namespace=None if namespace == "-" else namespace,
            score=0.9,
            start=self.time,
            evidence=[Evidence(name=series, value=value, baseline=baseline)],
        )
        self.signals.append(found)
        return found

    def context(self) -> AnalysisContext:
        assert self.view is not None
        return AnalysisContext(
            view=copy.deepcopy(self.view),
            store=self.store,
            topology=self.topology,
            events=self.events.events(),
        )


def event(at: float, kind: str, name: str, reason: str, message: str, uid: str) -> KubeEvent:
    return KubeEvent(
        namespace="" if kind == "Node" else NS,
        name=f"{name}.{uid}",
        kind=kind,
        object_name=name,
        type="Normal",
        reason=reason,
        message=message,
        first_seen=at,
        last_seen=at,
        uid=uid,
    )
