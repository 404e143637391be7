"""Two control-loop instances on one PostgreSQL database: exactly one acts, and when it dies the
other takes over within the stated time and heals what comes next.

Both loops watch the same testbed (served over HTTP, advanced in virtual time by the test) with
leader election (``LoopOptions.holder``). A dead instance is one that stops ticking without
releasing its lease, as a killed process does (the process-level SIGKILL test of the election is
in ``tests/controlplane/test_leader.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.clock import ManualClock
from controlplane.leader import takeover_bound_s, ttl_for_tick
from controlplane.loop import ControlLoop, TickReport
from controlplane.runtime import LoopOptions, build_loop
from controlplane.settings import load_settings
from controlplane.store import ActionStatus, Store
from testbed.app import load_app
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer

from ..databases import migrated_postgres
from ..testbed.api_helpers import settle

TICK_S = 15.0
WARM_S = 45 * 60
NS = "hotel"


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    with migrated_postgres(tmp_path) as db:
        yield db.url, db.connect_args


def test_one_leader_acts_and_a_survivor_takes_over(postgres: tuple[str, dict]) -> None:
    url, connect_args = postgres
    app = load_app("hotel-reservation")
    cluster = Cluster(app, seed=3, load=Constant(60.0))
    settle(cluster)
    with TestbedServer(cluster) as server:
        settings = load_settings(testbed_url=server.url, database_url=url)
        clocks = {name: ManualClock(cluster.now) for name in ("a", "b")}
        loops: dict[str, ControlLoop] = {}
        for name, clock in clocks.items():
            store = Store.open(url, clock=clock, actor=f"loop-{name}", connect_args=connect_args)
            options = LoopOptions(policy="rules", tick_s=TICK_S, holder=f"loop-{name}")
            loops[name] = build_loop(settings, clock, options, store=store, say=lambda _: None)
        reports: dict[str, list[TickReport]] = {"a": [], "b": []}

        def tick(*names: str) -> None:
            cluster.advance(TICK_S)
            for name in names:
                clocks[name].advance(TICK_S)
                reports[name].append(loops[name].tick())

        try:
            for _ in range(round(WARM_S / TICK_S)):
                tick("a", "b")
            leaders = {n for n, r in reports.items() if r[-1].leader}
            assert len(leaders) == 1, leaders
            (first,) = leaders
            other = "b" if first == "a" else "a"
            # never both leaders, on any tick
            assert not any(x.leader and y.leader for x, y in zip(*reports.values(), strict=True))

            cluster.fault_engine.inject("scale-to-zero", {"service": "geo"}, namespace=NS)
            for _ in range(40):
                tick("a", "b")
            acted = {n: [a for r in reports[n] for a in r.actions] for n in reports}
            assert acted[first] and not acted[other], acted
            assert acted[first][0].status is ActionStatus.SUCCEEDED
            epoch_first = acted[first][0].epoch
            assert cluster.deployments[(NS, "geo")].replicas >= 1

            # the leader dies (stops ticking, keeps its lease); the survivor takes over
            died_at = cluster.now
            cluster.fault_engine.inject("scale-to-zero", {"service": "reservation"}, namespace=NS)
            took_over = None
            for _ in range(60):
                tick(other)
                if took_over is None and reports[other][-1].leader:
                    took_over = cluster.now
            bound = takeover_bound_s(ttl_for_tick(TICK_S), TICK_S)
            assert took_over is not None and took_over - died_at <= bound, (took_over, bound)
            later = [a for r in reports[other] for a in r.actions]
            assert later and later[0].status is ActionStatus.SUCCEEDED, later
            assert later[0].epoch is not None and epoch_first is not None
            assert later[0].epoch > epoch_first
            assert cluster.deployments[(NS, "reservation")].replicas >= 1
        finally:
            for loop in loops.values():
                loop.close()
