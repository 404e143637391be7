"""Fixtures for the action tests: the hotel application on a seeded testbed served over HTTP,
and a :class:`KubernetesBackend` talking to it with the official client.

Tests that change the cluster take the function-scoped ``cluster``/``backend``; tests that only
observe and evaluate share one module-scoped testbed (``shared_cluster``/``shared_backend``).
The simulated cluster moves only when a test advances it (or the backend's clock sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions import EvictionPolicy, KubernetesBackend, api_client
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer
from tests.testbed.api_helpers import settle

from .helpers import ClusterClock


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
