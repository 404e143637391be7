"""Seeing a fault's documented symptoms in a simulated cluster, for ``test_faults``.

A :class:`Run` is one injected fault with its cluster, application, target, the healthy baseline
and the Kubernetes API. For every fault of the library, ``SYMPTOMS[name](run)`` returns one
:class:`Check` per documented symptom (its text is the symptom's text in
:data:`testbed.faults.FAULTS`), true once the symptom is visible in what the cluster exposes: the
Istio edge counters and per-tick shares behind ``/metrics``, cAdvisor's counters, pod and node
states, events and container logs. Checks are called after every tick until they are seen; the
meters they use read counters' increases between calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from testbed.app import AppSpec
from testbed.clock import iso
from testbed.cluster import Cluster
from testbed.events import Event
from testbed.faults import ActiveFault, FaultDef
from testbed.metrics import render
from testbed.objects import Pod, ReplicaSet
from testbed.slo import Snapshot, histogram_quantile
from testbed.traffic import BUCKETS_MS, CODES

from .mitigate import Kube

OK, E500, E503, E504 = (CODES.index(c) for c in ("200", "500", "503", "504"))
#: parts of documented symptoms that come after the symptom window, checked by a test of their own
DEFERRED = {"node-failure": "TaintManagerEviction after 300 s"}


# ---------------------------------------------------------------------- reading the cluster


def live_pods(cluster: Cluster, namespace: str, service: str) -> list[Pod]:
    return [
        p
        for p in cluster.pods_in(namespace)
        if p.rs is not None
        and p.rs.deployment is not None
        and p.rs.deployment.name == service
        and not p.deleting
    ]


def lines(pods: list[Pod], previous: bool = False) -> Iterator[str]:
    for pod in pods:
        for _, line in pod.prev_logs if previous else pod.logs:
            yield line


@dataclass(frozen=True)
class Mark:
    """The call edges' cumulative counters at one time: requests and latency histograms by
    response code (a :class:`testbed.slo.Snapshot`) and the latency sums."""

    snapshot: Snapshot
    sums: np.ndarray

    @classmethod
    def take(cls, cluster: Cluster) -> Mark:
        return cls(Snapshot.take(cluster), cluster.traffic.hist_sum.copy())


@dataclass(frozen=True)
class Window:
    """What the call edges counted between two marks."""

    start: Mark
    end: Mark

    @classmethod
    def since(cls, start: Mark, cluster: Cluster) -> Window:
        return cls(start, Mark.take(cluster))

    @property
    def before(self) -> Snapshot:
        return self.start.snapshot

    @property
    def after(self) -> Snapshot:
        return self.end.snapshot

    def requests(self, edges: list[int]) -> np.ndarray:
        """Requests on ``edges`` by response code."""
        return (self.after.requests[edges] - self.before.requests[edges]).sum(axis=0)

    def error_ratio(self, edges: list[int]) -> float:
        counts = self.requests(edges)
        total = float(counts.sum())
        return float(total - counts[OK]) / total if total > 0 else 0.0

    def p99_ms(self, edges: list[int]) -> float:
        """The p99 latency of the calls on ``edges``, as ``histogram_quantile`` computes it."""
        counts = self.requests(edges)
        buckets = (self.after.hist[edges] - self.before.hist[edges]).sum(axis=(0, 1))
        return histogram_quantile(0.99, BUCKETS_MS.tolist(), buckets.tolist(), float(counts.sum()))

    def ok_mean_ms(self, edge: int) -> float:
        """Mean latency of the successful calls on ``edge``."""
        count = self.after.requests[edge, OK] - self.before.requests[edge, OK]
        total = self.end.sums[edge, OK] - self.start.sums[edge, OK]
        return float(total / count) if count > 0 else math.nan

    def rate(self, edge: int) -> float:
        """Calls per second on ``edge``."""
        return float(self.requests([edge]).sum()) / (self.after.time - self.before.time)


@dataclass
class Baseline:
    """The healthy cluster over one entry-SLO window before the fault."""

    window: Window
    latency: np.ndarray  # per component: end-to-end seconds at the window's end
    lam: np.ndarray  # per component: requests/s arriving
    cpu: dict[str, float]  # per pod: cores used over the window


@dataclass
class Check:
    """One documented symptom and how to see it; ``at``: seconds after injection it was seen."""

    symptom: str
    seen: Callable[[], bool]
    at: float | None = None


@dataclass
class Run:
    """One case: the cluster, the application, the injected fault, the baseline and the API."""

    fault: FaultDef
    app: AppSpec
    cluster: Cluster
    kube: Kube
    target: dict[str, str]
    baseline: Baseline
    injected: ActiveFault
    start: float
    pods_before: dict[str, set[str]]

    @property
    def ns(self) -> str:
        return self.app.namespace

    @property
    def service(self) -> str:
        return self.target.get("service") or self.target["source"]

    @property
    def since(self) -> float:
        return self.cluster.now - self.start

    def comp(self, service: str) -> int:
        return self.cluster.traffic.index[(self.ns, service)]

    def edges_into(self, service: str, namespace: str | None = None) -> list[int]:
        c = self.cluster.traffic.index[(namespace or self.ns, service)]
        return [e.index for e in self.cluster.traffic.edges if e.dst == c]

    def edge(self, source: str, destination: str) -> int:
        return self.cluster.traffic.edge_between(self.ns, source, destination)

    def share(self, edges: list[int], code: int) -> float:
        """This tick's share of the calls on ``edges`` that ended with ``code``."""
        tr = self.cluster.traffic
        rate = float(sum(tr.edge_rate[e] for e in edges))
        if rate <= 0:
            return 0.0
        return float(sum(tr.edge_rate[e] * tr.edge_fail[e, code] for e in edges)) / rate

    def all_503(self, service: str) -> bool:
        edges = self.edges_into(service)
        rate = sum(float(self.cluster.traffic.edge_rate[e]) for e in edges)
        return rate > 0 and self.share(edges, E503) > 0.999

    def pods(self, service: str | None = None) -> list[Pod]:
        return live_pods(self.cluster, self.ns, service or self.service)

    def events(self, reason: str, kind: str | None = None) -> list[Event]:
        return [
            e
            for e in self.cluster.events.all()
            if e.reason == reason
            and e.last >= self.start
            and (kind is None or e.involved.kind == kind)
        ]

    def pod_events(self, reason: str, service: str | None = None) -> list[Event]:
        prefix = f"{service or self.service}-"
        return [e for e in self.events(reason, "Pod") if e.involved.name.startswith(prefix)]

    def latency_up(self, service: str, factor: float = 1.05) -> bool:
        c = self.comp(service)
        return bool(self.cluster.traffic.latency[c] > factor * self.baseline.latency[c])

    def new_revision(self, service: str | None = None) -> ReplicaSet | None:
        """The deployment's newest ReplicaSet created since the injection."""
        dep = self.cluster.deployments[(self.ns, service or self.service)]
        fresh = [rs for rs in dep.replicasets.values() if rs.meta.created >= self.start]
        return max(fresh, key=lambda rs: rs.revision) if fresh else None

    def wait(self, seconds: float) -> None:
        self.cluster.advance(seconds)

    def stamp(self) -> str:
        return iso(self.cluster.now)

    def services_on(self, nodes: set[str]) -> set[str]:
        """Services of the application with a pod (terminating ones too) on one of ``nodes``."""
        return {
            p.rs.deployment.name
            for p in self.cluster.pods_in(self.ns)
            if p.node is not None
            and p.node.name in nodes
            and p.rs is not None
            and p.rs.deployment is not None
        }

    def dependents(self, roots: set[str]) -> set[str]:
        """``roots`` and every service calling one of them, directly or transitively."""
        out = set(roots)
        while True:
            callers = {c for name in out for c in self.app.callers(name)}
            if callers <= out:
                return out
            out |= callers


def cpu_meter(cluster: Cluster) -> Callable[[Pod], float]:
    """Cores a pod used since the previous reading of that pod (cAdvisor's counter)."""
    last: dict[str, tuple[float, float]] = {}

    def read(pod: Pod) -> float:
        now, total = cluster.now, float(cluster.arrays.cpu_total[pod.slot])
        then, before = last.get(pod.name, (now, total))
        last[pod.name] = (now, total)
        return (total - before) / (now - then) if now > then else 0.0

    return read


def throttle_meter(cluster: Cluster) -> Callable[[Pod], float]:
    """Share of a pod's CFS periods throttled since the previous reading of that pod."""
    arrays = cluster.arrays
    last: dict[str, tuple[float, float]] = {}

    def read(pod: Pod) -> float:
        now = (float(arrays.throttled[pod.slot]), float(arrays.periods[pod.slot]))
        before = last.get(pod.name, now)
        last[pod.name] = now
        periods = now[1] - before[1]
        return (now[0] - before[0]) / periods if periods > 0 else 0.0

    return read


def counter_meter(value: Callable[[], float]) -> Callable[[], float]:
    """The increase of a cumulative counter since the previous reading."""
    last = [value()]

    def read() -> float:
        now = value()
        delta, last[0] = now - last[0], now
        return delta

    return read


# ---------------------------------------------------------------------- documented symptoms
# One function per fault: each documented symptom (the text of ``FaultDef.symptoms``) as a
# check that is true once the symptom is visible. Checks run after every tick until seen.


def symptoms_pod_kill(run: Run) -> list[Check]:
    s = run.service
    dep = run.cluster.deployments[(run.ns, s)]
    assert dep.replicas == 1, "the 503 symptom is about a single-replica service"
    old = run.pods_before[s]
    dip: list[float] = []
    outage: list[float] = []

    def killed_and_replaced() -> bool:
        killed = {e.involved.name for e in run.pod_events("Killing")} & old
        seen = {
            (e.involved.name, e.reason)
            for e in run.events("Scheduled") + run.events("Pulled") + run.events("Started")
        }
        new = {p.name for p in run.pods()} - old
        return bool(killed) and any(
            {(n, r) for r in ("Scheduled", "Pulled", "Started")} <= seen for n in new
        )

    def availability_dips() -> bool:
        available = dep.status.get("availableReplicas") or 0
        if available < dep.replicas and not dip:
            dip.append(run.since)
        return bool(dip) and available == dep.replicas and 5 <= run.since - dip[0] <= 15

    def unavailable_until_ready() -> bool:
        ready = any(p.ready for p in run.pods())
        if not ready and run.all_503(s):
            outage.append(run.since)
        return bool(outage) and ready and run.share(run.edges_into(s), E503) == 0

    return [
        Check("Killing event and a new pod (Scheduled, Pulled, Started)", killed_and_replaced),
        Check("kube_deployment_status_replicas_available drops for ~8 s", availability_dips),
        Check(
            "a single-replica service answers 503 until its replacement is Ready",
            unavailable_until_ready,
        ),
    ]


def symptoms_pod_failure(run: Run) -> list[Check]:
    s = run.service
    replicas = run.cluster.deployments[(run.ns, s)].replicas

    def unhealthy_event() -> bool:
        events = run.pod_events("Unhealthy")
        return any(e.message.startswith("Readiness probe failed") for e in events)

    def running_unready() -> bool:
        return any(
            p.phase == "Running" and p.container == "running" and not p.ready for p in run.pods()
        )

    def fewer_serving() -> bool:
        serving = int(run.cluster.traffic.serving[run.comp(s)])
        if replicas == 1:
            return serving == 0 and run.all_503(s)
        return serving < replicas and run.latency_up(s)

    return [
        Check("Unhealthy (readiness probe failed) events on the pod", unhealthy_event),
        Check("kube_pod_status_ready false while the pod is Running", running_unready),
        Check("fewer serving pods: latency up, 503s if it was the only one", fewer_serving),
    ]


def symptoms_crash_loop(run: Run) -> list[Check]:
    s = run.service

    def revision_before_failures() -> bool:
        rs, backoffs = run.new_revision(), run.pod_events("BackOff")
        if rs is None or not backoffs:
            return False
        return rs.meta.created <= min(e.first for e in backoffs)

    def backoff() -> bool:
        waiting = any(p.waiting_reason == "CrashLoopBackOff" for p in run.pods())
        return waiting and bool(run.pod_events("BackOff"))

    def restarts_and_panic() -> bool:
        panics = any("panic: load configuration" in x for x in lines(run.pods(), previous=True))
        return panics and any(p.restarts >= 1 for p in run.pods())

    def callers_503() -> bool:
        return int(run.cluster.traffic.serving[run.comp(s)]) == 0 and run.all_503(s)

    return [
        Check("new ReplicaSet revision just before the failures", revision_before_failures),
        Check("BackOff events; kube_pod_container_status_waiting_reason CrashLoopBackOff", backoff),
        Check(
            "kube_pod_container_status_restarts_total rising; 'panic: load configuration' in the "
            "previous container's log",
            restarts_and_panic,
        ),
        Check("callers see 503 (no endpoints)", callers_503),
    ]


def symptoms_memory_leak(run: Run) -> list[Check]:
    s, arrays = run.service, run.cluster.arrays
    container = run.cluster.deployments[(run.ns, s)].template.containers[0].name

    def climbing() -> bool:
        return any(arrays.mem_ws[p.slot] > 0.9 * arrays.mem_lim[p.slot] for p in run.pods())

    def oom_killed() -> bool:
        killed = [e for e in run.events("OOMKilling", "Node") if f"({container})" in e.message]
        last = [(p.last_state or {}).get("terminated", {}) for p in run.pods() if p.restarts]
        return bool(killed) and any(t.get("reason") == "OOMKilled" for t in last)

    def outage_while_restarting() -> bool:
        pods = run.pods()
        restarting = [p for p in pods if p.container != "running"]
        if not restarting:
            return False
        if len(restarting) == len(pods):  # every pod killed at once: nothing answers
            return run.all_503(s)
        return run.latency_up(s)  # the pods left serving take the load

    return [
        Check("container_memory_working_set_bytes climbing towards the limit", climbing),
        Check("OOMKilling node events; last terminated reason OOMKilled; restarts", oom_killed),
        Check(
            "503s while pods restart (from every pod at once when they started together); "
            "latency up on the pods left serving",
            outage_while_restarting,
        ),
    ]


def symptoms_cpu_stress(run: Run) -> list[Check]:
    s, arrays = run.service, run.cluster.arrays
    meter, throttle = cpu_meter(run.cluster), throttle_meter(run.cluster)
    for pod in run.pods():
        throttle(pod)
    hot: list[Pod] = []

    def one_pod_at_its_limit() -> bool:
        hot[:] = [p for p in run.pods() if meter(p) >= 0.9 * arrays.cpu_lim[p.slot]]
        return len(hot) == 1

    def throttling() -> bool:
        shares = {p.name: throttle(p) for p in run.pods()}
        return len(hot) == 1 and shares.get(hot[0].name, 0.0) >= 0.5

    return [
        Check("container_cpu_usage_seconds_total of one pod near its limit", one_pod_at_its_limit),
        Check("container_cpu_cfs_throttled_periods_total rising", throttling),
        Check("higher latency on the service (one pod)", lambda: run.latency_up(s)),
    ]


def symptoms_network_delay(run: Run) -> list[Check]:
    src, dst = run.target["source"], run.target["destination"]
    e = run.edge(src, dst)
    delay_ms = run.injected.strength
    tr = run.cluster.traffic
    total = counter_meter(lambda: float(tr.hist_sum[e, OK]))
    count = counter_meter(lambda: float(tr.requests[e, OK]))
    base_ms = run.baseline.window.ok_mean_ms(e)
    timeout_ms = run.app.service(src).timeout_ms
    calls = next(c.ratio for c in run.app.service(src).calls if c.service == dst)

    def duration_up() -> bool:
        mean = total() / max(count(), 1e-12)
        return abs(mean - base_ms - delay_ms) <= 0.05 * delay_ms

    def source_and_callers_slower() -> bool:
        c = run.comp(src)
        added = float(tr.latency[c] - run.baseline.latency[c]) * 1000
        callers = all(run.latency_up(name) for name in run.app.callers(src))
        timeouts = run.share([e], E504)
        past = timeouts > 0.5 if delay_ms >= timeout_ms else 0 < timeouts < 0.05
        return added >= 0.9 * calls * delay_ms and callers and past

    def destination_unchanged() -> bool:
        c = run.comp(dst)
        return abs(float(tr.latency[c] / run.baseline.latency[c]) - 1) < 0.02

    return [
        Check(
            "istio_request_duration_milliseconds from source to destination up by the delay",
            duration_up,
        ),
        Check(
            "the source's and its callers' latency up; 504s if past the timeout",
            source_and_callers_slower,
        ),
        Check("destination's own latency unchanged", destination_unchanged),
    ]


def symptoms_network_loss(run: Run) -> list[Check]:
    src, dst = run.target["source"], run.target["destination"]
    e = run.edge(src, dst)
    loss = run.injected.strength / 100
    tr = run.cluster.traffic
    c = run.comp(dst)
    arriving = float(run.baseline.lam[c]) - loss * run.baseline.window.rate(e)

    def resets() -> bool:
        return abs(run.share([e], E503) - loss) <= 0.02

    def logged() -> bool:
        return any(
            "upstream connect error or disconnect/reset" in x and f"upstream={dst}" in x
            for x in lines(run.pods(src))
        )

    def fewer_requests() -> bool:
        healthy = all(p.ready for p in run.pods(dst)) and float(tr.error[c]) < 0.01
        return healthy and abs(float(tr.lam[c]) - arriving) <= 0.05 * float(run.baseline.lam[c])

    return [
        Check("istio_requests_total source→destination with response_code 503", resets),
        Check("'upstream connect error or disconnect/reset' in the source's logs", logged),
        Check("destination healthy and receiving fewer requests", fewer_requests),
    ]


def symptoms_service_port(run: Run) -> list[Check]:
    s = run.service
    meter = cpu_meter(run.cluster)
    base = run.baseline.cpu

    def ready_and_idle() -> bool:
        pods = run.pods()
        up = all(p.ready and p.container == "running" for p in pods)
        return up and all(meter(p) < 0.5 * base[p.name] for p in pods)

    def logged() -> bool:
        callers = [p for name in run.app.callers(s) for p in run.pods(name)]
        return any("connection failure" in x and f"upstream={s}" in x for x in lines(callers))

    return [
        Check("callers' istio_requests_total to the service all 503", lambda: run.all_503(s)),
        Check("the service's pods healthy, Ready and idle (CPU drops)", ready_and_idle),
        Check("'connection failure' in callers' logs", logged),
    ]


def symptoms_bad_release(run: Run) -> list[Check]:
    s = run.service
    old_image = run.app.service(s).image
    first_500: list[float] = []

    def revision_then_errors() -> bool:
        if not first_500 and run.share(run.edges_into(s), E500) > 0:
            first_500.append(run.cluster.now)
        rs = run.new_revision()
        if rs is None or not first_500:
            return False
        repo, _, tag = rs.template.image.rpartition(":")
        return (
            repo == old_image.rpartition(":")[0]
            and tag != old_image.rpartition(":")[2]
            and (rs.meta.created <= first_500[0])
        )

    def errors_500() -> bool:
        return abs(run.share(run.edges_into(s), E500) - run.injected.strength) <= 0.02

    def logged() -> bool:
        return any("request failed" in x and "cannot unmarshal" in x for x in lines(run.pods()))

    return [
        Check(
            "new ReplicaSet revision with a new image tag just before the errors",
            revision_then_errors,
        ),
        Check("istio_requests_total response_code 500 into the service", errors_500),
        Check("'request failed ... cannot unmarshal' in the service's logs", logged),
    ]


def symptoms_scale_to_zero(run: Run) -> list[Check]:
    s = run.service
    dep = run.cluster.deployments[(run.ns, s)]

    def scaled() -> bool:
        events = run.events("ScalingReplicaSet", "Deployment")
        to_zero = [x for x in events if x.involved.name == s and " to 0 from " in x.message]
        return bool(to_zero) and dep.replicas == 0

    return [
        Check("ScalingReplicaSet event to 0; kube_deployment_spec_replicas 0", scaled),
        Check("callers' calls to it all 503", lambda: run.all_503(s)),
    ]


def symptoms_node_selector(run: Run) -> list[Check]:
    s = run.service

    def failed_scheduling() -> bool:
        events = run.pod_events("FailedScheduling")
        return any("didn't match Pod's node affinity/selector" in e.message for e in events)

    def pending() -> bool:
        pods = run.pods()
        return any(p.phase == "Pending" and p.node is None and p.failed_scheduling for p in pods)

    return [
        Check("FailedScheduling: didn't match Pod's node affinity/selector", failed_scheduling),
        Check("kube_pod_status_phase Pending; kube_pod_status_unschedulable", pending),
        Check("callers' calls to it all 503", lambda: run.all_503(s)),
    ]


def no_cadvisor_series(cluster: Cluster, node: str) -> bool:
    return not any(
        line.startswith("container_") and f'node="{node}"' in line
        for line in render(cluster).splitlines()
    )


def symptoms_node_failure(run: Run) -> list[Check]:
    name = run.target["node"]
    node = run.cluster.nodes[name]
    hosted = run.services_on({name})
    elsewhere = {s for s in hosted if any(p.node is not node for p in run.pods(s))}
    down = hosted - elsewhere
    # calls to them come from the gateway or a caller with a pod elsewhere
    called = {s for s in hosted if s == run.app.entry or set(run.app.callers(s)) - down}
    at_once: list[float] = []

    def fail_at_once_until_out_of_endpoints() -> bool:
        if not at_once and all(run.share(run.edges_into(s), E503) > 0 for s in called):
            at_once.append(run.since)
        if not at_once or at_once[0] > 2 or node.ready != "Unknown":
            return False
        return all(run.share(run.edges_into(s), E503) == 0 for s in elsewhere)

    def not_ready() -> bool:
        events = [e for e in run.events("NodeNotReady", "Node") if e.involved.name == name]
        return bool(events) and node.ready == "Unknown"

    return [
        Check(
            "calls to pods on the node fail at once (503) until they leave endpoints",
            fail_at_once_until_out_of_endpoints,
        ),
        Check("NodeNotReady events; kube_node_status_condition Ready unknown", not_ready),
        Check(  # its deferred part (DEFERRED) comes after the window: a test of its own
            f"no cAdvisor series from the node; {DEFERRED['node-failure']}",
            lambda: no_cadvisor_series(run.cluster, name),
        ),
    ]


def fits(cluster: Cluster, nodes: list[str]) -> bool:
    """Whether ``nodes`` can hold every pod the deployments want by CPU and memory requests."""
    deps = list(cluster.deployments.values())
    cpu = sum(d.replicas * d.template.cpu_request for d in deps)
    memory = sum(d.replicas * d.template.memory_request for d in deps)
    return cpu <= sum(cluster.nodes[n].cpu for n in nodes) and memory <= sum(
        cluster.nodes[n].memory for n in nodes
    )


def symptoms_cordon_capacity(run: Run) -> list[Check]:
    cordoned = set(run.injected.root_name.split(","))
    left = sorted(set(run.cluster.nodes) - cordoned)
    moved = sorted(run.services_on(cordoned))
    drained = {p.name for p in run.cluster.pods.values() if p.node and p.node.name in cordoned}
    gone = {s for s in moved if run.pods_before[s] <= drained}  # no pod left serving
    # ... of which those still called (a caller that is gone too makes no calls)
    called = {s for s in gone if s == run.app.entry or set(run.app.callers(s)) - gone}
    enough = fits(run.cluster, left)
    outage: set[str] = set()

    def not_schedulable() -> bool:
        events = {e.involved.name for e in run.events("NodeNotSchedulable", "Node")}
        flagged = {n.name for n in run.cluster.node_list if n.unschedulable}
        return events == flagged == cordoned

    def replaced_on_the_rest() -> bool:
        killed = {e.involved.name for e in run.events("Killing", "Pod")}
        placed = [p.node.name for p in run.cluster.pods.values() if p.node and not p.deleting]
        return drained <= killed and set(placed) <= set(left)

    def outage_then_capacity() -> bool:
        outage.update(s for s in called if run.all_503(s))
        pods = [p for p in run.cluster.pods.values() if not p.deleting]
        pending = [p for p in pods if p.phase == "Pending"]
        if enough:  # the nodes left hold every pod: the drained ones restart there, no more
            return outage == called and all(p.ready for p in pods)
        insufficient = any("Insufficient cpu" in e.message for e in run.events("FailedScheduling"))
        return bool(outage) and bool(pending) and insufficient

    return [
        Check("NodeNotSchedulable events; kube_node_spec_unschedulable 1", not_schedulable),
        Check(
            "Killing events for every pod on the cordoned nodes; their replacements on the nodes "
            "left",
            replaced_on_the_rest,
        ),
        Check(
            "503s while the replacements start; where the nodes left cannot hold every pod, "
            "FailedScheduling: Insufficient cpu, pods Pending and their services answering 503",
            outage_then_capacity,
        ),
    ]


def symptoms_db_auth(run: Run) -> list[Check]:
    db = run.service
    clients = run.app.callers(db)
    edges = [run.edge(c, db) for c in clients]

    def refused() -> bool:
        return all(run.share([e], E500) > 0.99 for e in edges)

    def clients_log() -> bool:
        return all(
            any("SCRAM authentication failed" in x for x in lines(run.pods(c))) for c in clients
        )

    def database_logs() -> bool:
        pods = run.pods()
        logged = any("Authentication failed" in x for x in lines(pods))
        return logged and all(p.ready and p.container == "running" for p in pods)

    return [
        Check("the database's clients fail their calls to it with 500", refused),
        Check("'auth error: SCRAM authentication failed' in the clients' logs", clients_log),
        Check(
            "'Authentication failed' in the database's log; database pods healthy", database_logs
        ),
    ]


def symptoms_cpu_limit(run: Run) -> list[Check]:
    s = run.service
    throttle = throttle_meter(run.cluster)

    def throttled_fast() -> bool:
        shares = [throttle(p) for p in run.pods() if p.container == "running"]
        return bool(shares) and min(shares) >= 0.9

    def lowered() -> bool:
        rs, pods = run.new_revision(), run.pods()
        limit = run.injected.strength
        return rs is not None and all(
            p.rs is rs and abs(p.template.cpu_limit - limit) < 1e-9 for p in pods
        )

    def callers_suffer() -> bool:
        edges = run.edges_into(s)
        failing = run.share(edges, E503) + run.share(edges, E504)
        return run.latency_up(s, 1.5) and failing > 0

    return [
        Check("container_cpu_cfs_throttled_periods_total rising fast", throttled_fast),
        Check("kube_pod_container_resource_limits cpu lowered with a new revision", lowered),
        Check("latency up, 503/504 at callers", callers_suffer),
    ]


def symptoms_noisy_neighbour(run: Run) -> list[Check]:
    name = run.target["node"]
    node = run.cluster.nodes[name]
    arrays = run.cluster.arrays
    hosted = sorted(run.services_on({name}))
    root = counter_meter(lambda: float(arrays.node_cpu_total[node.index]))
    pods = counter_meter(lambda: sum(float(arrays.cpu_total[p.slot]) for p in node.pods))

    def root_cgroup_busy() -> bool:
        return root() >= 2 * pods()

    return [
        Check(
            'node root-cgroup CPU (container_cpu_usage_seconds_total{id="/"}) far above the sum '
            "of its pods",
            root_cgroup_busy,
        ),
        Check(
            "latency up on every service with pods there",
            lambda: all(run.latency_up(s) for s in hosted),
        ),
    ]


def saturated(run: Run, meter: Callable[[Pod], float]) -> set[str]:
    """Services of the application with a pod using at least 90 % of its CPU limit."""
    arrays = run.cluster.arrays
    return {
        s.name
        for s in run.app.services
        for p in run.pods(s.name)
        if p.container == "running" and meter(p) >= 0.9 * arrays.cpu_lim[p.slot]
    }


def entry_edge(run: Run) -> int:
    return run.edges_into(run.app.entry)[0]


def symptoms_load_flood(run: Run) -> list[Check]:
    tr = run.cluster.traffic
    e = entry_edge(run)
    meter, throttle = cpu_meter(run.cluster), throttle_meter(run.cluster)
    base = run.baseline.window.rate(e)

    def flooded() -> bool:
        return abs(float(tr.edge_rate[e]) / base - run.injected.strength) <= 0.03

    def saturation() -> bool:
        hot = saturated(run, meter)
        rates = {p.name: throttle(p) for s in hot for p in run.pods(s)}
        return any(r >= 0.5 for r in rates.values()) and any(
            run.share(run.edges_into(s), E503) > 0 for s in hot
        )

    return [
        Check("istio_requests_total into the entry up by the factor", flooded),
        Check("CPU near limits, throttling; 503s from saturated services", saturation),
    ]


def symptoms_demand_growth(run: Run) -> list[Check]:
    tr = run.cluster.traffic
    e = entry_edge(run)
    meter, busy = cpu_meter(run.cluster), cpu_meter(run.cluster)
    every = 600.0
    base = run.baseline.window.rate(e)
    samples: list[tuple[float, float, float]] = []  # (requests/s, cores, entry p99 ms)
    marks = [Mark.take(run.cluster)]
    unexplained_503: list[float] = []
    app_edges = [x.index for x in tr.edges if x.namespace == run.ns]
    for p in run.cluster.pods_in(run.ns):
        meter(p)

    def sample() -> None:
        window = Window.since(marks[-1], run.cluster)
        marks.append(window.end)
        cores = sum(meter(p) for p in run.cluster.pods_in(run.ns) if p.container == "running")
        samples.append((window.rate(e), cores, window.p99_ms([e])))

    def rising() -> bool:
        if run.since % every == 0:
            sample()
        if run.since < run.fault.symptom_within_s:
            return False
        rates, cores = [x[0] for x in samples], [x[1] for x in samples]
        steady = all(b > a for a, b in pairwise(rates)) and all(b > a for a, b in pairwise(cores))
        grown = 1 + run.injected.strength * run.since / 3600
        return steady and abs(float(tr.edge_rate[e]) / base / grown - 1) < 0.03

    def creeping() -> bool:
        hot = saturated(run, busy)  # read every tick: the meter gives this tick's CPU
        if not hot and any(run.share([x], E503) > 0 for x in app_edges):
            unexplained_503.append(run.since)
        if run.since < run.fault.symptom_within_s or len(samples) < 2:
            return False
        p99 = [x[2] for x in samples]
        return not unexplained_503 and all(b >= a for a, b in pairwise(p99)) and (p99[-1] > p99[0])

    return [
        Check("a steady upward trend in requests and CPU", rising),
        Check("latency creeping up, then 503s once a service saturates", creeping),
    ]


SYMPTOMS: dict[str, Callable[[Run], list[Check]]] = {
    "pod-kill": symptoms_pod_kill,
    "pod-failure": symptoms_pod_failure,
    "crash-loop": symptoms_crash_loop,
    "memory-leak": symptoms_memory_leak,
    "cpu-stress": symptoms_cpu_stress,
    "network-delay": symptoms_network_delay,
    "network-loss": symptoms_network_loss,
    "service-port": symptoms_service_port,
    "bad-release": symptoms_bad_release,
    "scale-to-zero": symptoms_scale_to_zero,
    "node-selector": symptoms_node_selector,
    "node-failure": symptoms_node_failure,
    "cordon-capacity": symptoms_cordon_capacity,
    "db-auth": symptoms_db_auth,
    "cpu-limit": symptoms_cpu_limit,
    "noisy-neighbour": symptoms_noisy_neighbour,
    "load-flood": symptoms_load_flood,
    "demand-growth": symptoms_demand_growth,
}
