"""KubernetesReader against a served testbed: revisions, pods, service ports, nodes; what it asks.

It reads through the official client only ``apps/v1`` deployments and replicasets and ``core/v1``
pods, services and nodes: never the testbed's own endpoints nor the ``chaos-mesh.org`` group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from agents.analysis import ClusterReader, KubernetesReader
from controlplane import AgentError
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.server import create_app
from tests.telemetry.servers import ThreadedServer, recording
from tests.testbed.api_helpers import settle

NS = "hotel"


@dataclass
class Served:
    cluster: Cluster
    reader: KubernetesReader
    api: client.ApiClient
    requests: list[str]


@pytest.fixture
def served() -> Iterator[Served]:
    cluster = Cluster(seed=3, load=Constant(50))
    settle(cluster)
    requests: list[str] = []
    with ThreadedServer(recording(create_app(cluster), requests)) as server:
        configuration = client.Configuration()
        configuration.host = server.url
        api = client.ApiClient(configuration)
        yield Served(cluster, KubernetesReader(api), api, requests)
        api.close()


def test_a_rollout_leaves_the_previous_revision_to_return_to(served: Served) -> None:
    apps = client.AppsV1Api(served.api)
    before = served.reader.workload(NS, "geo")
    assert before is not None and before.revision == 1 and before.previous() is None
    assert before.containers[0].name == "geo" and before.containers[0].cpu_limit == "500m"
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "geo", "image": "x:v2"}]}}}}
    apps.patch_namespaced_deployment("geo", NS, patch)
    served.cluster.advance(60)
    after = served.reader.workload(NS, "geo")
    assert after is not None and after.revision == 2
    previous = after.previous()
    assert previous is not None and previous.number == 1
    assert previous.images == (before.containers[0].image,)
    current = after.current()
    assert current is not None and current.images == ("x:v2",)
    assert after.resource_version is not None


def test_pods_service_ports_and_nodes(served: Served) -> None:
    pods = served.reader.pods(NS, "frontend")
    assert len(pods) == 2 and all(p.ready and p.uid and p.node for p in pods)
    service = served.reader.service(NS, "geo")
    assert service is not None
    assert [(p.port, p.target_port) for p in service.ports] == [(8083, 8083)]
    assert service.container_ports == (8083,)
    nodes = served.reader.nodes()
    assert len(nodes) == 4 and all(n.ready and n.zone and n.cpu_allocatable > 0 for n in nodes)


def test_missing_objects_are_none_and_failures_agent_errors(served: Served) -> None:
    assert served.reader.workload(NS, "nowhere") is None
    assert served.reader.service(NS, "nowhere") is None
    assert served.reader.pods(NS, "nowhere") == []
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens there
    with client.ApiClient(configuration) as api, pytest.raises(AgentError):
        KubernetesReader(api, timeout_s=0.5).nodes()


def test_it_reads_nothing_but_the_kubernetes_api(served: Served) -> None:
    assert isinstance(served.reader, ClusterReader)
    served.reader.workload(NS, "geo")
    served.reader.pods(NS, "geo")
    served.reader.service(NS, "geo")
    served.reader.nodes()
    assert served.requests
    for path in served.requests:
        assert path.startswith(("/api/v1/", "/apis/apps/v1/")), path
        assert "testbed" not in path and "chaos-mesh" not in path
