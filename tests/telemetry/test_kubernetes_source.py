"""KubernetesSource against a served testbed: events, pod logs, kubeconfig, what it requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.exceptions import TelemetryError
from telemetry import KubernetesSource
from testbed.cluster import Cluster
from testbed.load import Constant
from testbed.server import create_app
from tests.testbed.api_helpers import settle

from .servers import ThreadedServer, recording

NS = "hotel"


@dataclass
class Served:
    cluster: Cluster
    url: str
    requests: list[str]


@pytest.fixture
def served() -> Iterator[Served]:
    cluster = Cluster(seed=3, load=Constant(50))
    cluster.advance(20)
    settle(cluster)
    requests: list[str] = []
    with ThreadedServer(recording(create_app(cluster), requests)) as server:
        yield Served(cluster, server.url, requests)


def test_events_with_filters_and_paging(served: Served) -> None:
    kube = KubernetesSource(served.url, page_size=7)
    everything = kube.events()
    assert len(everything) == len(served.cluster.events.all()) > 7
    assert everything == KubernetesSource(served.url, page_size=1000).events()
    assert [e.last_seen for e in everything] == sorted(e.last_seen or 0 for e in everything)
    scaled = [e for e in everything if e.reason == "ScalingReplicaSet"]
    assert {e.object_name for e in scaled} >= {"frontend", "geo"}
    assert all(e.kind == "Deployment" and e.namespace == NS and e.type == "Normal" for e in scaled)
    assert all(e.component == "deployment-controller" for e in scaled)
    middle = everything[len(everything) // 2]
    later = kube.events(since_time=middle.last_seen)
    assert later and all((e.last_seen or 0) >= (middle.last_seen or 0) for e in later)
    newer = kube.events(since_resource_version=middle.resource_version)
    assert newer and all(int(e.resource_version) > int(middle.resource_version) for e in newer)
    assert all(e.namespace == "default" for e in kube.events(namespace="default"))
    kube.close()


def test_poll_returns_what_is_new_or_changed(served: Served) -> None:
    kube = KubernetesSource(served.url, namespace=NS)
    now = served.cluster.now
    assert kube.poll_events(since_time=now + 1) == []
    assert kube.poll_events() == []
    victim = next(p for p in served.cluster.pods_in(NS) if p.name.startswith("geo-"))
    served.cluster.delete_pod(victim)
    served.cluster.advance(10)
    new = kube.poll_events()
    reasons = {(e.reason, e.object_name) for e in new}
    assert ("Killing", victim.name) in reasons
    assert any(reason == "SuccessfulCreate" for reason, _ in reasons)
    assert kube.poll_events() == []
    view = kube.fetch(served.cluster.now, 60)
    assert view.events == [] and view.time == served.cluster.now
    kube.close()


def test_pod_logs_of_a_workload(served: Served) -> None:
    kube = KubernetesSource(served.url)
    logs = kube.pod_logs(NS, "frontend", tail_lines=2)
    assert len(logs) == 2
    assert all(log.error is None and len(log.lines) == 2 for log in logs)
    assert all(log.container == "frontend" and log.namespace == NS for log in logs)
    # a replacement pod still starting has no log yet: said so, not raised
    served.cluster.delete_pod(
        next(p for p in served.cluster.pods_in(NS) if p.name.startswith("geo-"))
    )
    served.cluster.advance(1)
    logs = kube.pod_logs(NS, "geo")
    waiting = [log for log in logs if log.error]
    assert waiting and waiting[0].lines == () and "HTTP 400" in (waiting[0].error or "")
    with pytest.raises(TelemetryError, match="read_namespaced_deployment: HTTP 404"):
        kube.pod_logs(NS, "no-such-workload")
    kube.close()


def test_client_from_a_kubeconfig(served: Served, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: testbed\n"
        f"clusters:\n- name: testbed\n  cluster:\n    server: {served.url}\n"
        "contexts:\n- name: testbed\n  context:\n    cluster: testbed\n    user: nobody\n"
        "users:\n- name: nobody\n  user: {}\n"
    )
    kube = KubernetesSource(kubeconfig=str(kubeconfig))
    assert kube.events(namespace=NS)
    kube.close()
    with pytest.raises(TelemetryError, match="cannot load kubeconfig"):
        KubernetesSource(kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="host URL"):
        KubernetesSource()


def test_the_source_never_asks_for_chaos_objects_or_ground_truth(served: Served) -> None:
    served.cluster.fault_engine.inject(
        "network-delay", {"source": "search", "destination": "geo"}, namespace=NS
    )
    served.cluster.advance(30)
    kube = KubernetesSource(served.url)
    kube.events()
    kube.poll_events()
    kube.fetch(served.cluster.now, 60)
    kube.pod_logs(NS, "search")
    kube.close()
    assert served.requests
    allowed = (
        "/api/v1/events",
        f"/apis/apps/v1/namespaces/{NS}/deployments/",
        f"/api/v1/namespaces/{NS}/pods",
    )
    for request in served.requests:
        assert "chaos-mesh.org" not in request and not request.startswith("/testbed")
        assert request.startswith(allowed), request
