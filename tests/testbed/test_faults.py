"""Every fault of the library, on both shipped applications, does what its documentation says.

For each (fault, application) a seeded cluster runs the application under a constant, moderate
load until every pod is Ready and its entry SLO holds. The fault is injected on a target chosen
from the application file by a selector, never a hard-coded name ("a service with callers and
one replica", "a database with credentials", "the busiest call into a leaf service", "the node
hosting a given service's pod"). Within the fault's ``symptom_within_s`` every documented symptom
must be seen in what the cluster exposes (:mod:`tests.testbed.fault_symptoms`) while the services
that neither are its root cause nor depend on it stay healthy. Then the fault's first documented
mitigation is applied through the Kubernetes API (the official client against a served cluster,
:mod:`tests.testbed.mitigate`; never ``fault_engine.clear``) and every SLO of the application must
be met again within :data:`RECOVERY_LIMIT_S` and hold for two of its windows, at the end of which
every service, root cause included, is as healthy as before the fault. ``memory-leak``, which a
restart only postpones, holds for one window (its strength is set so that the leak fills a pod in
3/4 of its symptom window) and the test then sees it recur; ``demand-growth`` holds until the
horizon its scale-out was sized for.

Faults on the application's load (``load-flood``, ``demand-growth``) have the whole application
in their blast radius; there the other shipped application runs in the same cluster as the
bystander that must stay healthy.

Also: bad input is refused with a :class:`FaultError` naming the problem, and leaves the cluster
unchanged; every injected fault is in the ground truth and named nowhere else.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest

from testbed.app import AppSpec, SLOSpec, load_app
from testbed.cluster import Cluster
from testbed.faults import FAULTS, MITIGATIONS, FaultDef, FaultError
from testbed.k8s.quantity import parse_memory
from testbed.load import Constant
from testbed.metrics import render
from testbed.objects import Pod
from testbed.runner import TestbedServer
from testbed.slo import evaluate

from . import mitigate
from .api_helpers import settle
from .fault_symptoms import (
    DEFERRED,
    SYMPTOMS,
    Baseline,
    Check,
    Mark,
    Run,
    Window,
    live_pods,
)
from .mitigate import Kube

APPS = ("hotel-reservation", "online-boutique")
SEED = 11
LOAD_SHARE = 0.5  # of the application's default peak: a moderate, constant load
RECOVERY_LIMIT_S = 180  # from the mitigation to every SLO met again
RECOVERY_PROBE_S = 30  # the window "met again" is judged on
HEALTHY_ERROR_RATIO = 0.01
HEALTHY_P99 = (1.1, 1.0)  # a healthy service's p99: at most 10 % + 1 ms above its baseline
LEAK_OOM_SHARE = 0.75  # memory-leak's strength: the first OOM at 3/4 of the symptom window
SCALE_TARGET = 0.6  # scale-outs aim at 60 % of the CPU limit, as an autoscaler would
FORECAST_HORIZON_S = 7200  # demand-growth: scale for the load two hours ahead, hold until then
FORBIDDEN = re.compile(r"fault|chaos|inject|bad|buggy|leak", re.I)
OPAQUE_IDS = re.compile(  # UIDs and container ids: hexadecimal, so they may spell "bad"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|containerd://[0-9a-f]+"
)
#: mitigations the tests apply through the Kubernetes API (``move`` and ``escalate`` are not)
API_ACTIONS = frozenset(MITIGATIONS) - {"escalate", "move"}


# ---------------------------------------------------------------------- target selectors


def peak(app: AppSpec) -> float:
    """The application's default peak load (requests/s)."""
    load = app.load or {}
    return float(load.get("high") or load.get("rps") or 100.0)


def single_replica_with_callers(app: AppSpec) -> str:
    """The first service (in file order) with callers, one replica and no credentials."""
    for svc in app.services:
        if app.callers(svc.name) and svc.replicas == 1 and not svc.credentials:
            return svc.name
    raise LookupError(f"{app.name} has no single-replica service with callers")


def database_with_credentials(app: AppSpec) -> str:
    for svc in app.services:
        if svc.credentials and app.callers(svc.name):
            return svc.name
    raise LookupError(f"{app.name} has no password-protected service with clients")


def edge_shares(app: AppSpec) -> dict[tuple[str, str], float]:
    """Calls on each edge per request into the entry, from the file's call ratios."""
    into = {s.name: 0.0 for s in app.services}
    into[app.entry] = 1.0
    shares = {}
    for name in app.topological_order():
        for call in app.service(name).calls:
            shares[(name, call.service)] = into[name] * call.ratio
            into[call.service] += into[name] * call.ratio
    return shares


def busiest_edge_into_leaf(app: AppSpec) -> tuple[str, str]:
    """The call into a leaf service with the most traffic, from a caller other than the entry."""
    leaves = {s.name for s in app.services if not s.calls}
    shares = {
        edge: share
        for edge, share in edge_shares(app).items()
        if edge[0] != app.entry and edge[1] in leaves
    }
    return max(shares, key=lambda e: (shares[e], e))


def node_hosting(cluster: Cluster, namespace: str, service: str) -> str:
    """The node running the (first) pod of ``service``."""
    pods = sorted(live_pods(cluster, namespace, service), key=lambda p: p.name)
    assert pods and pods[0].node is not None, f"{service} has no scheduled pod"
    return pods[0].node.name


def choose_target(fault: FaultDef, app: AppSpec, cluster: Cluster) -> dict[str, str]:
    """Where ``fault`` strikes in ``app``, derived from the application file."""
    if fault.target == "edge":
        source, destination = busiest_edge_into_leaf(app)
        return {"source": source, "destination": destination}
    if fault.target == "node":
        return {"node": node_hosting(cluster, app.namespace, single_replica_with_callers(app))}
    if fault.target == "app":
        return {}
    if fault.name == "db-auth":
        return {"service": database_with_credentials(app)}
    return {"service": single_replica_with_callers(app)}


def leak_headroom(app: AppSpec, service: str) -> float:
    """Bytes a pod of ``service`` can grow by before it reaches its memory limit."""
    svc = app.service(service)
    assert svc.resources.memory_limit is not None
    return float(parse_memory(svc.resources.memory_limit) - parse_memory(svc.memory_base))


def choose_strength(fault: FaultDef, app: AppSpec, target: dict[str, str]) -> float | None:
    """The default strength, but memory-leak's fills the headroom at 3/4 of its window."""
    if fault.name != "memory-leak":
        return None
    minutes = LEAK_OOM_SHARE * fault.symptom_within_s / 60
    return leak_headroom(app, target["service"]) / 2**20 / minutes


def on_load(fault: FaultDef) -> bool:
    """A fault on the application's load: the whole application is its blast radius."""
    return fault.target == "app" and fault.root == "service"


# ---------------------------------------------------------------------- mitigations
# Each applies the fault's first documented mitigation through the Kubernetes API, reading what
# an operator would read first (unready pods, Secrets' readers, CPU use, request rates).


def do_nothing(run: Run) -> None:
    """``noop``: the fault heals itself."""


def delete_unready_pods(run: Run) -> None:
    failed = mitigate.unready_pods(run.kube, run.ns, run.service)
    assert failed, "no unready pod to delete"
    for pod in failed:
        mitigate.delete_pod(run.kube, run.ns, pod)


def delete_busiest_pod(run: Run) -> None:
    share = mitigate.cpu_by_pod(run.kube, run.ns, run.wait, interval_s=10)
    pods = [p.metadata.name for p in mitigate.pods_of(run.kube, run.ns, run.service)]
    mitigate.delete_pod(run.kube, run.ns, max(pods, key=lambda p: share.get(p, 0.0)))


def roll_back(run: Run) -> None:
    assert mitigate.rollback(run.kube, run.ns, run.service) == 1


def restart_service(run: Run) -> None:
    mitigate.restart(run.kube, run.ns, run.service, run.stamp())


def restart_database_clients(run: Run) -> None:
    """Restart every deployment that reads the database's own credentials Secret."""
    dep = run.kube.apps.read_namespaced_deployment(run.service, run.ns)
    env = [e for c in dep.spec.template.spec.containers for e in c.env or []]
    secrets = {e.value_from.secret_key_ref.name for e in env if e.value_from is not None}
    assert len(secrets) == 1, secrets
    clients = mitigate.secret_clients(run.kube, run.ns, secrets.pop(), exclude=run.service)
    assert clients == sorted(run.app.callers(run.service))
    for name in clients:
        mitigate.restart(run.kube, run.ns, name, run.stamp())


def revert_port(run: Run) -> None:
    assert mitigate.revert_port(run.kube, run.ns, run.service) == run.app.service(run.service).port


def scale_back(run: Run) -> None:
    mitigate.scale(run.kube, run.ns, run.service, run.app.service(run.service).replicas)


def raise_cpu_limit(run: Run) -> None:
    resources = run.app.service(run.service).resources
    assert resources.cpu_limit is not None
    mitigate.set_resources(
        run.kube,
        run.ns,
        run.service,
        limits={"cpu": resources.cpu_limit},
        requests={"cpu": resources.cpu_request},
    )


def drain_node(run: Run) -> None:
    evicted = mitigate.drain(run.kube, run.target["node"], run.wait)
    assert evicted


def uncordon_nodes(run: Run) -> None:
    nodes = mitigate.cordoned_nodes(run.kube)
    assert nodes == sorted(run.injected.root_name.split(","))
    for node in nodes:
        mitigate.uncordon(run.kube, node)


def scale_out_saturated(run: Run) -> None:
    """Scale out what the CPU says is saturated, to the autoscaler's target utilisation."""
    utilisation = mitigate.cpu_by_deployment(run.kube, run.ns, run.wait)
    assert mitigate.scale_out(run.kube, run.ns, utilisation, SCALE_TARGET)


def scale_out_for_forecast(run: Run) -> None:
    """Forecast the entry's load from two 5-minute rates and scale out for the horizon."""
    entry = run.app.entry
    interval = 300.0
    counts = [mitigate.requests_into(run.kube, run.ns, entry)]
    for _ in range(2):
        run.wait(interval)
        counts.append(mitigate.requests_into(run.kube, run.ns, entry))
    first, last = (b - a for a, b in pairwise(counts))
    rate, slope = last / interval, (last - first) / interval / interval
    growth = (rate + slope * (interval / 2 + FORECAST_HORIZON_S)) / rate
    utilisation = mitigate.cpu_by_deployment(run.kube, run.ns, run.wait)
    assert max(u * growth for u in utilisation.values()) > 1, "no breach forecast: nothing to do"
    assert mitigate.scale_out(run.kube, run.ns, utilisation, SCALE_TARGET, growth)


@dataclass(frozen=True)
class Scenario:
    """A fault's first documented mitigation and how it is applied through the API."""

    action: str
    mitigate: Callable[[Run], None]
    measures_s: float = 0.0  # what the mitigation spends measuring before it acts


SCENARIOS: dict[str, Scenario] = {
    "pod-kill": Scenario("noop", do_nothing),
    "pod-failure": Scenario("delete_pod", delete_unready_pods),
    "crash-loop": Scenario("rollback", roll_back),
    "memory-leak": Scenario("restart", restart_service),
    "cpu-stress": Scenario("delete_pod", delete_busiest_pod, 10),
    "network-delay": Scenario("restart", restart_service),
    "network-loss": Scenario("restart", restart_service),
    "service-port": Scenario("revert_port", revert_port),
    "bad-release": Scenario("rollback", roll_back),
    "scale-to-zero": Scenario("scale", scale_back),
    "node-selector": Scenario("rollback", roll_back),
    "node-failure": Scenario("drain", drain_node),
    "cordon-capacity": Scenario("uncordon", uncordon_nodes),
    "db-auth": Scenario("restart", restart_database_clients),
    "cpu-limit": Scenario("set_resources", raise_cpu_limit),
    "noisy-neighbour": Scenario("drain", drain_node),
    "load-flood": Scenario("scale", scale_out_saturated, 30),
    "demand-growth": Scenario("scale", scale_out_for_forecast, 630),
}


# ---------------------------------------------------------------------- the phases of a case


def build(fault: FaultDef, app: AppSpec) -> Cluster:
    """The application (and, for load faults, the other shipped one) settled under load."""
    apps = [app]
    if on_load(fault):
        apps += [load_app(name) for name in APPS if name != app.name]
    cluster = Cluster(apps, seed=SEED, load=Constant(LOAD_SHARE * peak(app)), noise=0)
    settle(cluster)
    return cluster


def entry_slo(app: AppSpec) -> SLOSpec:
    return next(s for s in app.effective_slos() if s.service == app.entry)


def measure_baseline(cluster: Cluster, app: AppSpec) -> Baseline:
    """One entry-SLO window of the healthy cluster; the entry SLO must hold over it."""
    mark, cpu = Mark.take(cluster), pod_cpu(cluster)
    slo = entry_slo(app)
    cluster.advance(slo.window_s)
    window = Window.since(mark, cluster)
    result = evaluate(window.before, window.after, cluster.traffic, slo, app.namespace)
    assert result.met, f"the healthy {app.name} misses its entry SLO: {result}"
    used = {
        name: (total - cpu[name]) / slo.window_s
        for name, total in pod_cpu(cluster).items()
        if name in cpu
    }
    tr = cluster.traffic
    return Baseline(window, tr.latency.copy(), tr.lam.copy(), used)


def pod_cpu(cluster: Cluster) -> dict[str, float]:
    return {
        p.name: float(cluster.arrays.cpu_total[p.slot])
        for p in cluster.pods.values()
        if p.container == "running"
    }


def observe(run: Run, checks: list[Check]) -> None:
    """Advance through the symptom window; every documented symptom must be seen in it."""
    for _ in range(round(run.fault.symptom_within_s / run.cluster.tick)):
        run.cluster.step()
        for check in checks:
            if check.at is None and check.seen():
                check.at = run.since
    assert [c.symptom for c in checks] == list(run.fault.symptoms), "one check per symptom"
    missing = [c.symptom for c in checks if c.at is None]
    assert not missing, (
        f"{run.fault.name} on {run.target or run.app.name}: not seen within "
        f"{run.fault.symptom_within_s:g} s: {missing}"
    )


def blast_radius(run: Run) -> set[tuple[str, str]]:
    """(namespace, service) of the root cause and everything depending on it."""
    fault, ns = run.fault, run.ns
    if on_load(fault):
        return {(ns, s.name) for s in run.app.services}
    if fault.target == "node":
        roots = run.services_on({run.target["node"]})
    elif fault.name == "cordon-capacity":
        roots = run.services_on(set(run.injected.root_name.split(",")))
    else:
        roots = {run.service}
    return {(ns, s) for s in run.dependents(roots)}


def unhealthy(window: Window, baseline: Window, edges: list[int]) -> str | None:
    """Why the calls on ``edges`` were not healthy over ``window`` (None if they were):
    errors from 1 %, or a p99 more than 10 % + 1 ms above the same calls' baseline."""
    if not edges or window.requests(edges).sum() <= 0:
        return None
    errors, p99 = window.error_ratio(edges), window.p99_ms(edges)
    limit = baseline.p99_ms(edges) * HEALTHY_P99[0] + HEALTHY_P99[1]
    if errors < HEALTHY_ERROR_RATIO and p99 <= limit:
        return None
    return f"{errors:.2%} errors and a p99 of {p99:.1f} ms (healthy: up to {limit:.1f} ms)"


def assert_healthy_parts(
    run: Run, radius: set[tuple[str, str]], window: Window, baseline: Window
) -> None:
    """Every service outside the blast radius stays healthy while the fault acts."""
    faulty = set()  # the faulty call itself is the root cause, not its destination's health
    if run.fault.target == "edge":
        faulty = {run.edge(run.target["source"], run.target["destination"])}
    checked = []
    for inst in run.cluster.apps:
        for svc in inst.spec.services:
            if (inst.namespace, svc.name) in radius:
                continue
            edges = [e for e in run.edges_into(svc.name, inst.namespace) if e not in faulty]
            problem = unhealthy(window, baseline, edges)
            assert problem is None, (
                f"{inst.namespace}/{svc.name} is outside the blast radius of {run.fault.name} "
                f"but had {problem}"
            )
            checked.append(svc.name)
    if on_load(run.fault):
        assert checked, "the bystander application saw no traffic"


def assert_back_to_baseline(run: Run, window: Window) -> None:
    """After the mitigation every service of the application is as healthy as before the
    fault, root cause included (not for load faults: the extra load stays)."""
    if on_load(run.fault):
        return
    for svc in run.app.services:
        problem = unhealthy(window, run.baseline.window, run.edges_into(svc.name))
        assert problem is None, f"{svc.name} after {run.fault.mitigations[0]}: {problem}"


def expected_root(run: Run) -> str:
    fault = run.fault
    if fault.target == "node":
        return run.target["node"]
    if fault.name == "cordon-capacity":
        return ",".join(sorted(n.name for n in run.cluster.node_list if n.unschedulable))
    if fault.target == "app":
        return run.app.entry
    return run.service


def visible_texts(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """Everything an operator or agent can read: /metrics, events, logs, images."""
    yield "/metrics", OPAQUE_IDS.sub("", render(cluster))
    for event in cluster.events.all():
        yield f"event {event.involved.name}", f"{event.reason} {event.message}"
    for pod in cluster.pods.values():
        for _, line in [*pod.prev_logs, *pod.logs]:
            yield f"log of {pod.name}", line
        yield f"image of {pod.name}", pod.template.image
    for dep in cluster.deployments.values():
        yield f"image of {dep.name}", dep.template.image


def assert_ground_truth(run: Run) -> None:
    """The fault is in the truth with its label and root cause, and named nowhere else."""
    (truth,) = [f for f in run.cluster.truth()["faults"] if f["id"] == run.injected.id]
    assert truth["name"] == run.fault.name and truth["state"] == "active"
    assert truth["label"] == run.fault.label
    root = {"kind": run.fault.root, "namespace": run.ns, "name": expected_root(run)}
    assert truth["root_cause"] == root
    for where, text in visible_texts(run.cluster):
        found = FORBIDDEN.search(text) or (run.fault.name in text and run.fault.name)
        assert not found, f"{where} gives the fault away ({found!r}): {text[:200]}"


def missed_slos(cluster: Cluster, app: AppSpec, window: Window) -> list[str]:
    """The SLOs of ``app`` missed over ``window`` (empty when all are met)."""
    missed = []
    for slo in app.effective_slos():
        result = evaluate(window.before, window.after, cluster.traffic, slo, app.namespace)
        if not result.met:
            missed.append(
                f"{slo.service}: {result.error_ratio:.2%} errors, p99 {result.latency_ms:.0f} ms"
            )
    return missed


def await_recovery(run: Run, start: float, measured_s: float) -> float:
    """Seconds from ``start`` until every SLO is met over the last :data:`RECOVERY_PROBE_S`.

    ``measured_s``: how long the mitigation itself spent measuring before it acted.
    """
    step = 5.0
    limit = RECOVERY_LIMIT_S + measured_s
    marks = [Mark.take(run.cluster)]
    while True:
        run.wait(step)
        marks.append(Mark.take(run.cluster))
        marks = marks[-int(RECOVERY_PROBE_S / step) - 1 :]
        took = run.cluster.now - start
        window = Window(marks[0], marks[-1])
        if len(marks) > RECOVERY_PROBE_S / step and not missed_slos(run.cluster, run.app, window):
            return took
        assert took < limit, (
            f"{run.fault.name}: SLOs still missed {limit:g} s after "
            f"{run.fault.mitigations[0]}: {missed_slos(run.cluster, run.app, window)}"
        )


def assert_slos_hold(run: Run, hold_s: float) -> Window:
    """Every SLO met in each of its windows (at most ``hold_s`` long) for ``hold_s``.

    Returns the last entry-SLO window.
    """
    step = 60.0
    marks = [Mark.take(run.cluster)]
    for _ in range(round(hold_s / step)):
        run.wait(step)
        marks.append(Mark.take(run.cluster))
    for slo in run.app.effective_slos():
        length = min(slo.window_s, hold_s)
        assert length % step == 0, "SLO windows are whole minutes"
        k = round(length / step)
        for first, last in pairwise(marks[::k]):
            window = Window(first, last)
            result = evaluate(window.before, window.after, run.cluster.traffic, slo, run.ns)
            assert result.met, (
                f"{run.fault.name}: SLO on {slo.service} missed after the mitigation, "
                f"{window.before.time - run.start:.0f}-{window.after.time - run.start:.0f} s "
                f"after the injection: {result}"
            )
    k = round(min(entry_slo(run.app).window_s, hold_s) / step)
    return Window(marks[-1 - k], marks[-1])


def assert_leak_recurs(run: Run, restarted_at: float) -> None:
    """A restart only buys time: the new pods are OOMKilled once their headroom fills again."""
    fills_s = leak_headroom(run.app, run.service) / (run.injected.strength * 2**20 / 60)
    fresh = [p for p in run.pods() if p.meta.created >= restarted_at]
    assert fresh, "the restart replaced no pod"

    def oom_killed(pod: Pod) -> bool:
        return (pod.last_state or {}).get("terminated", {}).get("reason") == "OOMKilled"

    while not any(oom_killed(p) for p in fresh):
        assert run.cluster.now - restarted_at < fills_s + RECOVERY_LIMIT_S, "it did not recur"
        run.wait(5)


def hold_time(run: Run) -> float:
    """How long the SLOs must hold after the mitigation."""
    if run.fault.name == "memory-leak":  # a restart buys one window, then it recurs
        return entry_slo(run.app).window_s
    if run.fault.name == "demand-growth":  # until the horizon the scale-out was sized for
        return FORECAST_HORIZON_S
    return 2 * max(s.window_s for s in run.app.effective_slos())


def first_mitigation(fault: FaultDef) -> str:
    action = fault.mitigations[0]
    assert action in API_ACTIONS, (
        f"{fault.name}'s first mitigation is {action!r}: every fault must list a mitigation "
        "the Kubernetes API can apply first"
    )
    return action


# ---------------------------------------------------------------------- tests


def test_every_fault_has_symptom_checks_and_an_api_mitigation_first() -> None:
    assert set(SCENARIOS) == set(SYMPTOMS) == set(FAULTS)
    for name, fault in FAULTS.items():
        assert fault.symptoms, name
        assert SCENARIOS[name].action == first_mitigation(fault), name


@pytest.mark.parametrize("app_name", APPS)
def test_selectors_pick_what_they_describe(app_name: str) -> None:
    app = load_app(app_name)
    service = single_replica_with_callers(app)
    assert app.callers(service) and app.service(service).replicas == 1
    database = database_with_credentials(app)
    assert app.service(database).credentials and app.callers(database)
    source, destination = busiest_edge_into_leaf(app)
    assert source != app.entry and not app.service(destination).calls
    assert destination in {c.service for c in app.service(source).calls}


def test_selectors_pick_different_targets_in_the_two_applications() -> None:
    hotel, shop = (load_app(name) for name in APPS)
    assert hotel.name != shop.name and hotel.namespace != shop.namespace
    for select in (single_replica_with_callers, database_with_credentials, busiest_edge_into_leaf):
        assert select(hotel) != select(shop)


CASES = [pytest.param(f, a, id=f"{f}@{a}") for f in FAULTS for a in APPS]


@pytest.mark.parametrize(("fault_name", "app_name"), CASES)
def test_fault_symptoms_healthy_parts_and_mitigation(fault_name: str, app_name: str) -> None:
    fault, scenario = FAULTS[fault_name], SCENARIOS[fault_name]
    assert scenario.action == first_mitigation(fault)
    app = load_app(app_name)
    cluster = build(fault, app)
    baseline = measure_baseline(cluster, app)
    with TestbedServer(cluster) as server:
        kube = Kube.connect(server.url)
        try:
            target = choose_target(fault, app, cluster)
            pods_before = {
                s.name: {p.name for p in live_pods(cluster, app.namespace, s.name)}
                for s in app.services
            }
            mark = Mark.take(cluster)
            injected = cluster.fault_engine.inject(
                fault.name,
                target,
                namespace=app.namespace,
                strength=choose_strength(fault, app, target),
            )
            run = Run(
                fault, app, cluster, kube, target, baseline, injected, cluster.now, pods_before
            )
            radius = blast_radius(run)
            observe(run, SYMPTOMS[fault.name](run))
            assert_healthy_parts(run, radius, Window.since(mark, cluster), baseline.window)
            assert_ground_truth(run)

            mitigated_at = cluster.now
            scenario.mitigate(run)
            await_recovery(run, mitigated_at, scenario.measures_s)
            assert_back_to_baseline(run, assert_slos_hold(run, hold_time(run)))
            if fault.name == "memory-leak":
                assert_leak_recurs(run, mitigated_at)
            assert injected.state == "active", "mitigated through the API, not by clearing it"
        finally:
            kube.close()


@pytest.mark.parametrize("app_name", APPS)
def test_node_failure_left_alone_evicts_after_the_toleration(app_name: str) -> None:
    """The deferred part of node-failure's symptoms: TaintManagerEviction after 300 s (from
    NodeNotReady), and replacements elsewhere, when nobody drains the node."""
    fault = FAULTS["node-failure"]
    assert DEFERRED[fault.name] in fault.symptoms[-1]
    app = load_app(app_name)
    cluster = build(fault, app)
    node = node_hosting(cluster, app.namespace, single_replica_with_callers(app))
    on_node = {p.name for p in cluster.nodes[node].pods}
    cluster.fault_engine.inject(fault.name, {"node": node}, namespace=app.namespace)
    grace, toleration = cluster.timing.node_monitor_grace_s, cluster.timing.default_toleration_s

    def evicted() -> set[str]:
        return {e.involved.name for e in cluster.events.all() if e.reason == "TaintManagerEviction"}

    cluster.advance(grace + toleration - 1)
    assert not evicted(), "evicted before the toleration ran out"
    cluster.advance(2)
    assert evicted() == on_node
    cluster.advance(RECOVERY_LIMIT_S)
    assert all(p.ready for p in cluster.pods.values() if p.node is not None and p.node.name != node)
    assert all(
        dep.status.get("availableReplicas") == dep.replicas for dep in cluster.deployments.values()
    ), "replacements run elsewhere"


# ---------------------------------------------------------------------- bad input


@dataclass(frozen=True)
class BadInput:
    """An injection the fault engine must refuse, and what its error must name."""

    fault: str
    target: dict[str, str]
    says: tuple[str, ...]
    strength: float | None = None
    namespace: str | None = None


def bad_input(case: str, app: AppSpec, cluster: Cluster) -> BadInput:
    service = single_replica_with_callers(app)
    leaf = next(s.name for s in app.services if not s.calls)
    plain = next(s.name for s in app.services if not s.credentials)
    source, destination = busiest_edge_into_leaf(app)
    services, nodes = [s.name for s in app.services], list(cluster.nodes)
    stress, delay = FAULTS["cpu-stress"].strength, FAULTS["network-delay"].strength
    cases = {
        "unknown fault": BadInput(
            "no-such-fault", {"service": service}, ("unknown fault 'no-such-fault'", *FAULTS)
        ),
        "unknown service": BadInput(
            "pod-kill", {"service": "no-such-service"}, ("no service 'no-such-service'", *services)
        ),
        "no service": BadInput("scale-to-zero", {}, ("needs a service target", *services)),
        "unknown node": BadInput(
            "node-failure", {"node": "no-such-node"}, ("needs a node target", *nodes)
        ),
        "no such call": BadInput(
            "network-loss",
            {"source": leaf, "destination": app.entry},
            (f"{leaf} does not call {app.entry}",),
        ),
        "strength too high": BadInput(
            "cpu-stress",
            {"service": service},
            ("strength of cpu-stress must be between", f"and {stress.maximum:g} cores"),
            strength=stress.maximum * 2,
        ),
        "strength too low": BadInput(
            "network-delay",
            {"source": source, "destination": destination},
            ("strength of network-delay must be between", f"between {delay.minimum:g} and"),
            strength=delay.minimum / 2,
        ),
        "no credentials": BadInput(
            "db-auth",
            {"service": plain},
            (f"service {app.namespace}/{plain} takes no credentials",),
        ),
        "unknown namespace": BadInput(
            "pod-kill",
            {"service": service},
            ("no application in namespace 'no-such-namespace'", app.namespace),
            namespace="no-such-namespace",
        ),
        "nothing to cordon": BadInput(
            "cordon-capacity", {}, ("nothing to cordon",), strength=float(len(nodes))
        ),
    }
    return cases[case]


BAD_CASES = (
    "unknown fault",
    "unknown service",
    "no service",
    "unknown node",
    "no such call",
    "strength too high",
    "strength too low",
    "no credentials",
    "unknown namespace",
    "nothing to cordon",
)


def state(cluster: Cluster) -> dict[str, Any]:
    """What a refused injection must leave as it was."""
    return {
        "rv": cluster.rv,
        "faults": len(cluster.faults),
        "ids": cluster.fault_engine.seq,
        "deployments": {k: copy.deepcopy(d.spec) for k, d in cluster.deployments.items()},
        "services": {k: copy.deepcopy(s.spec) for k, s in cluster.services.items()},
        "secrets": {k: dict(s.data) for k, s in cluster.secrets.items()},
        "nodes": {n.name: copy.deepcopy(n.spec) for n in cluster.node_list},
        "pods": sorted(cluster.pods),
        "rules": len(cluster.behaviours.rules),
        "load": cluster.traffic.load_factor.tolist(),
    }


@pytest.mark.parametrize("app_name", APPS)
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused_and_changes_nothing(case: str, app_name: str) -> None:
    app = load_app(app_name)
    cluster = Cluster(app, seed=SEED, load=Constant(LOAD_SHARE * peak(app)), noise=0)
    settle(cluster)
    bad = bad_input(case, app, cluster)
    before = state(cluster)
    with pytest.raises(FaultError) as raised:
        cluster.fault_engine.inject(
            bad.fault, bad.target, namespace=bad.namespace or app.namespace, strength=bad.strength
        )
    missing = [text for text in bad.says if text not in str(raised.value)]
    assert not missing, f"{str(raised.value)!r} does not name {missing}"
    assert state(cluster) == before, "a refused injection changed the cluster"
