"""The simulated cluster: its objects, its clockwork and the operations the API performs on it.

One :class:`Cluster` holds nodes, namespaces, deployments with their replica sets and pods,
services, PodDisruptionBudgets, Chaos Mesh style custom objects and events, built from one or
more application files. :meth:`Cluster.step` advances simulated time by one tick: pod lifecycle
timers fire (image pulls, starts, readiness, back-offs, terminations), the controllers reconcile
(deployments, replica sets, node lifecycle, disruption budgets), the scheduler binds pending pods,
and the traffic model moves requests through the call graph.

Every change to an object bumps the cluster-wide ``resourceVersion`` and is appended to a watch
log per resource, which the API's ``watch=true`` streams read. The cluster is not thread-safe by
itself: callers hold :attr:`Cluster.lock`.
"""

from __future__ import annotations

import base64
import heapq
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import controllers, kubelet
from .app import AppSpec, NodePool, ServiceSpec, load_app
from .clock import DEFAULT_START, iso
from .events import EventRecorder, InvolvedObject
from .k8s.quantity import format_cpu, format_memory, parse_cpu, parse_memory
from .k8s.selectors import label_selector_from_spec
from .k8s.validate import default_deployment_spec, default_service_spec
from .load import LoadProfile, load_profile_from_mapping
from .noise import NoiseConfig, NoiseEngine
from .objects import (
    TEMPLATE_HASH_LABEL,
    Deployment,
    Meta,
    Node,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
    Secret,
    Service,
)
from .scheduler import Scheduler
from .timing import Timing
from .traffic import PodArrays, TrafficModel

WATCH_LOG_SIZE = 50_000
Key = tuple[str, str]


class EvictionBlocked(Exception):
    """An eviction would violate a PodDisruptionBudget (the API answers 429)."""

    def __init__(self, budget: str) -> None:
        super().__init__("Cannot evict pod as it would violate the pod's disruption budget.")
        self.budget = budget


@dataclass
class AppInstance:
    """One application file deployed into one namespace."""

    spec: AppSpec
    namespace: str
    profile: LoadProfile


@dataclass
class WatchEntry:
    rv: int
    type: str
    obj: Any
    snapshot: dict[str, Any] | None


class Cluster:
    """A simulated Kubernetes cluster running one or more applications."""

    def __init__(
        self,
        apps: AppSpec | Sequence[AppSpec | tuple[AppSpec, str]] | None = None,
        *,
        seed: int = 0,
        start: float = DEFAULT_START,
        timing: Timing | None = None,
        load: LoadProfile | None = None,
        node_pools: Sequence[NodePool] | None = None,
        tick: float = 1.0,
        noise: float = 0.03,
        benign: NoiseConfig | None = None,
    ) -> None:
        if apps is None:
            apps = [load_app()]
        elif isinstance(apps, AppSpec):
            apps = [apps]
        if tick <= 0:
            raise ValueError(f"tick must be positive, got {tick}")
        pairs = [(a, a.namespace) if isinstance(a, AppSpec) else a for a in apps]
        if not pairs:
            raise ValueError("a cluster needs at least one application")
        namespaces = [ns for _, ns in pairs]
        if len(set(namespaces)) != len(namespaces):
            raise ValueError(f"each application needs its own namespace, got {namespaces}")

        self.lock = threading.RLock()
        self.seed = seed
        self.start = float(start)
        self.now = float(start)
        self.tick = float(tick)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.prng = random.Random(seed)
        base_timing = timing or Timing()
        self.timing = base_timing.with_overrides(pairs[0][0].timing) if timing is None else timing
        self.rv = 0
        self.watch_log: dict[str, deque[WatchEntry]] = {}
        self.watch_floor: dict[str, int] = {}
        self._timers: list[tuple[float, int, Callable[..., None], Pod, int]] = []
        self._timer_seq = 0
        self.ticks = 0

        self.namespaces: dict[str, Meta] = {}
        self.nodes: dict[str, Node] = {}
        self.node_list: list[Node] = []
        self.pods: dict[Key, Pod] = {}
        self.pods_by_ns: dict[str, dict[str, Pod]] = {}
        self.deployments: dict[Key, Deployment] = {}
        self.replicasets: dict[Key, ReplicaSet] = {}
        self.services: dict[Key, Service] = {}
        self.pdbs: dict[Key, PodDisruptionBudget] = {}
        self.secrets: dict[Key, Secret] = {}
        self.custom: dict[tuple[str, str], dict[Key, dict[str, Any]]] = {}
        self.events = EventRecorder(self)
        #: ground truth of injected faults, served only on the truth endpoint
        self.faults: list[Any] = []  # testbed.faults.ActiveFault, newest last
        #: called after a custom object is created, changed or deleted (Chaos Mesh resources)
        self.custom_hooks: list[Callable[[Cluster, str, dict[str, Any], str], None]] = []
        #: called after every container start (the fault library hooks crash loops here)
        self.startup_hooks: list[Callable[[Cluster, Pod], None]] = []
        #: called at the start of every tick, after the timers (fault library, benign noise)
        self.tick_hooks: list[Callable[[Cluster], None]] = []

        self.dirty_deployments: set[Deployment] = set()
        self.dirty_replicasets: set[ReplicaSet] = set()
        self.dirty_namespaces: set[str] = set()
        self.pending: dict[Pod, None] = {}
        self.nodes_version = 0
        self._ip_seq = 0

        self.apps: list[AppInstance] = []
        self.arrays = PodArrays()
        pools = list(node_pools) if node_pools is not None else list(pairs[0][0].cluster.node_pools)
        for ns in ["default", "kube-system", *namespaces]:
            self.ensure_namespace(ns)
        self._build_nodes(pools)
        self.scheduler = Scheduler(self)
        for spec, ns in pairs:
            profile = load
            if profile is None:
                profile = load_profile_from_mapping(spec.load) if spec.load else _default_profile()
            self.apps.append(AppInstance(spec, ns, profile))
        self.traffic = TrafficModel(self)
        self.behaviours: Any = None  # set by the fault engine
        from .faults import FaultEngine

        self.fault_engine = FaultEngine(self)
        for inst in self.apps:
            self._deploy_app(inst)
        #: benign noise (innocent deploys, harmless log lines, cron spikes, node maintenance,
        #: drift), installed as a tick hook when ``benign`` is given
        self.benign = NoiseEngine(self, benign).install() if benign is not None else None

    # ------------------------------------------------------------------ identity and versions

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.prng.getrandbits(128), version=4))

    def random_suffix(self, n: int = 5) -> str:
        return "".join(self.prng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    def new_meta(
        self,
        name: str,
        namespace: str | None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Meta:
        return Meta(
            name=name,
            namespace=namespace,
            uid=self.new_uid(),
            created=self.now,
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
        )

    def changed(self, resource: str, obj: Any, type_: str = "MODIFIED") -> None:
        """Bump the object's resourceVersion and append a watch event."""
        self.rv += 1
        if resource == "endpoints":  # derived from a Service; its own version line
            obj.endpoints_rv = self.rv
        elif hasattr(obj, "meta"):
            obj.meta.rv = self.rv
        else:
            obj.rv = self.rv
        log = self.watch_log.get(resource)
        if log is None:
            log = self.watch_log[resource] = deque()
            self.watch_floor[resource] = self.rv - 1
        snapshot = None
        if type_ == "DELETED":
            from .k8s.serialize import serialize

            snapshot = serialize(self, resource, obj)
        log.append(WatchEntry(self.rv, type_, obj, snapshot))
        if len(log) > WATCH_LOG_SIZE:
            dropped = log.popleft()
            self.watch_floor[resource] = dropped.rv

    def record(
        self,
        obj: Pod | Node | Deployment | ReplicaSet | Service | PodDisruptionBudget,
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
    ) -> None:
        kind, api = {
            Pod: ("Pod", "v1"),
            Node: ("Node", "v1"),
            Deployment: ("Deployment", "apps/v1"),
            ReplicaSet: ("ReplicaSet", "apps/v1"),
            Service: ("Service", "v1"),
            PodDisruptionBudget: ("PodDisruptionBudget", "policy/v1"),
        }[type(obj)]
        involved = InvolvedObject(kind, obj.meta.name, obj.meta.namespace, obj.meta.uid, api)
        self.events.record(involved, type_, reason, message, component, host)

    # ------------------------------------------------------------------ timers

    def schedule_timer(self, at: float, fn: Callable[..., None], pod: Pod) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at, self._timer_seq, fn, pod, pod.timer_gen))

    def _run_timers(self, until: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= until:
            at, _, fn, pod, gen = heapq.heappop(timers)
            if gen != pod.timer_gen or (pod.namespace, pod.name) not in self.pods:
                continue
            self.now = max(self.now, at)
            fn(self, pod)

    # ------------------------------------------------------------------ building

    def ensure_namespace(self, name: str) -> Meta:
        meta = self.namespaces.get(name)
        if meta is None:
            meta = self.new_meta(name, None, {"kubernetes.io/metadata.name": name})
            self.namespaces[name] = meta
            self.pods_by_ns.setdefault(name, {})
            self.changed("namespaces", _NamespaceRef(meta), "ADDED")
        return meta

    def _build_nodes(self, pools: Sequence[NodePool]) -> None:
        for pool in pools:
            for i in range(pool.count):
                name = f"{pool.name}-{i:03d}" if pool.count < 1000 else f"{pool.name}-{i:04d}"
                zone = pool.zones[i % len(pool.zones)]
                labels = {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": zone,
                    "topology.kubernetes.io/region": "region-1",
                    "node.kubernetes.io/instance-type": pool.instance_type,
                    "testbed.aiops.dev/pool": pool.name,
                    **pool.labels,
                }
                self.add_node(
                    name, parse_cpu(pool.cpu), parse_memory(pool.memory), pool.max_pods, labels
                )

    def add_node(
        self, name: str, cpu: float, memory: int, max_pods: int, labels: dict[str, str]
    ) -> Node:
        if name in self.nodes:
            raise ValueError(f"node {name!r} exists")
        index = len(self.node_list)
        spec = {
            "podCIDR": f"10.{64 + index // 256}.{index % 256}.0/24",
            "providerID": f"testbed://{name}",
        }
        node = Node(self.new_meta(name, None, labels), index, cpu, memory, max_pods, spec)
        node.address = f"172.16.{index // 256}.{index % 256 + 1 if index % 256 < 254 else 254}"
        self.nodes[name] = node
        self.node_list.append(node)
        self.changed("nodes", node, "ADDED")
        self.nodes_version += 1
        return node

    def _deploy_app(self, inst: AppInstance) -> None:
        ns = inst.namespace
        for svc in inst.spec.services:
            if svc.credentials:
                password = "".join(
                    self.prng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(20)
                )
                data = {"username": _b64(inst.spec.name), "password": _b64(password)}
                self.apply_secret(
                    ns, credentials_secret(svc.name), {"labels": {"app": svc.name}}, data
                )
        for svc in inst.spec.services:
            self.apply_deployment(ns, svc.name, *deployment_manifest(inst.spec, svc))
            self.apply_service(ns, svc.name, *service_manifest(inst.spec, svc))
            if svc.min_available is not None:
                meta = {"labels": {"app": svc.name, "app.kubernetes.io/part-of": inst.spec.name}}
                spec = {
                    "minAvailable": svc.min_available,
                    "selector": {"matchLabels": {"app": svc.name}},
                }
                self.apply_pdb(ns, svc.name, meta, spec)

    # ------------------------------------------------------------------ time

    def step(self, dt: float | None = None) -> None:
        """Advance simulated time by one tick (``dt`` defaults to the cluster's tick)."""
        dt = self.tick if dt is None else float(dt)
        with self.lock:
            until = self.now + dt
            # requests flow through the interval with the cluster as it stands at its start;
            # what happens during it (timers, controllers) shapes the next interval, so a
            # change at a tick boundary counts the same whatever the tick length
            controllers.update_endpoints(self)
            self.traffic.step(dt)
            self._run_timers(until)
            self.now = until
            kubelet.enforce_memory(self)
            for hook in list(self.tick_hooks):
                hook(self)
            controllers.node_lifecycle(self)
            controllers.reconcile(self)
            self.scheduler.schedule_pending()
            controllers.update_endpoints(self)
            kubelet.write_logs(self)
            self.ticks += 1
            if self.ticks % 60 == 0:
                self.events.expire(self.timing.event_ttl_s)

    def advance(self, seconds: float) -> None:
        """Step whole ticks until ``seconds`` of simulated time have passed."""
        steps = round(seconds / self.tick)
        for _ in range(max(0, steps)):
            self.step()

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    # ------------------------------------------------------------------ pods

    def next_pod_ip(self, node: Node) -> str:
        self._ip_seq += 1
        return f"10.{64 + node.index // 256}.{node.index % 256}.{self._ip_seq % 253 + 2}"

    def create_pod(self, rs: ReplicaSet) -> Pod:
        ns = rs.meta.namespace
        assert ns is not None
        while True:
            name = f"{rs.name}-{self.random_suffix()}"
            if (ns, name) not in self.pods:
                break
        meta = self.new_meta(name, ns, rs.template.labels, rs.template.annotations)
        slot = self.arrays.alloc()
        pod = Pod(meta, rs.template, rs, slot)
        comp = -1
        if rs.deployment is not None:
            comp = self.traffic.component_of(ns, rs.deployment.name)
        self.arrays.assign(slot, comp, rs.template, pod)
        self.pods[(ns, name)] = pod
        self.pods_by_ns.setdefault(ns, {})[name] = pod
        rs.pods.add(pod)
        self.pending[pod] = None
        pod.next_schedule_try = self.now + self.timing.scheduling_s
        self.changed("pods", pod, "ADDED")
        self.record(
            rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", "replicaset-controller"
        )
        return pod

    def delete_pod(self, pod: Pod, grace: float | None = None, reason: str = "Killing") -> None:
        """Delete a pod gracefully (``grace=0`` removes it at once, like ``--force``)."""
        if pod.deleting and grace != 0:
            return
        kubelet.terminate(self, pod, grace, reason)

    def remove_pod(self, pod: Pod) -> None:
        key = (pod.namespace, pod.name)
        if key not in self.pods:
            return
        del self.pods[key]
        self.pods_by_ns[pod.namespace].pop(pod.name, None)
        self.pending.pop(pod, None)
        if pod.node is not None:
            self.scheduler.unbind(pod)
        if pod.rs is not None:
            pod.rs.pods.discard(pod)
            self.dirty_replicasets.add(pod.rs)
            if pod.rs.deployment is not None:
                self.dirty_deployments.add(pod.rs.deployment)
        pod.timer_gen += 1
        self.arrays.free(pod.slot)
        self.dirty_namespaces.add(pod.namespace)
        self.changed("pods", pod, "DELETED")

    def evict_pod(self, pod: Pod, grace: float | None = None) -> None:
        """The Eviction API: delete gracefully unless a disruption budget forbids it.

        As the API server decides: a Pending or already terminating pod ignores budgets, and a
        pod that is not Ready may go while its budget is healthy (``unhealthyPodEvictionPolicy``
        IfHealthyBudget, the default; always with AlwaysAllow) without counting as a disruption.
        """
        budgets = [] if pod.phase == "Pending" or pod.deleting else self.pdbs_for(pod)
        counted = []
        for pdb in budgets:
            pdb.disrupted = {k: t for k, t in pdb.disrupted.items() if self.now - t < 120}
            status = controllers.pdb_status(self, pdb)
            if not pod.ready and (
                pdb.spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
                or status["currentHealthy"] >= status["desiredHealthy"] > 0
            ):
                continue
            if status["disruptionsAllowed"] < 1:
                raise EvictionBlocked(pdb.meta.name)
            counted.append(pdb)
        for pdb in counted:
            pdb.disrupted[pod.name] = self.now
            self.changed("poddisruptionbudgets", pdb)
        self.delete_pod(pod, grace, reason="Evicted")

    def pdbs_for(self, pod: Pod) -> list[PodDisruptionBudget]:
        return [
            pdb
            for (ns, _), pdb in self.pdbs.items()
            if ns == pod.namespace and pdb.selector.matches(pod.meta.labels)
        ]

    def pod_changed(self, pod: Pod) -> None:
        """A pod's status changed: its Service endpoints, owners and watchers must know."""
        self.dirty_namespaces.add(pod.namespace)
        if pod.rs is not None:
            self.dirty_replicasets.add(pod.rs)
            if pod.rs.deployment is not None:
                self.dirty_deployments.add(pod.rs.deployment)
        self.changed("pods", pod)

    def set_pod_metadata(
        self, pod: Pod, labels: dict[str, str], annotations: dict[str, str]
    ) -> None:
        pod.meta.labels = dict(labels)
        pod.meta.annotations = dict(annotations)
        rs = pod.rs
        if rs is not None and not label_selector_from_spec(rs.selector_spec).matches(labels):
            # the ReplicaSet releases a pod its selector no longer matches (orphaning it) and
            # creates a replacement, as Kubernetes' controller does
            rs.pods.discard(pod)
            pod.rs = None
            self.dirty_replicasets.add(rs)
            if rs.deployment is not None:
                self.dirty_deployments.add(rs.deployment)
        self.dirty_namespaces.add(pod.namespace)
        self.changed("pods", pod)

    # ------------------------------------------------------------------ nodes

    def patch_node(
        self, node: Node, labels: dict[str, str], annotations: dict[str, str], spec: dict[str, Any]
    ) -> None:
        was = node.unschedulable
        stamp = iso(self.now)
        for taint in spec.get("taints") or []:
            if taint.get("effect") == "NoExecute" and not taint.get("timeAdded"):
                taint["timeAdded"] = stamp
        node.meta.labels = dict(labels)
        node.meta.annotations = dict(annotations)
        node.spec = spec
        now = node.unschedulable
        if was != now:
            controllers.sync_unschedulable_taint(self, node)
            self.record(
                node,
                "Normal",
                "NodeNotSchedulable" if now else "NodeSchedulable",
                f"Node {node.name} status is now: "
                f"{'NodeNotSchedulable' if now else 'NodeSchedulable'}",
                "kubelet",
                node.name,
            )
        self.nodes_version += 1
        self.changed("nodes", node)

    def fail_node(self, name: str) -> None:
        """Stop the node's kubelet (it stops posting status), as a crashed node does."""
        node = self.nodes[name]
        if node.kubelet_up:
            node.heartbeat = self.now  # its last status post; the grace period counts from here
        node.kubelet_up = False
        self.arrays.set_node_up(node.index, False)

    def recover_node(self, name: str) -> None:
        """Start the node's kubelet again (a no-op while it runs)."""
        node = self.nodes[name]
        if node.kubelet_up:
            return
        node.kubelet_up = True
        node.heartbeat = self.now
        self.arrays.set_node_up(node.index, True)
        controllers.node_recovered(self, node)

    # ------------------------------------------------------------------ deployments

    def apply_deployment(
        self, namespace: str, name: str, metadata: dict[str, Any], spec: dict[str, Any]
    ) -> Deployment:
        """Create or update a Deployment with an already validated spec."""
        spec = default_deployment_spec(spec)
        key = (namespace, name)
        dep = self.deployments.get(key)
        if dep is None:
            self.ensure_namespace(namespace)
            meta = self.new_meta(
                name, namespace, metadata.get("labels"), metadata.get("annotations")
            )
            dep = Deployment(meta, spec)
            self.deployments[key] = dep
            self.changed("deployments", dep, "ADDED")
        else:
            if spec != dep.spec:
                dep.meta.generation += 1
                dep.set_spec(spec)
                dep.last_progress = self.now
            dep.meta.labels = dict(metadata.get("labels") or {})
            keep = {
                k: v
                for k, v in dep.meta.annotations.items()
                if k.startswith("deployment.kubernetes.io/")
            }
            dep.meta.annotations = {**dict(metadata.get("annotations") or {}), **keep}
            self.changed("deployments", dep)
        self.dirty_deployments.add(dep)
        return dep

    def delete_deployment(self, dep: Deployment) -> None:
        del self.deployments[(dep.meta.namespace or "", dep.name)]
        for rs in list(dep.replicasets.values()):
            controllers.delete_replicaset(self, rs)
        self.dirty_deployments.discard(dep)
        self.changed("deployments", dep, "DELETED")

    # ------------------------------------------------------------------ services, budgets

    def apply_service(
        self, namespace: str, name: str, metadata: dict[str, Any], spec: dict[str, Any]
    ) -> Service:
        spec = default_service_spec(spec)
        key = (namespace, name)
        svc = self.services.get(key)
        if svc is None:
            self.ensure_namespace(namespace)
            svc = Service(
                self.new_meta(name, namespace, metadata.get("labels"), metadata.get("annotations")),
                spec,
            )
            n = len(self.services) + 1
            svc.cluster_ip = f"10.96.{n // 250}.{n % 250 + 2}"
            self.services[key] = svc
            self.changed("services", svc, "ADDED")
            self.changed("endpoints", svc, "ADDED")
        else:
            svc.spec = spec
            svc.meta.labels = dict(metadata.get("labels") or {})
            svc.meta.annotations = dict(metadata.get("annotations") or {})
            self.changed("services", svc)
        self.dirty_namespaces.add(namespace)
        return svc

    def delete_service(self, svc: Service) -> None:
        del self.services[(svc.meta.namespace or "", svc.name)]
        self.dirty_namespaces.add(svc.meta.namespace or "")
        self.changed("services", svc, "DELETED")
        self.changed("endpoints", svc, "DELETED")

    def apply_pdb(
        self, namespace: str, name: str, metadata: dict[str, Any], spec: dict[str, Any]
    ) -> PodDisruptionBudget:
        key = (namespace, name)
        pdb = self.pdbs.get(key)
        if pdb is None:
            self.ensure_namespace(namespace)
            pdb = PodDisruptionBudget(
                self.new_meta(name, namespace, metadata.get("labels"), metadata.get("annotations")),
                spec,
            )
            self.pdbs[key] = pdb
            pdb.status = controllers.pdb_status(self, pdb)
            self.changed("poddisruptionbudgets", pdb, "ADDED")
        else:
            pdb.spec = spec
            pdb.meta.generation += 1
            pdb.meta.labels = dict(metadata.get("labels") or {})
            pdb.meta.annotations = dict(metadata.get("annotations") or {})
            pdb.status = controllers.pdb_status(self, pdb)
            self.changed("poddisruptionbudgets", pdb)
        return pdb

    def apply_secret(
        self,
        namespace: str,
        name: str,
        metadata: dict[str, Any],
        data: dict[str, str],
        type_: str = "Opaque",
    ) -> Secret:
        """Create or replace a Secret (values base64-encoded)."""
        key = (namespace, name)
        secret = self.secrets.get(key)
        if secret is None:
            self.ensure_namespace(namespace)
            secret = Secret(
                self.new_meta(name, namespace, metadata.get("labels"), metadata.get("annotations")),
                dict(data),
                type_,
            )
            self.secrets[key] = secret
            self.changed("secrets", secret, "ADDED")
        else:
            secret.data = dict(data)
            secret.meta.labels = dict(metadata.get("labels") or {})
            secret.meta.annotations = dict(metadata.get("annotations") or {})
            self.changed("secrets", secret)
        return secret

    def delete_secret(self, secret: Secret) -> None:
        del self.secrets[(secret.meta.namespace or "", secret.name)]
        self.changed("secrets", secret, "DELETED")

    def delete_pdb(self, pdb: PodDisruptionBudget) -> None:
        del self.pdbs[(pdb.meta.namespace or "", pdb.meta.name)]
        self.changed("poddisruptionbudgets", pdb, "DELETED")

    # ------------------------------------------------------------------ custom objects

    def custom_store(self, group: str, plural: str) -> dict[Key, dict[str, Any]]:
        return self.custom.setdefault((group, plural), {})

    def put_custom(self, group: str, plural: str, obj: dict[str, Any], created: bool) -> None:
        meta = obj["metadata"]
        store = self.custom_store(group, plural)
        store[(meta.get("namespace", ""), meta["name"])] = obj
        type_ = "ADDED" if created else "MODIFIED"
        self.changed(f"{group}/{plural}", _CustomRef(obj), type_)
        meta["resourceVersion"] = str(self.rv)
        for hook in list(self.custom_hooks):
            hook(self, plural, obj, type_)

    def delete_custom(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.custom_store(group, plural).pop((namespace, name))
        self.changed(f"{group}/{plural}", _CustomRef(obj), "DELETED")
        for hook in list(self.custom_hooks):
            hook(self, plural, obj, "DELETED")
        return obj

    # ------------------------------------------------------------------ reads

    def pods_in(self, namespace: str | None) -> Iterable[Pod]:
        if namespace is None:
            return self.pods.values()
        return self.pods_by_ns.get(namespace, {}).values()

    def truth(self) -> dict[str, Any]:
        """Ground truth: active faults. Served only behind the truth token."""
        return {
            "time": self.now,
            "faults": [f.truth() for f in self.faults],
            "chaos": [
                obj
                for (group, _), store in self.custom.items()
                if group == "chaos-mesh.org"
                for obj in store.values()
            ],
        }


class _NamespaceRef:
    """Adapter giving a namespace's Meta the shape ``changed`` expects."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta


class _CustomRef:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self.rv = 0


def _default_profile() -> LoadProfile:
    from .load import Constant

    return Constant(100.0)


def deployment_manifest(app: AppSpec, svc: ServiceSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment an application file's service becomes (metadata, spec)."""
    labels = {"app": svc.name, "tier": svc.kind, **svc.labels}
    meta_labels = {"app": svc.name, "app.kubernetes.io/part-of": app.name}
    res = svc.resources
    resources: dict[str, dict[str, str]] = {
        "requests": {
            "cpu": format_cpu(parse_cpu(res.cpu_request)),
            "memory": format_memory(parse_memory(res.memory_request)),
        },
    }
    limits = {}
    if res.cpu_limit is not None:
        limits["cpu"] = format_cpu(parse_cpu(res.cpu_limit))
    if res.memory_limit is not None:
        limits["memory"] = format_memory(parse_memory(res.memory_limit))
    if limits:
        resources["limits"] = limits
    container: dict[str, Any] = {
        "name": svc.name,
        "image": svc.image,
        "ports": [{"name": svc.port_name, "containerPort": svc.port}],
        "resources": resources,
        "env": [
            {
                "name": f"{_env(c.service)}_ADDR",
                "value": f"{c.service}:{app.service(c.service).port}",
            }
            for c in svc.calls
        ],
    }
    for name in [svc.name] * svc.credentials + [
        c.service for c in svc.calls if app.service(c.service).credentials
    ]:
        container["env"].append(
            {
                "name": f"{_env(name)}_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": credentials_secret(name), "key": "password"}
                },
            }
        )
    delay = svc.readiness_delay_s
    if delay is not None:
        container["readinessProbe"] = {
            "tcpSocket": {"port": svc.port},
            "initialDelaySeconds": int(delay),
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
    pod_spec: dict[str, Any] = {"containers": [container]}
    if svc.node_selector:
        pod_spec["nodeSelector"] = dict(svc.node_selector)
    if svc.spread != "none":
        term = {
            "labelSelector": {"matchLabels": {"app": svc.name}},
            "topologyKey": "kubernetes.io/hostname",
        }
        if svc.spread == "required":
            pod_spec["affinity"] = {
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
            }
        else:
            pod_spec["affinity"] = {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": term}
                    ]
                }
            }
    spec = {
        "replicas": svc.replicas,
        "selector": {"matchLabels": {"app": svc.name}},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    return {"labels": meta_labels}, spec


def _env(name: str) -> str:
    return name.upper().replace("-", "_")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def credentials_secret(service: str) -> str:
    """The Secret holding the password clients of ``service`` present."""
    return f"{service}-credentials"


def service_manifest(app: AppSpec, svc: ServiceSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = {"labels": {"app": svc.name, "app.kubernetes.io/part-of": app.name}}
    spec = {
        "selector": {"app": svc.name},
        "ports": [{"name": svc.port_name, "port": svc.port, "targetPort": svc.port}],
    }
    return meta, spec


__all__ = [
    "TEMPLATE_HASH_LABEL",
    "AppInstance",
    "Cluster",
    "EvictionBlocked",
    "deployment_manifest",
    "service_manifest",
]
