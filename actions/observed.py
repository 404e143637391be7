"""What a backend saw of an action's target: the snapshot that preconditions, guardrails and
inverse actions are computed from.

An :class:`Observed` is plain data (a frozen pydantic model, so the executor can write it to the
audit trail next to the request): the target's ``resourceVersion``, labels and annotations, and
one kind-specific part (``workload``, ``pod``, ``node`` or ``service``). ``workloads`` summarises
every Deployment the action would touch (the target itself, a pod's owner, the owners of a node's
pods), which is what the blast-radius guardrail needs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from controlplane import TargetKind, TargetRef

__all__ = [
    "Autoscaler",
    "ContainerPort",
    "ContainerResources",
    "NodeInfo",
    "NodeState",
    "Observed",
    "Owner",
    "PodOnNode",
    "PodState",
    "Revision",
    "ServicePort",
    "ServiceState",
    "WorkloadState",
    "WorkloadSummary",
    "workload_key",
]


def workload_key(namespace: str, name: str) -> str:
    """How guardrails and summaries name a Deployment: ``namespace/name``."""
    return f"{namespace}/{name}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Owner(_Model):
    """An object's controlling owner reference (``controller: true``)."""

    kind: str
    name: str


class ContainerPort(_Model):
    name: str | None = None
    number: int


class ContainerResources(_Model):
    """One container of a pod template: its requests, limits and declared ports."""

    name: str
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    ports: list[ContainerPort] = Field(default_factory=list)


class Revision(_Model):
    """One ReplicaSet of a Deployment's history.

    ``history`` lists the revision numbers this ReplicaSet held before a rollback renumbered it
    (``deployment.kubernetes.io/revision-history``); ``template_hash`` is a digest of its pod
    template without ``pod-template-hash``, comparable with :attr:`WorkloadState.template_hash`.
    """

    number: int
    replicaset: str
    template_hash: str
    history: list[int] = Field(default_factory=list)

    def holds(self, revision: int) -> bool:
        return revision == self.number or revision in self.history


class Autoscaler(_Model):
    """A HorizontalPodAutoscaler whose ``scaleTargetRef`` is the Deployment."""

    name: str
    min_replicas: int | None = None
    max_replicas: int


class NodeInfo(_Model):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    unschedulable: bool = False


class WorkloadState(_Model):
    """A Deployment as observed."""

    replicas: int
    ready_replicas: int = 0
    available_replicas: int = 0
    revision: int | None = None
    template_hash: str
    revisions: list[Revision] = Field(default_factory=list)
    restarted_at: str | None = None
    containers: list[ContainerResources] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict)
    avoid_nodes: list[str] = Field(default_factory=list)
    max_unavailable: int = 0
    """The rolling update's ``maxUnavailable`` resolved against ``replicas`` (all of them for
    ``Recreate``): how many pods a template change takes down at once."""
    services: list[str] = Field(default_factory=list)
    """Services whose selector selects the pod template: the workload is serving."""
    autoscalers: list[Autoscaler] = Field(default_factory=list)
    nodes: list[NodeInfo] = Field(default_factory=list)
    """The cluster's nodes (for placement checks)."""

    def revision_entry(self, revision: int) -> Revision | None:
        return next((r for r in self.revisions if r.holds(revision)), None)

    def container(self, name: str) -> ContainerResources | None:
        return next((c for c in self.containers if c.name == name), None)


class PodState(_Model):
    uid: str
    node: str | None = None
    phase: str = "Unknown"
    ready: bool = False
    deleting: bool = False
    owner: Owner | None = None
    workload: str | None = None
    """The owning Deployment as ``namespace/name``, when the owner chain leads to one."""


class PodOnNode(_Model):
    """A pod bound to a node that a drain would have to evict."""

    namespace: str
    name: str
    uid: str
    ready: bool = False
    deleting: bool = False
    owner: Owner | None = None
    mirror: bool = False
    workload: str | None = None

    @property
    def daemon(self) -> bool:
        return self.owner is not None and self.owner.kind == "DaemonSet"

    @property
    def evictable(self) -> bool:
        """A drain evicts it: not a DaemonSet or mirror pod, not already terminating."""
        return not (self.daemon or self.mirror or self.deleting)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class NodeState(_Model):
    unschedulable: bool = False
    pods: list[PodOnNode] = Field(default_factory=list)

    @property
    def evictable(self) -> list[PodOnNode]:
        return [p for p in self.pods if p.evictable]


class ServicePort(_Model):
    name: str | None = None
    port: int
    target_port: int | str


class ServiceState(_Model):
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    container_ports: list[ContainerPort] = Field(default_factory=list)
    """Ports declared by the containers of the pods the selector selects (empty: unknown)."""

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)


class WorkloadSummary(_Model):
    """A Deployment an action touches: its size, availability and opt-out annotations."""

    namespace: str
    name: str
    replicas: int
    available: int
    max_unavailable: int = 0
    annotations: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return workload_key(self.namespace, self.name)

    @property
    def ref(self) -> TargetRef:
        return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=self.namespace, name=self.name)


class Observed(_Model):
    """A target as a backend saw it just now."""

    target: TargetRef
    exists: bool
    resource_version: str | None = None
    generation: int | None = None
    uid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    controller: Owner | None = None
    """The target's own controlling owner (a pod's ReplicaSet, an operator owning a Deployment)."""
    workload: WorkloadState | None = None
    pod: PodState | None = None
    node: NodeState | None = None
    service: ServiceState | None = None
    workloads: list[WorkloadSummary] = Field(default_factory=list)
    steps: list[Observed] = Field(default_factory=list)
    """A batch: each step's Deployment as observed, in step order (the batch's target is their
    namespace; ``workloads`` then summarises every step's Deployment)."""

    @classmethod
    def missing(cls, target: TargetRef) -> Observed:
        """The snapshot of a target the cluster does not have (404)."""
        return cls(target=target, exists=False)

    def summary(self, key: str) -> WorkloadSummary | None:
        return next((w for w in self.workloads if w.key == key), None)


def rolled_by_drain(observed: Observed) -> set[str]:
    """Deployments (``namespace/name``) whose every available pod is on the node a drain
    empties: evicting them would take the Deployment down, so a careful drain rolls them instead
    (a ``kubectl rollout restart`` after the cordon: the new pods start on other nodes before the
    old ones stop, within the Deployment's own surge and unavailability bounds)."""
    node = observed.node
    if node is None:
        return set()
    out = set()
    for summary in observed.workloads:
        here = sum(p.ready for p in node.evictable if p.workload == summary.key)
        if here > 0 and summary.available - here <= 0:
            out.add(summary.key)
    return out
