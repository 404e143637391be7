"""The token-protected fault endpoint: declared faults can name their root cause."""

from __future__ import annotations

import httpx

from testbed.cluster import Cluster
from testbed.runner import TestbedServer

from .api_helpers import TRUTH_TOKEN

AUTH = {"Authorization": f"Bearer {TRUTH_TOKEN}"}


def test_declared_fault_records_the_root_cause_it_names(
    server: TestbedServer, cluster: Cluster
) -> None:
    body = {
        "name": "cordon-capacity",
        "target": {},
        "declare_only": True,
        "root": "general-001,general-002",
    }
    resp = httpx.post(f"{server.url}/testbed/faults", json=body, headers=AUTH)
    assert resp.status_code == 201, resp.text
    fault = resp.json()
    assert fault["root_cause"] == {
        "kind": "node",
        "namespace": "hotel",
        "name": "general-001,general-002",
    }
    assert fault["via"] == "kubernetes" and fault["state"] == "active"
    assert not any(n.unschedulable for n in cluster.node_list)  # declared, not applied


def test_root_is_refused_when_unknown_or_not_declared(
    server: TestbedServer, cluster: Cluster
) -> None:
    before = (cluster.rv, len(cluster.faults))
    bad = httpx.post(
        f"{server.url}/testbed/faults",
        headers=AUTH,
        json={"name": "cordon-capacity", "declare_only": True, "root": "no-such-node"},
    )
    assert bad.status_code == 422 and "no node 'no-such-node'" in bad.json()["message"]
    applied = httpx.post(
        f"{server.url}/testbed/faults",
        headers=AUTH,
        json={"name": "scale-to-zero", "target": {"service": "geo"}, "root": "geo"},
    )
    assert applied.status_code == 422 and "declared" in applied.json()["message"]
    assert (cluster.rv, len(cluster.faults)) == before


def test_fault_endpoint_needs_the_token(server: TestbedServer) -> None:
    assert httpx.get(f"{server.url}/testbed/faults").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (
        httpx.post(
            f"{server.url}/testbed/faults", headers=wrong, json={"name": "pod-kill"}
        ).status_code
        == 403
    )
    catalogue = httpx.get(f"{server.url}/testbed/faults/catalogue")
    assert catalogue.status_code == 200 and len(catalogue.json()["faults"]) >= 16
