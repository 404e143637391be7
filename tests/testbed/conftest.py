"""Fixtures for tests of the testbed's Kubernetes API: a seeded cluster served over HTTP.

The cluster moves only when a test calls ``cluster.advance()``; the server runs in a thread on a
free port of 127.0.0.1 and is talked to with the official ``kubernetes`` client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.runner import TestbedServer

from .api_helpers import TRUTH_TOKEN, settle


@pytest.fixture
def cluster() -> Cluster:
    """The default hotel application under a constant 100 rps, every pod Ready."""
    cluster = Cluster(seed=7, load=Constant(100))
    cluster.advance(60)
    settle(cluster)
    return cluster


@pytest.fixture
def server(cluster: Cluster) -> Iterator[TestbedServer]:
    with TestbedServer(cluster, truth_token=TRUTH_TOKEN) as srv:
        yield srv


@pytest.fixture
def api_client(server: TestbedServer) -> Iterator[client.ApiClient]:
    config = client.Configuration()
    config.host = server.url
    api = client.ApiClient(config)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def policy(api_client: client.ApiClient) -> client.PolicyV1Api:
    return client.PolicyV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)
