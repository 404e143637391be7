"""The traffic and performance model: requests through the call graph, queues, CPU and memory.

Per tick, vectorised over every pod:

1. The load profile gives requests/s at each application's entry service (with seeded noise);
   rates flow down the call graph (each call edge has a ratio of calls per request; calls an
   edge loses never reach the callee).
2. A service's rate is shared by the pods that serve it (Ready, selected by its Service). A pod
   whose port the Service does not reach, or on a dead node, refuses connections (503).
3. Each pod is a queue: its CPU share (limit, and node contention when the node is over-committed)
   processes requests in processor sharing; its worker pool (``workers`` concurrent requests held
   for the own processing time plus the time spent waiting on dependencies) is an M/M/c queue
   (Sakasegawa's approximation). Past saturation the excess is rejected (503) and the admitted
   requests queue up to the backlog.
4. Latency and errors propagate from callees to callers: a call fails when it is lost, rejected,
   times out (caller's timeout against the callee's latency distribution) or the callee fails.
5. CPU counters, CFS throttling and the memory working set (base + in-flight requests + leaks)
   are updated; the kubelet then enforces memory limits.

Edge counters and latency histograms follow Istio's metric names (see :mod:`testbed.metrics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import podlogs
from .k8s.quantity import parse_cpu, parse_memory

if TYPE_CHECKING:
    from .cluster import Cluster
    from .objects import Node, Pod, PodTemplate

#: Istio's default buckets for istio_request_duration_milliseconds.
BUCKETS_MS = np.array(
    [
        0.5,
        1,
        5,
        10,
        25,
        50,
        100,
        250,
        500,
        1000,
        2500,
        5000,
        10000,
        30000,
        60000,
        300000,
        600000,
        1800000,
        3600000,
    ],
    dtype=float,
)
CODES = ("200", "500", "503", "504")
INGRESS = "istio-ingressgateway"
GATEWAY_TIMEOUT_S = 15.0
HUNG_LATENCY_S = 3600.0
AUTH_FAILED = "auth error: SCRAM authentication failed, storedKey mismatch"
OVERLOAD_BACKLOG = 20.0  # admitted requests wait up to this many holding times when saturated


def _all_calls_ok(p: float, ratio: float) -> float:
    """Share of requests whose calls on an edge all succeed, each call with probability ``p``.

    ``ratio`` calls per request: ``floor(ratio)`` calls always and one more with the fractional
    rest's probability, so 0.6 means 60 % of requests make one call (the others cannot fail on
    it) and 2 means two calls that must both succeed.
    """
    whole = math.floor(ratio)
    return float(p**whole * (1.0 - (ratio - whole) * (1.0 - p)))


class PodArrays:
    """Per-pod simulation state in numpy arrays, indexed by a pod's slot."""

    FLOAT = (
        "err_extra",
        "lat_extra",
        "cpu_lim",
        "mem_lim",
        "cpu_total",
        "throttled",
        "periods",
        "mem_ws",
        "leak_rate",
        "leak_acc",
        "stress",
        "oom_events",
        "pod_lam",
        "pod_lat",
        "pod_err",
        "pod_rej",
    )
    BOOL = ("running", "serving", "refused", "used", "hung")
    INT = ("comp", "node")

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = 0
        self.n = 0
        self.free_slots: list[int] = []
        self.pods: list[Pod | None] = []
        for name in self.FLOAT:
            setattr(self, name, np.zeros(0))
        for name in self.BOOL:
            setattr(self, name, np.zeros(0, dtype=bool))
        for name in self.INT:
            setattr(self, name, np.zeros(0, dtype=np.int64))
        self.node_cap = np.zeros(0)
        self.node_up = np.ones(0, dtype=bool)
        self.node_extra = np.zeros(0)
        self.node_cpu_total = np.zeros(0)
        self._grow(capacity)

    # declared for type checkers; set in __init__
    err_extra: np.ndarray
    lat_extra: np.ndarray
    cpu_lim: np.ndarray
    mem_lim: np.ndarray
    cpu_total: np.ndarray
    throttled: np.ndarray
    periods: np.ndarray
    mem_ws: np.ndarray
    leak_rate: np.ndarray
    leak_acc: np.ndarray
    stress: np.ndarray
    oom_events: np.ndarray
    pod_lam: np.ndarray
    pod_lat: np.ndarray
    pod_err: np.ndarray
    pod_rej: np.ndarray
    running: np.ndarray
    serving: np.ndarray
    refused: np.ndarray
    used: np.ndarray
    hung: np.ndarray
    comp: np.ndarray
    node: np.ndarray

    def _grow(self, capacity: int) -> None:
        for name in (*self.FLOAT, *self.BOOL, *self.INT):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self.pods.extend([None] * (capacity - self.capacity))
        self.capacity = capacity

    def alloc(self) -> int:
        if self.free_slots:
            return self.free_slots.pop()
        if self.n >= self.capacity:
            self._grow(self.capacity * 2)
        self.n += 1
        return self.n - 1

    def assign(self, slot: int, comp: int, template: PodTemplate, pod: Pod | None = None) -> None:
        for name in self.FLOAT:
            getattr(self, name)[slot] = 0.0
        for name in self.BOOL:
            getattr(self, name)[slot] = False
        self.used[slot] = True
        self.comp[slot] = comp
        self.node[slot] = -1
        self.cpu_lim[slot] = template.cpu_limit
        self.mem_lim[slot] = template.memory_limit
        self.pods[slot] = pod

    def free(self, slot: int) -> None:
        self.used[slot] = False
        self.running[slot] = False
        self.serving[slot] = False
        self.refused[slot] = False
        self.comp[slot] = -1
        self.node[slot] = -1
        self.pods[slot] = None
        self.free_slots.append(slot)

    def bind(self, slot: int, node: int) -> None:
        self.node[slot] = node

    def start(self, slot: int, node: int) -> None:
        self.node[slot] = node
        self.running[slot] = True
        self.leak_acc[slot] = 0.0

    def stop(self, slot: int) -> None:
        self.running[slot] = False
        self.hung[slot] = False
        self.serving[slot] = False
        self.mem_ws[slot] = 0.0
        self.leak_acc[slot] = 0.0

    def resize_nodes(self, nodes: list[Node]) -> None:
        count = len(nodes)
        old_up, old_extra, old_total = self.node_up, self.node_extra, self.node_cpu_total
        self.node_cap = np.array([n.cpu for n in nodes], dtype=float)
        self.node_up = np.ones(count, dtype=bool)
        self.node_extra = np.zeros(count)
        self.node_cpu_total = np.zeros(count)
        k = min(count, len(old_up))
        self.node_up[:k] = old_up[:k]
        self.node_extra[:k] = old_extra[:k]
        self.node_cpu_total[:k] = old_total[:k]

    def set_node_up(self, index: int, up: bool) -> None:
        self.node_up[index] = up


@dataclass
class Component:
    """One service of one application instance."""

    index: int
    namespace: str
    name: str
    kind: str
    port: int
    app: int
    callees: list[tuple[int, int, float]] = field(default_factory=list)  # (edge, dst, ratio)


@dataclass
class Edge:
    index: int
    src: int  # -1: the ingress gateway
    dst: int
    ratio: float
    namespace: str


class TrafficModel:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.components: list[Component] = []
        self.index: dict[tuple[str, str], int] = {}
        self.edges: list[Edge] = []
        self.entries: list[tuple[int, int]] = []  # (edge, entry component) per app
        order: list[int] = []
        params: dict[str, list[float]] = {
            k: []
            for k in (
                "service_s",
                "cpu_s",
                "idle",
                "mem_base",
                "mem_inflight",
                "workers",
                "timeout_s",
                "base_err",
            )
        }
        for app_i, inst in enumerate(cluster.apps):
            ns = inst.namespace
            for svc in inst.spec.services:
                comp = Component(len(self.components), ns, svc.name, svc.kind, svc.port, app_i)
                self.index[(ns, svc.name)] = comp.index
                self.components.append(comp)
                params["service_s"].append(svc.service_ms / 1000)
                params["cpu_s"].append(svc.cpu_ms / 1000)
                params["idle"].append(parse_cpu(svc.idle_cpu))
                params["mem_base"].append(float(parse_memory(svc.memory_base)))
                params["mem_inflight"].append(float(parse_memory(svc.memory_per_inflight)))
                params["workers"].append(float(svc.workers))
                params["timeout_s"].append(svc.timeout_ms / 1000)
                params["base_err"].append(svc.error_ratio)
            entry = self.index[(ns, inst.spec.entry)]
            self.entries.append((self._edge(-1, entry, 1.0, ns), entry))
            for svc in inst.spec.services:
                src = self.index[(ns, svc.name)]
                for call in svc.calls:
                    dst = self.index[(ns, call.service)]
                    self.components[src].callees.append(
                        (self._edge(src, dst, call.ratio, ns), dst, call.ratio)
                    )
            order += [self.index[(ns, name)] for name in inst.spec.topological_order()]
        self.order = order
        caller_timeout = [
            GATEWAY_TIMEOUT_S if any(e == c for _, e in self.entries) else 0.0
            for c in range(len(self.components))
        ]
        for comp in self.components:
            for _, d, _ in comp.callees:
                caller_timeout[d] = max(caller_timeout[d], params["timeout_s"][comp.index])
        self.caller_timeout_s = np.array(
            [t if t > 0 else GATEWAY_TIMEOUT_S for t in caller_timeout], dtype=float
        )
        for key, values in params.items():
            setattr(self, key, np.array(values, dtype=float))
        C, E = len(self.components), len(self.edges)
        #: multiplies each application's load profile: the product of every contributor's
        #: factor (load faults, benign spikes and drift); see :meth:`set_load_factor`
        self.load_factor = np.ones(len(cluster.apps))
        self._load_contrib: dict[str, np.ndarray] = {}
        #: what callers log when a call on an edge fails for a reason the fault library sets
        self.edge_error_message: dict[int, str] = {}
        #: share of calls on an edge rejected for credentials the callee does not accept
        self.edge_auth_error = np.zeros(E)
        self.auth_edges: dict[str, list[tuple[int, int, int, str]]] = {}
        for inst in cluster.apps:
            for svc in inst.spec.services:
                if not svc.credentials:
                    continue
                d = self.index[(inst.namespace, svc.name)]
                for caller in inst.spec.callers(svc.name):
                    c = self.index[(inst.namespace, caller)]
                    e = self.edge_between(inst.namespace, caller, svc.name)
                    self.auth_edges.setdefault(inst.namespace, []).append(
                        (e, c, d, f"{svc.name}-credentials")
                    )
        # fault hooks (set by the fault library): per component, per edge
        self.extra_latency_s = np.zeros(C)
        self.extra_error = np.zeros(C)
        self.edge_delay_s = np.zeros(E)
        self.edge_loss = np.zeros(E)
        self.edge_error = np.zeros(E)
        # state of the last tick
        self.lam = np.zeros(C)
        self.admitted = np.zeros(C)
        self.own_latency = np.array(self.service_s)
        self.latency = np.array(self.service_s)
        self.down_latency = np.zeros(C)
        self.error = np.zeros(C)
        self.error503 = np.zeros(C)
        self.serving = np.zeros(C, dtype=np.int64)
        self.edge_rate = np.zeros(E)
        self.edge_fail = np.zeros((E, len(CODES)))
        # cumulative counters
        self.requests = np.zeros((E, len(CODES)))
        self.hist = np.zeros((E, len(CODES), len(BUCKETS_MS)))
        self.hist_sum = np.zeros((E, len(CODES)))

    service_s: np.ndarray
    cpu_s: np.ndarray
    idle: np.ndarray
    mem_base: np.ndarray
    mem_inflight: np.ndarray
    workers: np.ndarray
    timeout_s: np.ndarray
    base_err: np.ndarray

    def _edge(self, src: int, dst: int, ratio: float, ns: str) -> int:
        self.edges.append(Edge(len(self.edges), src, dst, ratio, ns))
        return len(self.edges) - 1

    def set_load_factor(self, contributor: str, app: int, factor: float) -> None:
        """Set one contributor's multiplier of application ``app``'s load (1.0: no effect)."""
        if factor < 0:
            raise ValueError(f"a load factor cannot be negative ({factor})")
        contrib = self._load_contrib.setdefault(contributor, np.ones(len(self.load_factor)))
        contrib[app] = factor
        product = np.ones(len(self.load_factor))
        for values in self._load_contrib.values():
            product = product * values
        self.load_factor = product

    def app_index(self, namespace: str) -> int:
        for i, inst in enumerate(self.cluster.apps):
            if inst.namespace == namespace:
                return i
        raise KeyError(namespace)

    def component_of(self, namespace: str, name: str) -> int:
        return self.index.get((namespace, name), -1)

    def edge_between(self, namespace: str, src: str, dst: str) -> int:
        s, d = self.index[(namespace, src)], self.index[(namespace, dst)]
        for e, callee, _ in self.components[s].callees:
            if callee == d:
                return e
        raise KeyError(f"{src} does not call {dst} in {namespace}")

    # ------------------------------------------------------------------ one tick

    def step(self, dt: float) -> None:
        cl = self.cluster
        A = cl.arrays
        n = A.n
        C = len(self.components)
        rng = cl.rng
        t = cl.now - cl.start
        lam = np.zeros(C)
        for i, ((_, entry), inst) in enumerate(zip(self.entries, cl.apps, strict=True)):
            rate = inst.profile.rate(t) * float(self.load_factor[i])
            if cl.noise > 0:
                rate *= math.exp(cl.noise * float(rng.standard_normal()) - cl.noise**2 / 2)
            lam[entry] += rate
        for c in self.order:
            rate = lam[c]
            if rate > 0:
                for e, d, ratio in self.components[c].callees:
                    lam[d] += rate * ratio * (1.0 - self.edge_loss[e])  # lost calls never arrive

        comp = A.comp[:n]
        has = comp >= 0
        cidx = np.where(has, comp, 0)
        node = A.node[:n]
        nidx = np.maximum(node, 0)
        node_up = A.node_up[nidx] & (node >= 0)
        running = A.running[:n]
        alive = running & node_up
        serving = A.serving[:n] & has
        accept = serving & alive & ~A.refused[:n]
        n_serv = np.bincount(comp[serving], minlength=C)
        n_acc = np.bincount(comp[accept], minlength=C)
        share = lam / np.maximum(n_serv, 1)
        pod_lam = np.where(accept, share[cidx], 0.0)
        refused_frac = np.where(n_serv > 0, 1.0 - n_acc / np.maximum(n_serv, 1), 1.0)

        cpu_s = self.cpu_s[cidx]
        service_s = self.service_s[cidx]
        idle = np.where(has, self.idle[cidx], 0.002) * alive
        stress = A.stress[:n] * alive
        lim = A.cpu_lim[:n]
        node_cap = A.node_cap
        lim_eff = np.where(lim > 0, lim, node_cap[nidx] if len(node_cap) else 1.0)
        req_cpu = pod_lam * cpu_s
        demand = req_cpu + idle + stress
        capped = np.minimum(demand, lim_eff)
        node_demand = (
            np.bincount(nidx[alive], weights=capped[alive], minlength=len(node_cap)) + A.node_extra
        )
        factor = np.minimum(1.0, node_cap / np.maximum(node_demand, 1e-9))
        f_pod = np.maximum(factor[nidx], 1e-3)

        # a stressor competes with requests for the container's CPU (fair shares), and an
        # over-committed node gives each pod only its share of the CPU it wants
        stress_share = stress * lim_eff / (stress + lim_eff + 1e-12)
        avail = np.maximum(lim_eff * f_pod - idle - stress_share, 1e-3)
        rho_cpu = req_cpu / avail
        hold = service_s + self.down_latency[cidx]
        workers = self.workers[cidx]
        rho_w = pod_lam * hold / workers
        rho = np.maximum(rho_cpu, rho_w)
        admit = np.where(rho > 1.0, 1.0 / np.maximum(rho, 1.0), 1.0)
        rc = np.minimum(rho_cpu, 0.95)
        rw = np.minimum(rho_w, 0.95)
        cpu_part = cpu_s / f_pod / (1.0 - rc)
        wait = hold * rw ** (np.sqrt(2.0 * (workers + 1.0)) - 1.0) / (workers * (1.0 - rw))
        overload = OVERLOAD_BACKLOG * hold * np.clip((rho - 0.95) / 1.05, 0.0, 1.0)
        own = (
            np.maximum(service_s - cpu_s, 0.0)
            + cpu_part
            + wait
            + overload
            + self.extra_latency_s[cidx]
            + A.lat_extra[:n]
        )
        own = np.where(A.hung[:n], HUNG_LATENCY_S, own)  # never answers: callers time out
        base_err = self.base_err[cidx]
        app_err = 1.0 - (1.0 - base_err) * (1.0 - self.extra_error[cidx]) * (1.0 - A.err_extra[:n])

        weight = np.bincount(cidx, weights=pod_lam, minlength=C)
        safe = np.maximum(weight, 1e-12)
        own_lat = np.where(
            weight > 0,
            np.bincount(cidx, weights=pod_lam * own, minlength=C) / safe,
            self.service_s + self.extra_latency_s,
        )
        rejected = np.where(
            weight > 0, np.bincount(cidx, weights=pod_lam * (1 - admit), minlength=C) / safe, 0.0
        )
        app_c = np.where(
            weight > 0,
            np.bincount(cidx, weights=pod_lam * app_err, minlength=C) / safe,
            1.0 - (1.0 - self.base_err) * (1.0 - self.extra_error),
        )
        fail503 = refused_frac + (1.0 - refused_frac) * rejected
        fail503 = np.where(n_acc > 0, fail503, 1.0)
        fail500 = (1.0 - fail503) * app_c

        latency = np.zeros(C)
        success = np.zeros(C)
        error503 = fail503
        down = np.zeros(C)
        edge_rate = np.zeros(len(self.edges))
        edge_fail = np.zeros((len(self.edges), len(CODES)))
        edge_mean = np.zeros((len(self.edges), len(CODES)))
        admitted = lam * (1.0 - fail503)
        for c in reversed(self.order):
            lat = own_lat[c]
            ok = max(0.0, 1.0 - fail503[c] - fail500[c])
            timeout = self.timeout_s[c]
            for e, d, ratio in self.components[c].callees:
                p = self._call(e, d, timeout, latency, success, error503, edge_fail, edge_mean)
                edge_rate[e] = admitted[c] * ratio
                lat += ratio * p
                ok *= _all_calls_ok(edge_fail[e, 0], ratio)
            latency[c] = lat
            success[c] = ok
            down[c] = lat - own_lat[c]
        for (e, entry), _ in zip(self.entries, cl.apps, strict=True):
            self._call(
                e, entry, GATEWAY_TIMEOUT_S, latency, success, error503, edge_fail, edge_mean
            )
            edge_rate[e] = lam[entry]

        # counters and histograms
        counts = edge_rate[:, None] * edge_fail * dt
        self.requests += counts
        means_ms = np.maximum(edge_mean * 1000.0, 1e-3)
        m0 = 0.4 * means_ms
        spread = 0.6 * means_ms
        cdf = 1.0 - np.exp(
            -np.maximum(BUCKETS_MS[None, None, :] - m0[:, :, None], 0.0) / spread[:, :, None]
        )
        cdf[:, 3, :] = BUCKETS_MS[None, :] >= means_ms[:, 3:4]  # timeouts end at the timeout
        self.hist += counts[:, :, None] * cdf
        self.hist_sum += counts * means_ms

        # CPU, throttling, memory
        used_demand = req_cpu * admit + idle + stress
        used = np.minimum(used_demand, lim_eff) * f_pod * alive
        if cl.noise > 0 and n:
            used *= np.clip(1.0 + 0.02 * rng.standard_normal(n), 0.5, 1.5)
        A.cpu_total[:n] += used * dt
        limited = alive & (lim > 0)
        periods = np.where(limited, 10.0 * dt, 0.0)
        throttle = np.clip((demand / np.where(lim > 0, lim, 1.0) - 0.5) / 0.5, 0.0, 1.0) ** 2
        A.periods[:n] += periods
        A.throttled[:n] += periods * throttle
        node_used = np.bincount(nidx[alive], weights=used[alive], minlength=len(node_cap))
        A.node_cpu_total += (node_used + A.node_extra * factor) * dt * A.node_up
        # callers abandon requests at their timeout, which bounds what a pod holds in flight
        held = np.minimum(own + self.down_latency[cidx], self.caller_timeout_s[cidx])
        inflight = pod_lam * admit * held
        mem = (
            np.where(has, self.mem_base[cidx], 32 * 2**20)
            + inflight * np.where(has, self.mem_inflight[cidx], 0.0)
            + A.leak_acc[:n]
        )
        if cl.noise > 0 and n:
            mem *= np.clip(1.0 + 0.005 * rng.standard_normal(n), 0.9, 1.1)
        A.mem_ws[:n] = np.where(running, mem, 0.0)
        A.leak_acc[:n] += A.leak_rate[:n] * dt * running
        A.pod_lam[:n] = pod_lam
        A.pod_lat[:n] = own
        A.pod_err[:n] = np.where(accept, 1.0 - admit * (1.0 - app_err), 0.0)
        A.pod_rej[:n] = np.where(accept, 1.0 - admit, 0.0)

        self.lam = lam
        self.admitted = admitted
        self.own_latency = own_lat
        self.latency = latency
        self.down_latency = down
        self.error = 1.0 - success
        self.error503 = error503
        self.serving = n_serv
        self.edge_rate = edge_rate
        self.edge_fail = edge_fail

    def _call(
        self,
        e: int,
        d: int,
        timeout: float,
        latency: np.ndarray,
        success: np.ndarray,
        error503: np.ndarray,
        edge_fail: np.ndarray,
        edge_mean: np.ndarray,
    ) -> float:
        """Outcome shares (200, 500, 503, 504) of calls on edge ``e``; returns mean latency."""
        dl = latency[d] + self.edge_delay_s[e]
        loss = self.edge_loss[e]
        p503 = loss + (1.0 - loss) * error503[d]
        reached = 1.0 - p503
        p_to = math.exp(-timeout / dl) if dl > 0 else 0.0
        completed = reached * (1.0 - p_to)
        cond_ok = success[d] / max(1.0 - error503[d], 1e-12)
        ok = (
            completed
            * min(1.0, cond_ok)
            * (1.0 - self.edge_error[e])
            * (1.0 - self.edge_auth_error[e])
        )
        p500 = max(0.0, completed - ok)
        p504 = reached * p_to
        edge_fail[e] = (ok, p500, p503, p504)
        fast = 0.001 + self.edge_delay_s[e]
        edge_mean[e] = (dl, dl, fast, timeout)
        return (ok + p500) * min(dl, timeout) + p503 * fast + p504 * timeout

    def update_auth(self, namespace: str, pods: list[Pod]) -> None:
        """Which calls to password-protected services carry a password the callee rejects.

        A container reads its Secrets when it starts; a database accepts the password it read,
        a client presents the one it read. After a rotation, pods started on either side of it
        disagree until the others restart.
        """
        edges = self.auth_edges.get(namespace)
        if not edges:
            return
        A = self.cluster.arrays
        for e, c, d, secret in edges:
            db = [
                p.secrets_seen.get(secret)
                for p in pods
                if A.comp[p.slot] == d and A.serving[p.slot]
            ]
            callers = [
                p.secrets_seen.get(secret)
                for p in pods
                if A.comp[p.slot] == c and A.serving[p.slot]
            ]
            if not db or not callers:
                share = 0.0
            else:
                share = sum(sum(1 for k in db if k != mine) / len(db) for mine in callers)
                share /= len(callers)
            self.edge_auth_error[e] = share
            if share > 0:
                self.edge_error_message[e] = AUTH_FAILED
            elif self.edge_error_message.get(e) == AUTH_FAILED:
                del self.edge_error_message[e]

    # ------------------------------------------------------------------ logs

    def startup_log(self, pod: Pod) -> list[str]:
        c = self.cluster.arrays.comp[pod.slot]
        tmpl = pod.template
        port = next(iter(tmpl.port_numbers().values()), 8080)
        if c < 0:
            return podlogs.startup_lines(
                "service", tmpl.containers[0].name, tmpl.image, port, [], self.cluster.now
            )
        comp = self.components[c]
        deps = [self.components[d].name for _, d, _ in comp.callees]
        return podlogs.startup_lines(comp.kind, comp.name, tmpl.image, port, deps, self.cluster.now)

    def write_logs(self) -> None:
        cl = self.cluster
        A = cl.arrays
        n = A.n
        now = cl.now
        dt = cl.tick
        period = max(1, round(60.0 / dt))
        running = A.running[:n]
        due = np.flatnonzero(running & ((np.arange(n) + cl.ticks) % period == 0))
        for slot in due.tolist():
            pod = A.pods[slot]
            c = int(A.comp[slot])
            if pod is None or c < 0:
                continue
            pod.logs.append(
                (
                    now,
                    podlogs.periodic_line(
                        self.components[c].kind,
                        now,
                        float(A.pod_lam[slot]),
                        float(A.pod_lat[slot]) * 1000,
                    ),
                )
            )
        for edges in self.auth_edges.values():
            for e, _, d, _ in edges:
                if self.edge_auth_error[e] > 0 and self.edge_rate[e] > 0:
                    self._auth_logs(d, now)
        noisy = np.flatnonzero((self.error > 0.01) | (self.error503 > 0.01))
        for c in noisy.tolist():
            self._error_logs(c, now, dt)

    def _error_logs(self, c: int, now: float, dt: float) -> None:
        A = self.cluster.arrays
        comp = self.components[c]
        n = A.n
        slots = np.flatnonzero(A.running[:n] & (A.comp[:n] == c) & (A.pod_lam[:n] > 0))
        worst: tuple[float, int, int, int] = (0.0, -1, 0, -1)
        for e, d, ratio in comp.callees:
            fails = self.edge_fail[e]
            for code_i in (1, 2, 3):
                rate = fails[code_i] * ratio
                if rate > worst[0]:
                    worst = (rate, d, code_i, e)
        rate, dep, code_i, edge = worst
        dep_name = self.components[dep].name if dep >= 0 else None
        detail = self.edge_error_message.get(edge) if code_i == 1 else None
        for slot in slots.tolist():
            pod = A.pods[slot]
            if pod is None:
                continue
            lam = float(A.pod_lam[slot])
            latency_ms = float(A.pod_lat[slot]) * 1000
            rejected = float(A.pod_rej[slot])
            lines = []
            for _ in range(_lines(rejected * lam * dt)):
                lines.append(podlogs.error_line(comp.kind, now, None, 503, latency_ms))
            for _ in range(_lines((float(A.pod_err[slot]) - rejected) * lam * dt)):
                lines.append(
                    podlogs.error_line(comp.kind, now, None, 500, latency_ms, pod.error_message)
                )
            if dep_name is not None:
                dep_latency = float(self.latency[dep]) * 1000
                for _ in range(_lines(rate * lam * dt)):
                    lines.append(
                        podlogs.error_line(
                            comp.kind, now, dep_name, int(CODES[code_i]), dep_latency, detail
                        )
                    )
            pod.logs.extend((now, line) for line in lines)

    def _auth_logs(self, d: int, now: float) -> None:
        A = self.cluster.arrays
        n = A.n
        for slot in np.flatnonzero(A.running[:n] & (A.comp[:n] == d)).tolist():
            pod = A.pods[slot]
            if pod is not None:
                pod.logs.append((now, podlogs.auth_failed_line(self.components[d].kind, now)))


def _lines(events: float) -> int:
    """How many log lines a tick's failures write (at most three, as a sample)."""
    return min(3, int(events + 0.5)) if events >= 0.5 else 0
