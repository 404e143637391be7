"""The whole loop under operator controls, against the hotel testbed served over HTTP: a pause of
the namespace, a silence or an opt-out set in the store stops the action the loop would take to
heal a Deployment scaled to zero (it is refused by the control's rule and the Deployment stays at
zero); an alert put in the store's inbox opens an incident at the leader's next tick."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.clock import ManualClock
from controlplane.domain import ActionKind, Signal, SignalKind
from controlplane.loop import ControlLoop
from controlplane.runtime import LoopOptions, build_loop
from controlplane.settings import Settings
from controlplane.store import ActionRecord, Store, Transaction
from testbed.app import load_app
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer

from ..testbed.api_helpers import settle

TICK_S = 15.0
WARM_TICKS = 120  # 30 minutes: the detectors calibrate
NS = "hotel"


@dataclass
class Running:
    cluster: Cluster
    clock: ManualClock
    store: Store
    loop: ControlLoop
    lines: list[str]

    def tick(self) -> None:
        self.cluster.advance(TICK_S)
        self.clock.advance(TICK_S)
        self.loop.tick()

    def actions(self) -> list[ActionRecord]:
        with self.store.read() as tx:
            return tx.actions.find()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """A rules-policy loop (no election) over a settled hotel testbed, on a SQLite store."""
    cluster = Cluster(load_app("hotel-reservation"), seed=3, load=Constant(60.0))
    settle(cluster)
    with TestbedServer(cluster) as server:
        clock = ManualClock(cluster.now)
        url = f"sqlite:///{tmp_path / 'aiops.db'}"
        store = Store.open(url, clock=clock, actor="loop")
        settings = Settings(testbed_url=server.url, database_url=url, data_dir=tmp_path)
        lines: list[str] = []
        options = LoopOptions(policy="rules", tick_s=TICK_S)
        loop = build_loop(settings, clock, options, store=store, say=lines.append)
        try:
            yield Running(cluster, clock, store, loop, lines)
        finally:
            loop.close()


CONTROLS: dict[str, tuple[Callable[[Transaction], object], str]] = {
    "pause": (
        lambda tx: tx.controls.pause(NS, by="alice", comment="release freeze"),
        "namespace_pause",
    ),
    "silence": (
        lambda tx: tx.controls.silence("deployment/hotel/geo", by="alice", comment="load test"),
        "silence",
    ),
    "opt-out": (
        lambda tx: tx.controls.opt_out("deployment/hotel/geo", by="alice", comment="hand-run"),
        "opt_out",
    ),
}


@pytest.mark.parametrize("control", list(CONTROLS))
def test_a_control_stops_the_action_the_loop_would_take(running: Running, control: str) -> None:
    """Without a control the loop scales geo back up at once (tests/e2e/test_two_loops.py)."""
    set_control, rule = CONTROLS[control]
    with running.store.write() as tx:
        set_control(tx)
    for _ in range(WARM_TICKS):
        running.tick()
    running.cluster.fault_engine.inject("scale-to-zero", {"service": "geo"}, namespace=NS)
    for _ in range(40):
        running.tick()
        if any(a.request.kind is ActionKind.ESCALATE for a in running.actions()):
            break
    acted = [a for a in running.actions() if a.request.kind is not ActionKind.ESCALATE]
    assert acted, running.lines[-20:]
    assert all(a.refused_by == rule and a.started_at is None for a in acted), acted
    assert all("alice" in (a.verdict_reason or "") for a in acted)
    assert running.cluster.deployments[(NS, "geo")].replicas == 0


def test_an_alert_in_the_inbox_opens_an_incident(running: Running) -> None:
    alert = Signal(
        detector="alertmanager",
        series="service/hotel/search/alert:HighErrorRate",
        service="search",
        namespace=NS,
        score=0.9,
        start=running.clock.now(),
        kind=SignalKind.ALERT,
    )
    with running.store.write() as tx:
        tx.inbox.put([alert], fingerprint="4f2a9c")
    running.tick()
    with running.store.read() as tx:
        (incident,) = tx.incidents.find()
        assert tx.signals.for_incident(incident.id) == [alert]
        assert tx.inbox.waiting() == 0
    assert incident.services == ["search"]
    assert any("signal from outside: alertmanager" in line for line in running.lines)
    running.tick()  # taken once: nothing new
    with running.store.read() as tx:
        assert len(tx.incidents.find()) == 1
