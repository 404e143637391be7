"""Application files: validation whose errors name the culprit, and apps besides the default."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed import metrics
from testbed.app import AppSpec, builtin_apps, find_cycle, load_app, parse_app
from testbed.cluster import Cluster
from testbed.errors import AppSpecError
from testbed.load import Constant

SHOP = """\
name: shop
namespace: shop
entry: gateway
load: {type: constant, rps: 25}
timing: {image_pull_s: 2}
cluster:
  node_pools:
    - {name: tiny, count: 2, cpu: "2", memory: 8Gi, zones: [zone-x]}
services:
  - name: gateway
    kind: web
    image: shop/gateway:1.0
    replicas: 2
    calls:
      - {service: catalog, ratio: 2}
      - {service: cart, ratio: 0.3}
  - name: catalog
    image: shop/catalog:1.0
    calls:
      - {service: db, ratio: 0.5}
  - name: cart
    image: shop/cart:1.0
    calls:
      - {service: db}
  - name: db
    kind: database
    image: postgres:16
    port: 5432
    spread: none
"""


def _service(name: str, *calls: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"example/{name}:1",
        "calls": [{"service": c} for c in calls],
        **fields,
    }


def _app(*services: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "namespace": "t",
        "entry": services[0]["name"],
        "services": list(services),
        **fields,
    }


def _error(data: Any) -> str:
    with pytest.raises(AppSpecError) as caught:
        parse_app(data, "app.yaml")
    message = str(caught.value)
    assert message.startswith("invalid application file app.yaml: ")
    return message


@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(SHOP, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- the default application


def test_default_app_loads() -> None:
    app = load_app()
    assert app.name == "hotel-reservation" and app.namespace == "hotel"
    assert app.entry == "frontend"
    assert len(app.services) == 12
    assert "hotel-reservation" in builtin_apps()
    assert load_app("hotel-reservation") == app
    calls = {c.service: c.ratio for c in app.service("frontend").calls}
    assert calls == {
        "search": 0.6,
        "recommendation": 0.39,
        "profile": 0.99,
        "user": 0.01,
        "reservation": 0.005,
    }


def test_topological_order_puts_callers_first() -> None:
    app = load_app()
    order = app.topological_order()
    assert order[0] == app.entry
    assert sorted(order) == sorted(s.name for s in app.services)
    for svc in app.services:
        for call in svc.calls:
            assert order.index(svc.name) < order.index(call.service), (svc.name, call.service)


def test_loads_a_file_by_path(shop_file: Path) -> None:
    app = load_app(shop_file)
    assert isinstance(app, AppSpec)
    assert [s.name for s in app.services] == ["gateway", "catalog", "cart", "db"]
    assert load_app(str(shop_file)) == app


# ---------------------------------------------------------------------- errors naming the culprit


@pytest.mark.parametrize(
    ("services", "cycle"),
    [
        ([_service("a", "b"), _service("b", "a")], "a -> b -> a"),
        ([_service("a", "b"), _service("b", "c"), _service("c", "a")], "a -> b -> c -> a"),
        ([_service("entry", "x"), _service("x", "y"), _service("y", "x")], "x -> y -> x"),
    ],
    ids=["two", "three", "below-the-entry"],
)
def test_cycle_is_rejected_with_its_path(services: list[dict[str, Any]], cycle: str) -> None:
    message = _error(_app(*services))
    assert f"the call graph has a cycle: {cycle}" in message


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) is None  # a diamond
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]


def test_call_to_a_missing_service_names_both() -> None:
    message = _error(_app(_service("web", "api"), _service("api", "cache")))
    assert "service 'api' calls 'cache', which is not defined" in message


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"resources": {"cpu_request": "lots"}}, "services[api].resources.cpu_request", "lots"),
        ({"resources": {"cpu_limit": "12Qx"}}, "services[api].resources.cpu_limit", "12Qx"),
        ({"resources": {"memory_limit": "1Gb"}}, "services[api].resources.memory_limit", "1Gb"),
        ({"idle_cpu": "-"}, "services[api].idle_cpu", "-"),
        ({"memory_base": "big"}, "services[api].memory_base", "big"),
    ],
)
def test_bad_quantity_names_the_field(change: dict[str, Any], field: str, value: str) -> None:
    message = _error(_app(_service("web", "api"), _service("api", **change)))
    assert f"{field}: invalid quantity '{value}'" in message


def test_bad_node_pool_quantity_is_rejected_when_loading() -> None:
    data = _app(
        _service("web"), cluster={"node_pools": [{"name": "p", "count": 1, "memory": "8 GB"}]}
    )
    assert "cluster.node_pools.0.memory: invalid quantity '8 GB'" in _error(data)


def test_duplicate_service_names() -> None:
    message = _error(_app(_service("web", "api"), _service("api"), _service("api")))
    assert "service(s) defined twice: api" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_app(_service("web", "web")), "service 'web' calls itself"),
        ({**_app(_service("web")), "entry": "www"}, "entry service 'www' is not defined"),
        (_app(_service("Web_1")), "services[Web_1].name: 'Web_1' is not a valid DNS-1123 label"),
        (_app(_service("web", replica=2)), "services[web].replica: Extra inputs are not permitted"),
        (
            _app(_service("web", replicas=-1)),
            "services[web].replicas: Input should be greater than",
        ),
        (
            _app(_service("web"), timing={"image_pul_s": 1}),
            "timing: unknown timing setting(s) image_pul_s",
        ),
        (
            _app(_service("web"), timing={"image_pull_s": -1}),
            "timing: timing setting image_pull_s: must be >= 0",
        ),
        (_app(_service("web"), load={"type": "sine"}), "load: unknown load type 'sine'"),
        (_app(_service("web"), load={"type": "constant"}), "load: constant: missing key 'rps'"),
        ({**_app(_service("web")), "services": []}, "an application needs at least one service"),
    ],
    ids=[
        "self-call",
        "entry",
        "name",
        "unknown-field",
        "negative-replicas",
        "timing-key",
        "timing-value",
        "load-type",
        "load-params",
        "no-services",
    ],
)
def test_invalid_app_is_rejected_before_anything_runs(data: dict[str, Any], expected: str) -> None:
    assert expected in _error(data)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(
        AppSpecError, match="no application file 'nope'; shipped ones: hotel-reservation"
    ):
        load_app("nope")
    with pytest.raises(AppSpecError, match="cannot read application file"):
        load_app(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(AppSpecError, match="is not valid YAML"):
        load_app(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(AppSpecError, match="expected a mapping at the top"):
        load_app(listed)


def test_cycle_added_to_the_default_app_names_its_services() -> None:
    text = (resources.files("testbed") / "apps" / "hotel-reservation.yaml").read_text()
    data = yaml.safe_load(text)
    data["services"][-1]["calls"] = [{"service": "frontend"}]  # mongodb-users -> frontend
    message = _error(data)
    assert "the call graph has a cycle: frontend -> " in message
    assert " -> mongodb-users -> frontend" in message


# ---------------------------------------------------------------------- another application runs


def test_another_app_runs_with_its_own_names_nodes_load_and_timing(shop_file: Path) -> None:
    cluster = Cluster(load_app(shop_file), seed=1, noise=0)
    cluster.advance(60)
    traffic = cluster.traffic

    assert [n.name for n in cluster.node_list] == ["tiny-000", "tiny-001"]
    assert cluster.timing.image_pull_s == 2
    assert {p.rs.deployment.name for p in cluster.pods.values() if p.rs and p.rs.deployment} == {
        "gateway",
        "catalog",
        "cart",
        "db",
    }
    assert all(p.ready and p.namespace == "shop" for p in cluster.pods.values())
    lam = {c.name: float(traffic.lam[c.index]) for c in traffic.components}
    assert lam == pytest.approx({"gateway": 25, "catalog": 50, "cart": 7.5, "db": 32.5})
    assert not traffic.error.any()
    for edge in traffic.edges:
        assert traffic.requests[edge.index, 0] > 0
    text = metrics.render(cluster)
    assert 'destination_workload="catalog"' in text
    assert 'source_workload="cart"' in text
    assert "hotel" not in text and "frontend" not in text


def test_call_ratios_set_how_failures_reach_the_entry(shop_file: Path) -> None:
    cluster = Cluster(load_app(shop_file), seed=1, load=Constant(20), noise=0)
    cluster.advance(30)
    cart = cluster.deployments[("shop", "cart")]
    spec = copy.deepcopy(cart.spec)
    spec["replicas"] = 0
    cluster.apply_deployment("shop", "cart", {}, spec)
    cluster.advance(10)
    traffic = cluster.traffic
    gateway = traffic.component_of("shop", "gateway")

    # 30 % of the gateway's requests call the cart once: exactly those fail
    assert traffic.error[traffic.component_of("shop", "cart")] == 1.0
    assert traffic.error[gateway] == pytest.approx(0.3)

    cluster.apply_deployment("shop", "cart", {}, cart.spec | {"replicas": 1})
    db = cluster.deployments[("shop", "db")]
    cluster.apply_deployment("shop", "db", {}, db.spec | {"replicas": 0})
    cluster.advance(30)
    # every request calls the catalog twice and half of those calls reach the db
    catalog = traffic.component_of("shop", "catalog")
    assert traffic.error[catalog] == pytest.approx(0.5)
    assert traffic.error[gateway] == pytest.approx(1 - (1 - 0.5) ** 2 * (1 - 0.3))


def test_two_apps_share_a_cluster_in_their_own_namespaces(shop_file: Path) -> None:
    hotel, shop = load_app(), load_app(shop_file)
    cluster = Cluster([hotel, (shop, "shop-2")], seed=2, load=Constant(30), noise=0)
    cluster.advance(60)
    traffic = cluster.traffic

    assert {p.namespace for p in cluster.pods.values()} == {"hotel", "shop-2"}
    assert traffic.lam[traffic.component_of("hotel", "frontend")] == 30
    assert traffic.lam[traffic.component_of("shop-2", "gateway")] == 30
    db = cluster.deployments[("shop-2", "db")]
    cluster.apply_deployment("shop-2", "db", {}, db.spec | {"replicas": 0})
    cluster.advance(10)
    assert traffic.error[traffic.component_of("shop-2", "gateway")] > 0.5
    hotel_comps = [c.index for c in traffic.components if c.namespace == "hotel"]
    assert not traffic.error[hotel_comps].any()


def test_two_apps_need_two_namespaces(shop_file: Path) -> None:
    shop = load_app(shop_file)
    with pytest.raises(ValueError, match="each application needs its own namespace"):
        Cluster([shop, shop])
