"""Fixtures for the action tests: the hotel application on a seeded testbed served over HTTP,
and a :class:`KubernetesBackend` talking to it with the official client.

Tests that change the cluster take the function-scoped ``cluster``/``backend``; tests that only
observe and evaluate share one module-scoped testbed (``shared_cluster``/``shared_backend``).
The simulated cluster moves only when a test advances it (or the backend's clock sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions import EvictionPolicy, KubernetesBackend, api_client
from controlplane.clock import ManualClock
from controlplane.store import Store, upgrade
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer
from tests.testbed.api_helpers import settle

from ..databases import BACKENDS, Database, fresh_database
from .helpers import NOW, ClusterClock


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database: a SQLite file, or a fresh schema on PostgreSQL."""
    with fresh_database(request.param, tmp_path) as db:
        yield db


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=NOW)


@pytest.fixture
def store(database: Database, clock: ManualClock) -> Iterator[Store]:
    """A store migrated to the newest schema on ``database``, on ``clock``."""
    engine = database.engine()
    upgrade(engine)
    store = Store(engine, clock=clock, actor="test-executor")
    yield store
    store.close()


def settled_cluster() -> Cluster:
    cluster = Cluster(seed=7, load=Constant(100))
    cluster.advance(60)
    settle(cluster)
    return cluster


def backend_for(server: TestbedServer) -> KubernetesBackend:
    return KubernetesBackend(
        api_client(host=server.url),
        timeout_s=10,
        clock=ClusterClock(server.cluster),
        eviction=EvictionPolicy(attempts=4, backoff_s=5, backoff_max_s=20),
    )


@pytest.fixture
def cluster() -> Cluster:
    return settled_cluster()


@pytest.fixture
def server(cluster: Cluster) -> Iterator[TestbedServer]:
    with TestbedServer(cluster) as srv:
        yield srv


@pytest.fixture
def backend(server: TestbedServer) -> Iterator[KubernetesBackend]:
    backend = backend_for(server)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def shared_cluster() -> Cluster:
    return settled_cluster()


@pytest.fixture(scope="module")
def shared_server(shared_cluster: Cluster) -> Iterator[TestbedServer]:
    with TestbedServer(shared_cluster) as srv:
        yield srv


@pytest.fixture(scope="module")
def shared_backend(shared_server: TestbedServer) -> Iterator[KubernetesBackend]:
    backend = backend_for(shared_server)
    try:
        yield backend
    finally:
        backend.close()
