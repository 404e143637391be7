"""A testbed under constant load, run in real time and scraped by a real Prometheus server.

Prometheus scrapes in wall time, so the testbed runs at ``SPEED`` simulated seconds per wall
second: a PromQL window of ``WINDOW_S`` wall seconds covers ``WINDOW_S * SPEED`` simulated
seconds, and the PromQL source takes ``time_scale=SPEED`` to report per simulated second.
:class:`ModelState` reads the same quantities from the simulation itself (its Istio counters and
its pods' CPU counters), as the ground truth the views are compared with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer
from testbed.slo import OK, Snapshot
from tests.testbed.api_helpers import settle

from .prometheus_server import PrometheusServer

SPEED = 10.0
WINDOW_S = 10
WINDOW = f"{WINDOW_S}s"
LOAD_RPS = 100.0


@dataclass
class Live:
    cluster: Cluster
    testbed: TestbedServer
    prometheus: PrometheusServer
    since: float  # wall time of Prometheus' first samples

    def wait_for_data(self, seconds: float) -> None:
        """Sleep until Prometheus holds ``seconds`` of samples."""
        time.sleep(max(0.0, self.since + seconds - time.time()))

    def check_simulation(self) -> None:
        loop = self.testbed.loop
        assert loop is not None and loop.error is None, loop and loop.error


@contextmanager
def live_testbed(seed: int = 7) -> Iterator[Live]:
    """The default hotel application under ``LOAD_RPS``, settled, served and scraped."""
    cluster = Cluster(seed=seed, load=Constant(LOAD_RPS))
    cluster.advance(60)
    settle(cluster)
    with (
        TestbedServer(cluster, speed=SPEED) as testbed,
        PrometheusServer(f"127.0.0.1:{testbed.port}") as prometheus,
    ):
        prometheus.wait_for_samples('istio_requests_total{reporter="source"}')
        live = Live(cluster, testbed, prometheus, time.time())
        yield live
        live.check_simulation()


@dataclass
class ModelState:
    """The simulation's own cumulative counters at one instant."""

    snapshot: Snapshot
    cpu: dict[tuple[str, str], tuple[str, float]]  # (namespace, pod) → (service key, CPU s)

    @classmethod
    def take(cls, cluster: Cluster) -> ModelState:
        with cluster.lock:
            cpu = {
                (p.namespace, p.name): (
                    f"{p.namespace}/{p.rs.deployment.name}",
                    float(cluster.arrays.cpu_total[p.slot]),
                )
                for p in cluster.pods.values()
                if p.rs is not None and p.rs.deployment is not None and p.container == "running"
            }
            return cls(Snapshot.take(cluster), cpu)


@dataclass
class ModelRates:
    """Per simulated second between two :class:`ModelState`: into each service, and CPU."""

    rps: dict[str, float]
    error_ratio: dict[str, float]
    cpu_cores: dict[str, float]


def model_rates(cluster: Cluster, before: ModelState, after: ModelState) -> ModelRates:
    traffic = cluster.traffic
    dt = after.snapshot.time - before.snapshot.time
    assert dt > 0
    rps: dict[str, float] = {}
    errors: dict[str, float] = {}
    for comp in traffic.components:
        edges = [e.index for e in traffic.edges if e.dst == comp.index]
        counts = (after.snapshot.requests[edges] - before.snapshot.requests[edges]).sum(axis=0)
        total = float(counts.sum())
        key = f"{comp.namespace}/{comp.name}"
        rps[key] = total / dt
        errors[key] = (total - float(counts[OK])) / total if total > 0 else 0.0
    cpu: dict[str, float] = {}
    for pod, (service, seconds) in after.cpu.items():
        if pod in before.cpu:
            cpu[service] = cpu.get(service, 0.0) + (seconds - before.cpu[pod][1]) / dt
    return ModelRates(rps, errors, cpu)
