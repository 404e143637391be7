"""What candidate generation reads of the cluster's current objects, through the Kubernetes API.

A :class:`ClusterReader` answers four questions: a Deployment with its ReplicaSet history (the
revisions a rollback can return to, their images and resources), the pods of a Deployment, a
Service's ports and the ports its pods declare, and the nodes. :class:`KubernetesReader`
answers them with the official client (``apps/v1`` deployments and replicasets, ``core/v1``
pods, services and nodes; read only, every call with a timeout). It never reads the
fault-injection API group (Chaos Mesh's) or anything of the testbed's own. Failures raise
:class:`~controlplane.AgentError` with the client's exception as cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from kubernetes import client

from controlplane import AgentError

__all__ = [
    "ClusterReader",
    "ContainerSpec",
    "KubernetesReader",
    "NodeInfo",
    "PodInfo",
    "RevisionInfo",
    "ServiceInfo",
    "ServicePortInfo",
    "WorkloadInfo",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
ZONE = "topology.kubernetes.io/zone"
T = TypeVar("T")


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str = ""
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    ports: tuple[int, ...] = ()
    secrets: tuple[str, ...] = ()
    """Secrets the container's environment reads."""


@dataclass(frozen=True)
class RevisionInfo:
    """One ReplicaSet of a Deployment: its revision number(s) and pod template summary."""

    number: int
    replicaset: str
    containers: tuple[ContainerSpec, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    history: tuple[int, ...] = ()
    created: float | None = None

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(c.image for c in self.containers)


@dataclass(frozen=True)
class WorkloadInfo:
    namespace: str
    name: str
    replicas: int
    resource_version: str | None = None
    generation: int | None = None
    revision: int | None = None
    containers: tuple[ContainerSpec, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    revisions: tuple[RevisionInfo, ...] = ()
    """Ascending by revision number."""

    def current(self) -> RevisionInfo | None:
        return next((r for r in self.revisions if r.number == self.revision), None)

    def previous(self) -> RevisionInfo | None:
        """The newest older revision that runs other images than the current one.

        ``rollout undo`` returns to the newest older revision; after a ``rollout restart`` of a
        bad release that is the bad release again (a restart makes a revision with the same
        images), so revisions with the current images are skipped. Without images to compare,
        the newest older revision.
        """
        older = [r for r in self.revisions if self.revision is None or r.number < self.revision]
        now = self.current()
        if now is not None and now.images:
            different = [r for r in older if r.images != now.images]
            if different:
                return different[-1]
        return older[-1] if older else None


@dataclass(frozen=True)
class PodInfo:
    name: str
    uid: str
    node: str | None = None
    phase: str = "Unknown"
    ready: bool = False
    restarts: int = 0
    waiting_reason: str | None = None
    deleting: bool = False
    resource_version: str | None = None


@dataclass(frozen=True)
class ServicePortInfo:
    port: int
    target_port: int | str
    name: str | None = None


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    resource_version: str | None = None
    ports: tuple[ServicePortInfo, ...] = ()
    container_ports: tuple[int, ...] = ()
    """Ports the containers of the selected pods declare."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    unschedulable: bool = False
    ready: bool = True
    zone: str | None = None
    cpu_allocatable: float = 0.0
    resource_version: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class ClusterReader(Protocol):
    """Read-only views of the objects candidate actions act on."""

    def workload(self, namespace: str, name: str) -> WorkloadInfo | None: ...

    def pods(self, namespace: str, name: str) -> list[PodInfo]: ...

    def service(self, namespace: str, name: str) -> ServiceInfo | None: ...

    def nodes(self) -> list[NodeInfo]: ...


def _cpu(value: str | None) -> float:
    if not value:
        return 0.0
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _container(spec: Any) -> ContainerSpec:
    res = spec.resources
    limits = (res.limits if res else None) or {}
    requests = (res.requests if res else None) or {}
    secrets = tuple(
        sorted(
            {
                e.value_from.secret_key_ref.name
                for e in spec.env or []
                if e.value_from is not None and e.value_from.secret_key_ref is not None
            }
        )
    )
    return ContainerSpec(
        name=spec.name,
        image=spec.image or "",
        cpu_request=requests.get("cpu"),
        cpu_limit=limits.get("cpu"),
        memory_request=requests.get("memory"),
        memory_limit=limits.get("memory"),
        ports=tuple(p.container_port for p in spec.ports or []),
        secrets=secrets,
    )


def _revision(rs: Any) -> RevisionInfo | None:
    annotations = rs.metadata.annotations or {}
    number = annotations.get(REVISION)
    if number is None or not str(number).isdigit():
        return None
    history = tuple(
        int(h) for h in str(annotations.get(REVISION_HISTORY, "")).split(",") if h.isdigit()
    )
    pod_spec = rs.spec.template.spec
    created = rs.metadata.creation_timestamp
    return RevisionInfo(
        number=int(number),
        replicaset=rs.metadata.name,
        containers=tuple(_container(c) for c in pod_spec.containers),
        node_selector=dict(pod_spec.node_selector or {}),
        history=history,
        created=created.timestamp() if created is not None else None,
    )


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class KubernetesReader:
    """A :class:`ClusterReader` over the official client (``api``: an ``ApiClient``)."""

    def __init__(self, api: client.ApiClient, *, timeout_s: float = 5.0) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.timeout_s = timeout_s

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, _request_timeout=self.timeout_s, **kwargs)
        except client.ApiException as exc:
            raise AgentError(f"{method.__name__}: HTTP {exc.status} {exc.reason}") from exc
        # urllib3 timeouts, refused connections and undecodable answers: all mean "cannot read"
        except Exception as exc:
            raise AgentError(f"{method.__name__}: {exc!r}"[:300]) from exc

    def _maybe(self, method: Callable[..., T], *args: Any) -> T | None:
        try:
            return self._call(method, *args)
        except AgentError as exc:
            cause = exc.__cause__
            if isinstance(cause, client.ApiException) and cause.status == 404:
                return None
            raise

    def workload(self, namespace: str, name: str) -> WorkloadInfo | None:
        dep: Any = self._maybe(self.apps.read_namespaced_deployment, name, namespace)
        if dep is None:
            return None
        selector = _selector(dep.spec.selector.match_labels or {})
        sets: Any = self._call(
            self.apps.list_namespaced_replica_set, namespace, label_selector=selector
        )
        owned = [
            rs
            for rs in sets.items
            if any(ref.uid == dep.metadata.uid for ref in rs.metadata.owner_references or [])
        ]
        revisions = sorted(
            (r for r in (_revision(rs) for rs in owned) if r is not None), key=lambda r: r.number
        )
        current = (dep.metadata.annotations or {}).get(REVISION)
        pod_spec = dep.spec.template.spec
        return WorkloadInfo(
            namespace=namespace,
            name=name,
            replicas=int(dep.spec.replicas or 0),
            resource_version=dep.metadata.resource_version,
            generation=dep.metadata.generation,
            revision=int(current) if current and str(current).isdigit() else None,
            containers=tuple(_container(c) for c in pod_spec.containers),
            node_selector=dict(pod_spec.node_selector or {}),
            revisions=tuple(revisions),
        )

    def pods(self, namespace: str, name: str) -> list[PodInfo]:
        dep: Any = self._maybe(self.apps.read_namespaced_deployment, name, namespace)
        if dep is None:
            return []
        selector = _selector(dep.spec.selector.match_labels or {})
        pods = self._call(self.core.list_namespaced_pod, namespace, label_selector=selector)
        return sorted((_pod(p) for p in pods.items), key=lambda p: p.name)

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        svc: Any = self._maybe(self.core.read_namespaced_service, name, namespace)
        if svc is None:
            return None
        ports = tuple(
            ServicePortInfo(p.port, p.target_port if p.target_port is not None else p.port, p.name)
            for p in svc.spec.ports or []
        )
        declared: set[int] = set()
        if svc.spec.selector:
            selector = _selector(svc.spec.selector)
            pods: Any = self._call(
                self.core.list_namespaced_pod, namespace, label_selector=selector
            )
            for pod in pods.items:
                for container in pod.spec.containers:
                    declared |= {p.container_port for p in container.ports or []}
        return ServiceInfo(
            namespace, name, svc.metadata.resource_version, ports, tuple(sorted(declared))
        )

    def nodes(self) -> list[NodeInfo]:
        nodes = self._call(self.core.list_node)
        return sorted((_node(n) for n in nodes.items), key=lambda n: n.name)


def _pod(pod: Any) -> PodInfo:
    status = pod.status
    statuses = (status.container_statuses if status else None) or []
    conditions = (status.conditions if status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    waiting = next((s.state.waiting.reason for s in statuses if s.state and s.state.waiting), None)
    return PodInfo(
        name=pod.metadata.name,
        uid=pod.metadata.uid,
        node=pod.spec.node_name,
        phase=(status.phase if status else None) or "Unknown",
        ready=ready,
        restarts=sum(int(s.restart_count or 0) for s in statuses),
        waiting_reason=waiting,
        deleting=pod.metadata.deletion_timestamp is not None,
        resource_version=pod.metadata.resource_version,
    )


def _node(node: Any) -> NodeInfo:
    labels = dict(node.metadata.labels or {})
    conditions = (node.status.conditions if node.status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    allocatable = (node.status.allocatable if node.status else None) or {}
    return NodeInfo(
        name=node.metadata.name,
        unschedulable=bool(node.spec.unschedulable) if node.spec else False,
        ready=ready,
        zone=labels.get(ZONE),
        cpu_allocatable=_cpu(allocatable.get("cpu")),
        resource_version=node.metadata.resource_version,
        labels=labels,
    )
