"""The learned topology, from hand-built views: edges appear, decay and expire; placement
follows pods with a memory; datastores and shared services are inferred; bare names work."""

from __future__ import annotations

import pytest

from agents.analysis import INGRESS, LearnedTopology
from controlplane.topology import Topology
from telemetry import ClusterView, EdgeView, NodeView, ServiceView

NS = "shop"


def view(
    t: float,
    edges: dict[tuple[str, str], float],
    placement: dict[str, tuple[str, ...]] | None = None,
    zones: dict[str, str] | None = None,
) -> ClusterView:
    out = ClusterView(time=t)
    for (source, destination), rps in edges.items():
        edge = EdgeView(NS, source, destination, rps=rps)
        out.edges[edge.key] = edge
    for name, nodes in (placement or {}).items():
        out.services[f"{NS}/{name}"] = ServiceView(NS, name, nodes=nodes)
    for node, zone in (zones or {}).items():
        out.nodes[node] = NodeView(node, zone=zone)
    return out


CALLS = {
    (INGRESS, "web"): 50.0,
    ("web", "cart"): 20.0,
    ("web", "catalog"): 30.0,
    ("cart", "db"): 20.0,
    ("catalog", "db"): 30.0,
}
PLACEMENT = {"web": ("n1", "n2"), "cart": ("n2",), "catalog": ("n3",), "db": ("n3",)}


def test_edges_and_entries_are_learned_from_views_with_traffic() -> None:
    topo = LearnedTopology()
    assert topo.update(view(0, {**CALLS, ("web", "ads"): 0.0}, PLACEMENT))
    assert topo.callees(f"{NS}/web") == {f"{NS}/cart", f"{NS}/catalog"}
    assert topo.callers("db") == {"cart", "catalog"}
    assert topo.entry_points() == {f"{NS}/web"}
    assert "ads" not in topo.neighbours("web")  # no traffic, no edge
    assert topo.upstream("db") == {"cart", "catalog", "web"}
    assert topo.downstream("web") == {"cart", "catalog", "db"}
    assert [topo.depth(s) for s in ("web", "cart", "db")] == [0, 1, 2]


def test_datastores_and_shared_dependencies_are_inferred() -> None:
    topo = LearnedTopology()
    topo.update(view(0, CALLS, PLACEMENT))
    assert topo.is_datastore("db") and not topo.is_datastore("cart")
    assert topo.is_shared("db") and not topo.is_shared("cart")
    assert topo.datastores() == {f"{NS}/db"}
    assert topo.dependencies("cart") == {"db"}
    assert topo.dependencies("web") == set()


def test_an_edge_that_stops_decays_and_expires() -> None:
    topo = LearnedTopology(expire_s=600, half_life_s=60)
    topo.update(view(0, CALLS, PLACEMENT))
    gone = {k: v for k, v in CALLS.items() if k != ("web", "cart")}
    version = topo.version
    assert not topo.update(view(60, gone, PLACEMENT))  # still remembered: same shape
    assert topo.edge_rps(f"{NS}/web", f"{NS}/cart") == pytest.approx(10.0)  # one half-life
    assert topo.edge_rps(f"{NS}/web", f"{NS}/catalog") == pytest.approx(30.0)
    assert "cart" in topo.callees("web")
    assert topo.update(view(700, gone, PLACEMENT))  # unseen for more than expire_s
    assert "cart" not in topo.callees("web")
    assert topo.version == version + 1


def test_a_new_edge_appears_at_once() -> None:
    topo = LearnedTopology()
    topo.update(view(0, CALLS, PLACEMENT))
    assert topo.update(view(15, {**CALLS, ("cart", "cache"): 5.0}, PLACEMENT))
    assert topo.callees("cart") == {"db", "cache"}
    assert topo.is_datastore("cache")


def test_placement_follows_pods_and_remembers_a_node_for_a_while() -> None:
    topo = LearnedTopology(placement_memory_s=300)
    topo.update(view(0, CALLS, PLACEMENT, {"n1": "a", "n2": "b", "n3": "c"}))
    assert topo.nodes_of("web") == {"n1", "n2"}
    assert topo.services_on("n3") == {f"{NS}/catalog", f"{NS}/db"}
    assert topo.zone_of("n2") == "b"
    moved = {**PLACEMENT, "cart": ("n1",)}
    assert topo.update(view(15, CALLS, moved))
    assert topo.nodes_of("cart") == {"n1", "n2"}  # n2 still counts: it just lost the pod
    topo.update(view(400, CALLS, moved))
    assert topo.nodes_of("cart") == {"n1"}
    assert topo.services_on("n2") == {f"{NS}/web"}


def test_bare_names_and_keys_answer_in_the_form_asked() -> None:
    topo = LearnedTopology()
    topo.update(view(0, CALLS, PLACEMENT))
    assert topo.neighbours("cart") == {"web", "db"}
    assert topo.neighbours(f"{NS}/cart") == {f"{NS}/web", f"{NS}/db"}
    assert topo.resolve("db") == {f"{NS}/db"}
    assert topo.callers("nowhere") == set() and topo.nodes_of("nowhere") == set()


def test_it_is_the_kernels_topology_protocol() -> None:
    topo = LearnedTopology()
    topo.update(view(0, CALLS, PLACEMENT))
    assert isinstance(topo, Topology)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LearnedTopology(expire_s=0)
