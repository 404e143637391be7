"""The objects of the simulated cluster.

Each holds its Kubernetes metadata and spec as the API serves them, plus the simulation state
the controllers and the traffic model work on. They carry no behaviour beyond small helpers; the
controllers in :mod:`testbed.controllers`, :mod:`testbed.kubelet` and :mod:`testbed.scheduler`
change them through :class:`testbed.cluster.Cluster`, which bumps resource versions and records
watch events.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .k8s.quantity import parse_cpu, parse_memory
from .k8s.selectors import LabelSelector, label_selector_from_spec

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"


def safe_encode(data: bytes, length: int = 10) -> str:
    """Hash ``data`` into Kubernetes' "safe" alphabet (no vowels, no look-alikes)."""
    digest = hashlib.sha256(data).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Meta:
    name: str
    namespace: str | None
    uid: str
    created: float
    rv: int = 0
    generation: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    deletion: float | None = None


@dataclass(frozen=True)
class ContainerTemplate:
    name: str
    image: str
    cpu_request: float
    cpu_limit: float  # 0 = no limit
    memory_request: int
    memory_limit: int  # 0 = no limit
    ports: tuple[tuple[str | None, int], ...]
    readiness_delay: float | None


class PodTemplate:
    """A parsed, immutable pod template (``spec.template`` of a Deployment or ReplicaSet)."""

    __slots__ = (
        "affinity",
        "annotations",
        "containers",
        "cpu_request",
        "key",
        "labels",
        "memory_request",
        "node_selector",
        "raw",
        "termination_grace",
        "tolerations",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        meta = raw.get("metadata") or {}
        spec = raw["spec"]
        self.labels: dict[str, str] = dict(meta.get("labels") or {})
        self.annotations: dict[str, str] = dict(meta.get("annotations") or {})
        containers = []
        for c in spec["containers"]:
            res = c.get("resources") or {}
            req = res.get("requests") or {}
            lim = res.get("limits") or {}
            cpu_lim = parse_cpu(lim["cpu"]) if "cpu" in lim else 0.0
            mem_lim = parse_memory(lim["memory"]) if "memory" in lim else 0
            cpu_req = parse_cpu(req["cpu"]) if "cpu" in req else cpu_lim
            mem_req = parse_memory(req["memory"]) if "memory" in req else mem_lim
            probe = c.get("readinessProbe")
            delay = None
            if isinstance(probe, dict):
                delay = float(probe.get("initialDelaySeconds", 0)) + 1.0
            ports = tuple((p.get("name"), int(p["containerPort"])) for p in c.get("ports") or [])
            containers.append(
                ContainerTemplate(
                    c["name"], c["image"], cpu_req, cpu_lim, mem_req, mem_lim, ports, delay
                )
            )
        self.containers = tuple(containers)
        self.cpu_request = sum(c.cpu_request for c in containers)
        self.memory_request = sum(c.memory_request for c in containers)
        self.node_selector: dict[str, str] = dict(spec.get("nodeSelector") or {})
        self.affinity: dict[str, Any] = spec.get("affinity") or {}
        self.tolerations: list[dict[str, Any]] = list(spec.get("tolerations") or [])
        grace = spec.get("terminationGracePeriodSeconds")
        self.termination_grace: float | None = None if grace is None else float(grace)
        self.key = template_key(raw)

    @property
    def cpu_limit(self) -> float:
        return (
            0.0
            if any(c.cpu_limit == 0 for c in self.containers)
            else sum(c.cpu_limit for c in self.containers)
        )

    @property
    def memory_limit(self) -> int:
        return (
            0
            if any(c.memory_limit == 0 for c in self.containers)
            else sum(c.memory_limit for c in self.containers)
        )

    @property
    def image(self) -> str:
        return self.containers[0].image

    def secret_refs(self) -> list[str]:
        """Names of the Secrets the containers read through ``env[].valueFrom.secretKeyRef``."""
        names: list[str] = []
        for c in self.raw["spec"]["containers"]:
            for env in c.get("env") or []:
                ref = ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                if ref and ref not in names:
                    names.append(ref)
        return names

    def port_numbers(self) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        for c in self.containers:
            for name, number in c.ports:
                out[name] = number
        return out


def template_key(raw: dict[str, Any]) -> str:
    """Identity of a template ignoring the pod-template-hash label (EqualIgnoreHash)."""
    data = json.loads(canonical(raw))
    labels = (data.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH_LABEL, None)
    return safe_encode(canonical(data), 16)


class Node:
    def __init__(
        self,
        meta: Meta,
        index: int,
        cpu: float,
        memory: int,
        max_pods: int,
        spec: dict[str, Any],
    ) -> None:
        self.meta = meta
        self.index = index
        self.cpu = cpu
        self.memory = memory
        self.max_pods = max_pods
        self.spec = spec
        self.kubelet_up = True
        self.ready = "True"  # True | False | Unknown
        self.ready_reason = "KubeletReady"
        self.ready_message = "kubelet is posting ready status"
        self.ready_transition = meta.created
        self.heartbeat = meta.created
        self.images: set[str] = set()
        self.pods: set[Pod] = set()
        self.address = ""

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def unschedulable(self) -> bool:
        return bool(self.spec.get("unschedulable"))

    @property
    def taints(self) -> list[dict[str, Any]]:
        return list(self.spec.get("taints") or [])


class Pod:
    __slots__ = (
        "address",
        "container",
        "crash_streak",
        "error_message",
        "failed_scheduling",
        "last_state",
        "logs",
        "meta",
        "next_schedule_try",
        "node",
        "phase",
        "prev_logs",
        "ready",
        "ready_since",
        "restarts",
        "rs",
        "running_since",
        "scheduled_at",
        "secrets_seen",
        "slot",
        "start_time",
        "template",
        "timer_gen",
        "waiting_reason",
    )

    def __init__(self, meta: Meta, template: PodTemplate, rs: ReplicaSet | None, slot: int) -> None:
        self.meta = meta
        self.template = template
        self.rs = rs
        self.slot = slot
        self.node: Node | None = None
        self.phase = "Pending"
        self.container = "waiting"  # waiting | running | terminated
        self.waiting_reason: str | None = "ContainerCreating"
        self.running_since: float | None = None
        self.last_state: dict[str, Any] | None = None
        self.restarts = 0
        self.crash_streak = 0
        self.error_message: str | None = None
        self.secrets_seen: dict[str, str] = {}
        self.ready = False
        self.ready_since: float | None = None
        self.scheduled_at: float | None = None
        self.start_time: float | None = None
        self.failed_scheduling: str | None = None
        self.next_schedule_try = 0.0
        self.timer_gen = 0
        self.logs: deque[tuple[float, str]] = deque(maxlen=2000)
        self.prev_logs: deque[tuple[float, str]] = deque(maxlen=2000)
        self.address = ""

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def namespace(self) -> str:
        assert self.meta.namespace is not None
        return self.meta.namespace

    @property
    def deleting(self) -> bool:
        return self.meta.deletion is not None

    @property
    def active(self) -> bool:
        """Counted by its ReplicaSet (not terminating, not finished)."""
        return self.meta.deletion is None and self.phase not in ("Succeeded", "Failed")

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class ReplicaSet:
    def __init__(
        self, meta: Meta, deployment: Deployment | None, template: PodTemplate, replicas: int
    ) -> None:
        self.meta = meta
        self.deployment = deployment
        self.template = template
        self.replicas = replicas
        self.pods: set[Pod] = set()
        self.selector_spec: dict[str, Any] = {"matchLabels": dict(template.labels)}
        self.status: tuple[int, int, int, int] = (0, 0, 0, 0)  # replicas, labeled, ready, avail

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def revision(self) -> int:
        try:
            return int(self.meta.annotations.get(REVISION_ANNOTATION, "0"))
        except ValueError:
            return 0

    def active_pods(self) -> list[Pod]:
        return [p for p in self.pods if p.active]


class Deployment:
    def __init__(self, meta: Meta, spec: dict[str, Any]) -> None:
        self.meta = meta
        self.replicasets: dict[str, ReplicaSet] = {}
        self.spec: dict[str, Any] = {}
        self.template: PodTemplate
        self.selector: LabelSelector
        self.observed_generation = 0
        self.status: dict[str, Any] = {}
        self.conditions: dict[str, dict[str, Any]] = {}
        self.last_progress = meta.created
        self.set_spec(spec)

    def set_spec(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.template = PodTemplate(spec["template"])
        self.selector = label_selector_from_spec(spec.get("selector"))

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def replicas(self) -> int:
        return int(self.spec.get("replicas", 1))


class Service:
    def __init__(self, meta: Meta, spec: dict[str, Any]) -> None:
        self.meta = meta
        self.spec = spec
        self.cluster_ip = ""
        self.endpoints_rv = 0
        self.endpoints_signature: tuple[tuple[str, bool], ...] = ()

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def selector(self) -> dict[str, str]:
        return dict(self.spec.get("selector") or {})

    def target_ports(self) -> list[int | str]:
        return [p.get("targetPort", p["port"]) for p in self.spec.get("ports") or []]


class Secret:
    """A Secret: ``data`` holds base64-encoded values, as the API serves them."""

    def __init__(self, meta: Meta, data: dict[str, str], type_: str = "Opaque") -> None:
        self.meta = meta
        self.data = data
        self.type = type_

    @property
    def name(self) -> str:
        return self.meta.name

    def fingerprint(self) -> str:
        """What a container that read this Secret at start remembers of it."""
        return safe_encode(canonical(self.data), 12)


class PodDisruptionBudget:
    def __init__(self, meta: Meta, spec: dict[str, Any]) -> None:
        self.meta = meta
        self.spec = spec
        self.status: dict[str, Any] = {}
        self.disrupted: dict[str, float] = {}

    @property
    def selector(self) -> LabelSelector:
        return label_selector_from_spec(self.spec.get("selector"), none_matches_all=False)


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """``maxSurge`` / ``minAvailable`` style values: an int, or a percentage of ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    pct = int(str(value).rstrip("%"))
    scaled = pct * total / 100.0
    if round_up:
        return int(-(-scaled // 1))
    return int(scaled // 1)
