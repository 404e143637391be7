"""The Chaos Toolkit extension (``testbed.chaos``) and its experiments, one per library fault.

Experiment files are checked as Chaos Toolkit checks them; three of them (one per way of
injecting) run through the ``chaos run`` command against a testbed served at 20x real time; the
extension's actions and probes run against the served cluster; ``aiops testbed inject|clear``
talk to a running server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaoslib.exceptions import ActivityFailed
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.loader import load_experiment
from click.testing import CliRunner
from kubernetes import client
from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.cli import main
from testbed import metrics, runner
from testbed.app import SLOSpec, load_app
from testbed.chaos import actions, discover, probes
from testbed.cluster import Cluster
from testbed.faults import FAULTS
from testbed.load import Constant
from testbed.runner import TestbedServer
from testbed.slo import Snapshot, evaluate, evaluate_exposition, snapshot_from_exposition

from .api_helpers import NS, REVISION, TRUTH_TOKEN, by_revision, owned_replicasets, settle

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "testbed" / "chaos" / "experiments"
CHAOS = Path(sys.executable).parent / "chaos"
TB = "testbed.chaos.actions"
SPEED = 20.0
OBSERVER = "pytest-observer"

#: The activity that makes each fault's change: chaostoolkit-kubernetes where it has one.
INJECTOR = {
    "pod-kill": ("chaosk8s.pod.actions", "terminate_pods"),
    "scale-to-zero": ("chaosk8s.deployment.actions", "scale_deployment"),
    "cordon-capacity": ("chaosk8s.node.actions", "drain_nodes"),
    "db-auth": ("chaosk8s.deployment.actions", "rollout_deployment"),
    "service-port": (TB, "set_service_target_port"),
    "node-selector": (TB, "set_node_selector"),
    "cpu-limit": (TB, "set_cpu_limit"),
    "pod-failure": ("chaosk8s.crd.actions", "create_custom_object"),
    "network-delay": ("chaosk8s.chaosmesh.network.actions", "add_latency"),
    "network-loss": ("chaosk8s.chaosmesh.network.actions", "set_loss"),
    "cpu-stress": ("chaosk8s.chaosmesh.stress.actions", "stress_cpu"),
}


def experiment(name: str) -> dict[str, Any]:
    return load_experiment(str(EXPERIMENTS / f"{name}.yaml"))


def calls(activities: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["provider"]["module"], a["provider"]["func"]) for a in activities]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# ---------------------------------------------------------------------- a server that records


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    token: bool
    agent: str


class Recorder:
    """ASGI middleware noting every request the testbed serves."""

    def __init__(self, app: ASGIApp, seen: list[Seen]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            agent = headers.get(b"user-agent", b"").decode()
            self.seen.append(
                Seen(scope["method"], scope["path"], b"authorization" in headers, agent)
            )
        await self.app(scope, receive, send)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Seen]:
    """Requests to every TestbedServer the test starts."""
    requests: list[Seen] = []
    create_app = runner.create_app

    def recording_app(cluster: Cluster, truth_token: str | None = None) -> Any:
        app = create_app(cluster, truth_token)
        app.add_middleware(Recorder, seen=requests)
        return app

    monkeypatch.setattr(runner, "create_app", recording_app)
    return requests


@pytest.fixture
def k8s_env(monkeypatch: pytest.MonkeyPatch, server: TestbedServer, tmp_path: Path) -> str:
    """chaostoolkit-kubernetes' client pointed at the served cluster (no kubeconfig)."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("KUBERNETES_HOST", server.url)
    return server.url


def conf(server: TestbedServer) -> dict[str, Any]:
    return {"testbed_url": server.url}


SECRETS = {"truth_token": TRUTH_TOKEN}


def truth(url: str) -> dict[str, Any]:
    response = httpx.get(
        f"{url}/testbed/truth",
        headers={"Authorization": f"Bearer {TRUTH_TOKEN}", "User-Agent": OBSERVER},
        timeout=5,
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# ---------------------------------------------------------------------- the experiment files


def test_there_is_one_experiment_per_fault() -> None:
    assert {p.stem for p in EXPERIMENTS.glob("*.yaml")} == set(FAULTS)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_experiment_is_valid_and_names_its_fault(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTBED_TRUTH_TOKEN", TRUTH_TOKEN)  # its secret is read at validation
    exp = experiment(name)
    ensure_experiment_is_valid(exp)
    assert set(exp["tags"]) & set(FAULTS) == {name}
    assert exp["runtime"]["rollbacks"]["strategy"] == "always"
    (probe,) = exp["steady-state-hypothesis"]["probes"]
    assert probe["tolerance"] is True
    assert (probe["provider"]["module"], probe["provider"]["func"]) == (
        "testbed.chaos.probes",
        "slo_met",
    )
    assert probe["provider"]["arguments"]["service"] == "${entry_service}"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_experiment_injects_its_fault_the_documented_way(name: str) -> None:
    fault = FAULTS[name]
    exp = experiment(name)
    method = [a for a in exp["method"] if a["type"] == "action"]
    made = calls(method)
    rollbacks = calls(exp["rollbacks"])
    if fault.injection == "testbed":
        assert made == [(TB, "inject_fault")]
        assert method[0]["provider"]["arguments"]["name"] == name
    else:
        assert INJECTOR[name] in made
    if fault.injection == "kubernetes":
        assert made[0] == (TB, "declare_fault")  # the truth first, then the change
        assert method[0]["provider"]["arguments"]["name"] == name
        if INJECTOR[name][0] != TB:
            assert any(module.startswith("chaosk8s.") for module, _ in made)
    if fault.injection == "chaos-mesh":
        assert not any(module == TB for module, _ in made)  # the testbed honours the object
        assert any(func.startswith("delete") for _, func in rollbacks)
    else:
        clear = [a for a in exp["rollbacks"] if a["provider"]["func"] == "clear_fault"]
        assert [a["provider"]["arguments"]["name"] for a in clear] == [name]
    assert method[-1]["pauses"]["after"] == "${symptom_wait_s}"
    assert exp["configuration"]["symptom_wait_s"] == fault.symptom_within_s


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_experiment_can_be_retargeted_and_defaults_to_the_hotel_application(
    name: str,
) -> None:
    exp = experiment(name)
    config = exp["configuration"]
    known = set(config) | {k for scope in exp.get("secrets", {}).values() for k in scope}
    used = {m for text in strings(exp) for m in re.findall(r"\$\{(\w+)\}", text)}
    assert used <= known, f"variables without a default: {sorted(used - known)}"
    assert {"namespace", "entry_service", "symptom_wait_s", "slo_window_s"} <= used
    hotel = load_app()
    services = {s.name for s in hotel.services}
    assert config["namespace"] == hotel.namespace and config["entry_service"] == hotel.entry
    for key in ("target_service", "source", "destination"):
        assert config.get(key, hotel.entry) in services
    pool = hotel.cluster.node_pools[0]
    assert config.get("node", f"{pool.name}-000") in {
        f"{pool.name}-{i:03d}" for i in range(pool.count)
    }


# ---------------------------------------------------------------------- the extension


def test_discovery_lists_the_activities() -> None:
    found = discover()
    assert found["extension"]["name"] == "testbed.chaos"
    names = {(a["type"], a["name"]) for a in found["activities"]}
    assert {("action", n) for n in actions.__all__} <= names
    assert {("probe", "slo_met"), ("probe", "slo_report")} <= names


def test_a_snapshot_from_the_exposition_evaluates_as_the_model_does() -> None:
    cluster = Cluster(seed=3, load=Constant(100))
    cluster.advance(60)
    model = [Snapshot.take(cluster)]
    scraped = [snapshot_from_exposition(metrics.render(cluster), cluster.now)]
    cluster.traffic.extra_latency_s[cluster.traffic.entries[0][1]] = 0.8
    cluster.advance(120)
    model.append(Snapshot.take(cluster))
    scraped.append(snapshot_from_exposition(metrics.render(cluster), cluster.now))
    slo = SLOSpec(service="frontend")

    want = evaluate(*model, cluster.traffic, slo, NS)
    got = evaluate_exposition(*scraped, slo, NS)

    assert got.requests == pytest.approx(want.requests, abs=len(scraped[1].edges) * 4)
    assert got.latency_ms == pytest.approx(want.latency_ms, rel=0.02)
    assert got.met is want.met is False


def test_an_edge_or_code_first_counted_inside_the_window_counts_from_zero() -> None:
    head = 'istio_requests_total{source_workload="a",destination_workload="b",'
    before = snapshot_from_exposition(f'{head}response_code="200"}} 90\n', 0.0)
    after = snapshot_from_exposition(
        f'{head}response_code="200"}} 180\n{head}response_code="503"}} 10\n', 60.0
    )
    result = evaluate_exposition(before, after, SLOSpec(service="b", latency_ms=None), "")
    assert (result.requests, result.error_ratio, result.met) == (100.0, 0.1, False)


def test_the_probes_read_only_the_public_metrics(seen: list[Seen]) -> None:
    cluster = Cluster(seed=3, load=Constant(100))
    cluster.advance(60)
    with TestbedServer(cluster, truth_token=TRUTH_TOKEN) as server:
        report = probes.slo_report("frontend", NS, window_s=0.05, configuration=conf(server))
        assert probes.slo_met("frontend", NS, window_s=0.05, configuration=conf(server))
        with pytest.raises(ActivityFailed, match="no Istio requests into hotel/nowhere"):
            probes.slo_met("nowhere", NS, window_s=0.01, configuration=conf(server))
    assert report["met"] and report["objective"] == {"latency_ms": 500.0, "error_ratio": 0.01}
    assert {(s.method, s.path, s.token) for s in seen} == {("GET", "/metrics", False)}


def test_fault_actions_say_what_is_missing_or_refused(server: TestbedServer) -> None:
    with pytest.raises(ActivityFailed, match="no 'testbed_url'"):
        actions.declare_fault("pod-kill", "geo", secrets=SECRETS)
    with pytest.raises(ActivityFailed, match="no truth token"):
        actions.declare_fault("pod-kill", "geo", configuration=conf(server))
    with pytest.raises(ActivityFailed, match="refused the truth token"):
        actions.inject_fault(
            "load-flood", configuration=conf(server), secrets={"truth_token": "wrong" * 4}
        )
    with pytest.raises(ActivityFailed, match="unknown fault 'gremlins'"):
        actions.inject_fault("gremlins", "geo", configuration=conf(server), secrets=SECRETS)
    with pytest.raises(ActivityFailed, match="strength must be a number"):
        actions.inject_fault("load-flood", strength="lots", configuration=conf(server))
    with pytest.raises(ActivityFailed, match="needs a fault_id or the name"):
        actions.clear_fault(configuration=conf(server), secrets=SECRETS)
    with pytest.raises(ActivityFailed, match="cannot reach the testbed"):
        actions.clear_faults(configuration={"testbed_url": "http://127.0.0.1:9"}, secrets=SECRETS)
    assert server.cluster.faults == []


def test_a_declared_fault_is_recorded_but_not_applied(
    server: TestbedServer, cluster: Cluster
) -> None:
    rv = cluster.rv
    fault = actions.declare_fault(
        "scale-to-zero", "search", NS, configuration=conf(server), secrets=SECRETS
    )
    assert (fault["state"], fault["via"], fault["root_cause"]["name"]) == (
        "active",
        "kubernetes",
        "search",
    )
    assert cluster.rv == rv and cluster.deployments[(NS, "search")].replicas == 2
    cleared = actions.clear_fault(name="scale-to-zero", target="search", **_ctx(server))
    assert [f["state"] for f in cleared] == ["cleared"]
    assert actions.clear_fault(name="scale-to-zero", **_ctx(server)) == []


def _ctx(server: TestbedServer) -> dict[str, Any]:
    return {"configuration": conf(server), "secrets": SECRETS}


def test_injected_faults_are_applied_and_cleared_by_name_or_all(
    server: TestbedServer, cluster: Cluster
) -> None:
    flood = actions.inject_fault("load-flood", "app", strength="3", **_ctx(server))
    actions.inject_fault("node-failure", "node/general-001", **_ctx(server))
    assert flood["strength"] == 3.0 and flood["via"] == "testbed"
    assert not cluster.nodes["general-001"].kubelet_up
    assert [f["name"] for f in actions.clear_fault(name="load-flood", **_ctx(server))] == [
        "load-flood"
    ]
    assert [f["name"] for f in actions.clear_faults(**_ctx(server))] == ["node-failure"]
    assert {f.state for f in cluster.faults} == {"cleared"}
    assert cluster.nodes["general-001"].kubelet_up


# ---------------------------------------------------------------------- Kubernetes patches


def test_service_target_port_is_broken_and_restored(k8s_env: str, cluster: Cluster) -> None:
    core = client.CoreV1Api(_api(k8s_env))
    changed = actions.set_service_target_port("geo", NS)
    assert (changed["from"], changed["to"]) == (8083, 8084)
    assert core.read_namespaced_service("geo", NS).spec.ports[0].target_port == 8084
    restored = actions.restore_service_target_port("geo", NS)
    assert restored["to"] == 8083
    assert core.read_namespaced_service("geo", NS).spec.ports[0].target_port == 8083
    with pytest.raises(ActivityFailed, match="service hotel/nowhere: 404"):
        actions.set_service_target_port("nowhere", NS)


def _api(url: str) -> client.ApiClient:
    config = client.Configuration()
    config.host = url
    return client.ApiClient(config)


def test_node_selector_is_rolled_back_as_kubectl_rollout_undo_does(
    k8s_env: str, cluster: Cluster
) -> None:
    apps = client.AppsV1Api(_api(k8s_env))
    with pytest.raises(ActivityFailed, match="no rollout history"):
        actions.rollback_deployment("geo", NS)
    actions.set_node_selector("geo", NS, node_selector="nodepool=highmem")
    cluster.advance(30)
    dep = apps.read_namespaced_deployment("geo", NS)
    assert dep.spec.strategy.type == "Recreate"
    assert dep.spec.template.spec.node_selector == {"nodepool": "highmem"}
    assert not dep.status.available_replicas  # the new pod cannot be scheduled

    undone = actions.rollback_deployment("geo", NS)
    actions.set_deployment_strategy("geo", NS)
    settle(cluster)

    assert (undone["from_revision"], undone["to_revision"]) == (2, 1)
    dep = apps.read_namespaced_deployment("geo", NS)
    assert dep.spec.template.spec.node_selector is None
    assert dep.spec.strategy.type == "RollingUpdate"
    assert sorted(by_revision(owned_replicasets(apps, "geo"))) == [2, 3]  # revision 1 reused
    assert dep.metadata.annotations[REVISION] == "3" and dep.status.available_replicas == 1
    assert actions.rollback_deployment("geo", NS, to_revision=3)["skipped"] is True


def test_cpu_limit_is_lowered_then_rolled_back(k8s_env: str, cluster: Cluster) -> None:
    apps = client.AppsV1Api(_api(k8s_env))
    assert actions.set_cpu_limit("search", NS, cpu=0.05)["cpu"] == "50m"
    resources = apps.read_namespaced_deployment("search", NS).spec.template.spec.containers[0]
    assert resources.resources.limits["cpu"] == resources.resources.requests["cpu"] == "50m"
    cluster.advance(5)  # the deployment controller makes revision 2
    actions.rollback_deployment("search", NS)
    resources = apps.read_namespaced_deployment("search", NS).spec.template.spec.containers[0]
    assert resources.resources.limits["cpu"] == "1"
    with pytest.raises(ActivityFailed, match="no container 'sidecar'"):
        actions.set_cpu_limit("search", NS, cpu="100m", container="sidecar")


def test_a_rotated_password_breaks_clients_until_the_readers_restart(
    k8s_env: str, cluster: Cluster
) -> None:
    core = client.CoreV1Api(_api(k8s_env))
    secret = "mongodb-hotels-credentials"
    old = core.read_namespaced_secret(secret, NS).data["password"]
    rotated = actions.rotate_secret_password(secret, NS)
    assert core.read_namespaced_secret(secret, NS).data["password"] != old
    assert set(rotated) == {"secret", "namespace", "key"}  # the password stays out of journals
    restarted = actions.restart_secret_consumers(secret, NS)
    assert sorted(restarted) == ["geo", "mongodb-hotels", "profile", "rate", "recommendation"]
    with pytest.raises(ActivityFailed, match="no deployment in hotel reads secret 'nope'"):
        actions.restart_secret_consumers("nope", NS)


# ---------------------------------------------------------------------- chaos run


RUNS = {"scale-to-zero": "kubernetes", "network-delay": "chaos-mesh", "bad-release": "testbed"}


def _states(url: str, name: str) -> tuple[set[str], int]:
    body = truth(url)
    return {f["state"] for f in body["faults"] if f["name"] == name}, len(body["chaos"])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_chaos_run_deviates_under_the_fault_and_recovers_after_the_rollbacks(
    name: str, tmp_path: Path, seen: list[Seen]
) -> None:
    assert FAULTS[name].injection == RUNS[name]
    cluster = Cluster(seed=7, load=Constant(100))
    cluster.advance(60)
    settle(cluster)
    journal_path = tmp_path / "journal.json"
    with TestbedServer(cluster, truth_token=TRUTH_TOKEN, speed=SPEED) as server:
        env = {
            "PATH": str(CHAOS.parent),
            "HOME": str(tmp_path),
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
            "KUBERNETES_HOST": server.url,
            "TESTBED_URL": server.url,
            "TESTBED_TRUTH_TOKEN": TRUTH_TOKEN,
        }
        wait = FAULTS[name].symptom_within_s / SPEED
        command = [
            *(str(CHAOS), "--no-version-check", "--log-file", str(tmp_path / "chaos.log")),
            *("--settings", str(tmp_path / "settings.yaml"), "run"),
            *("--journal-path", str(journal_path)),
            *("--var", "slo_window_s:float=2", "--var", f"symptom_wait_s:float={wait}"),
            str(EXPERIMENTS / f"{name}.yaml"),
        ]
        proc = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        during: set[str] = set()
        chaos_objects = 0
        while proc.poll() is None:
            states, count = _states(server.url, name)
            during |= states
            chaos_objects = max(chaos_objects, count)
            time.sleep(0.2)
        output = proc.communicate(timeout=60)[0].decode()
        after, objects_left = _states(server.url, name)
        time.sleep(2.0)  # 40 simulated seconds to settle
        recovered = probes.slo_met("frontend", NS, window_s=2, configuration=conf(server))

    journal = json.loads(journal_path.read_text())
    assert proc.returncode == 1, output  # chaos exits 1 when the hypothesis deviated
    assert journal["status"] == "completed" and journal["deviated"] is True, output
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is False
    assert all(run["status"] == "succeeded" for run in journal["run"])
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"] * len(
        experiment(name)["rollbacks"]
    )
    (report,) = [r["output"] for r in journal["run"] if r["activity"]["type"] == "probe"]
    assert report["met"] is False and report["requests"] > 0
    assert "active" in during and after == {"cleared"}
    assert chaos_objects == (1 if RUNS[name] == "chaos-mesh" else 0) and objects_left == 0
    assert recovered
    from_others = [s for s in seen if s.agent != OBSERVER]
    assert not [s for s in from_others if s.path == "/testbed/truth"]
    assert all(not s.token for s in from_others if s.path == "/metrics")
    assert sum(s.path == "/metrics" for s in from_others) >= 8  # 3 probes, 2 scrapes each, + ours


# ---------------------------------------------------------------------- aiops testbed inject


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "truth-token"
    path.write_text(TRUTH_TOKEN + "\n")
    return path


def test_cli_injects_lists_and_clears_a_fault(
    server: TestbedServer, cluster: Cluster, token_file: Path
) -> None:
    where = ["--url", server.url, "--token-file", str(token_file)]
    result = CliRunner().invoke(
        main, ["testbed", "inject", "bad-release", "--target", "search", *where]
    )
    assert result.exit_code == 0, result.output
    assert "fault-1: bad-release on search (active, strength 0.3)" in result.output
    listed = httpx.get(
        f"{server.url}/testbed/faults", headers={"Authorization": f"Bearer {TRUTH_TOKEN}"}
    ).json()["faults"]
    assert [(f["id"], f["name"], f["state"]) for f in listed] == [
        ("fault-1", "bad-release", "active")
    ]

    result = CliRunner().invoke(main, ["testbed", "clear", "fault-1", *where])

    assert result.exit_code == 0 and "fault-1: bad-release cleared" in result.output
    assert [f.state for f in cluster.faults] == ["cleared"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gremlins", "--target", "search"], "unknown fault 'gremlins'"),
        (["bad-release", "--target", "nowhere"], "no service 'nowhere' in hotel"),
        (["network-delay", "--target", "geo->search"], "geo does not call search"),
        (["node-failure", "--target", "node/general-999"], "needs a node target"),
    ],
)
def test_cli_rejects_an_unknown_fault_or_target_leaving_the_cluster_as_it_was(
    server: TestbedServer, cluster: Cluster, token_file: Path, args: list[str], message: str
) -> None:
    rv = cluster.rv
    where = ["--url", server.url, "--token-file", str(token_file)]
    result = CliRunner().invoke(main, ["testbed", "inject", *args, *where])
    assert result.exit_code != 0
    assert message in result.output and "422" in result.output
    assert cluster.rv == rv and cluster.faults == []
