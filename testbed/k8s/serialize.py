"""Objects of the simulated cluster as the Kubernetes API serves them (JSON-ready dicts).

Shapes follow the real API closely enough for the official ``kubernetes`` client to deserialize
them into its models (every field those models require is present) and for ``kubectl`` to print
them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..clock import iso
from ..controllers import default_tolerations
from ..events import Event
from ..objects import (
    Deployment,
    Meta,
    Node,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
    Secret,
    Service,
)
from .quantity import format_cpu, format_memory

if TYPE_CHECKING:
    from ..cluster import Cluster

KUBELET_VERSION = "v1.30.4"


def meta_json(meta: Meta, owner: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": meta.name,
        "uid": meta.uid,
        "resourceVersion": str(meta.rv),
        "creationTimestamp": iso(meta.created),
    }
    if meta.namespace is not None:
        out["namespace"] = meta.namespace
    if meta.generation:
        out["generation"] = meta.generation
    if meta.labels:
        out["labels"] = dict(meta.labels)
    if meta.annotations:
        out["annotations"] = dict(meta.annotations)
    if owner:
        out["ownerReferences"] = owner
    if meta.deletion is not None:
        out["deletionTimestamp"] = iso(meta.deletion)
    return out


def namespace_json(meta: Meta) -> dict[str, Any]:
    m = meta_json(meta)
    m.pop("generation", None)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": m,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node_json(cluster: Cluster, node: Node) -> dict[str, Any]:
    meta = meta_json(node.meta)
    meta.pop("generation", None)
    now = iso(cluster.now)
    heartbeat = now if node.kubelet_up else iso(node.heartbeat)
    transition = iso(node.ready_transition)
    unknown = node.ready == "Unknown"

    def cond(type_: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": type_,
            "status": "Unknown" if unknown else "False",
            "reason": "NodeStatusUnknown" if unknown else reason,
            "message": "Kubelet stopped posting node status." if unknown else message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition,
        }

    conditions = [
        cond(
            "MemoryPressure",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        {
            "type": "Ready",
            "status": node.ready,
            "reason": node.ready_reason,
            "message": node.ready_message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition,
        },
    ]
    capacity = {
        "cpu": format_cpu(node.cpu),
        "memory": format_memory(node.memory),
        "pods": str(node.max_pods),
        "ephemeral-storage": "100Gi",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": copy.deepcopy(node.spec),
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": node.address},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": node.meta.uid,
                "machineID": node.meta.uid[:32],
                "systemUUID": node.meta.uid,
                "containerRuntimeVersion": "containerd://1.7.20",
                "kernelVersion": "6.1.0-25-cloud-amd64",
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
            "images": [
                {"names": [image], "sizeBytes": 50_000_000} for image in sorted(node.images)
            ],
        },
    }


def _owner(kind: str, api: str, meta: Meta) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": api,
            "kind": kind,
            "name": meta.name,
            "uid": meta.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def pod_json(cluster: Cluster, pod: Pod) -> dict[str, Any]:
    owner = _owner("ReplicaSet", "apps/v1", pod.rs.meta) if pod.rs is not None else None
    meta = meta_json(pod.meta, owner)
    meta.pop("generation", None)
    if pod.rs is not None:
        meta["generateName"] = f"{pod.rs.name}-"
    if pod.deleting:
        grace = pod.meta.annotations.get("testbed.aiops.dev/grace", "30")
        meta["deletionGracePeriodSeconds"] = int(grace)
        meta.get("annotations", {}).pop("testbed.aiops.dev/grace", None)
        if not meta.get("annotations"):
            meta.pop("annotations", None)
    spec = copy.deepcopy(pod.template.raw["spec"])
    if not spec.get("tolerations"):
        spec["tolerations"] = default_tolerations(cluster.timing.default_toleration_s)
    spec.setdefault("serviceAccountName", "default")
    _service_account_volume(spec, pod.meta.uid)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    if pod.node is not None:
        spec["nodeName"] = pod.node.name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": pod_status(cluster, pod),
    }


SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _service_account_volume(spec: dict[str, Any], uid: str) -> None:
    """The projected token volume the ServiceAccount admission plugin adds to every pod
    (``kubectl drain`` and chaostoolkit-kubernetes read ``spec.volumes``)."""
    name = f"kube-api-access-{uid.replace('-', '')[:5]}"
    namespace = {
        "path": "namespace",
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
    }
    sources = [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [namespace]}},
    ]
    spec["volumes"] = [
        *spec.get("volumes", []),
        {"name": name, "projected": {"sources": sources, "defaultMode": 420}},
    ]
    mount = {"name": name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_PATH}
    for container in spec.get("containers", []):
        container["volumeMounts"] = [*container.get("volumeMounts", []), mount]


def pod_status(cluster: Cluster, pod: Pod) -> dict[str, Any]:
    created = iso(pod.meta.created)
    status: dict[str, Any] = {"phase": pod.phase, "qosClass": _qos(pod)}
    if pod.node is None:
        status["conditions"] = (
            [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": pod.failed_scheduling or "",
                    "lastProbeTime": None,
                    "lastTransitionTime": created,
                }
            ]
            if pod.failed_scheduling
            else []
        )
        return status
    scheduled = iso(pod.scheduled_at or pod.meta.created)
    ready = "True" if pod.ready else "False"
    since = iso(pod.ready_since or pod.running_since or pod.scheduled_at or pod.meta.created)
    status["conditions"] = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": scheduled},
        {"type": "Initialized", "status": "True", "lastTransitionTime": scheduled},
        {
            "type": "Ready",
            "status": ready,
            "lastTransitionTime": since,
            **(
                {}
                if pod.ready
                else {
                    "reason": "ContainersNotReady",
                    "message": f"containers with unready status: "
                    f"[{pod.template.containers[0].name}]",
                }
            ),
        },
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": since},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled},
    ]
    status["hostIP"] = pod.node.address
    status["hostIPs"] = [{"ip": pod.node.address}]
    if pod.address:
        status["podIP"] = pod.address
        status["podIPs"] = [{"ip": pod.address}]
    status["startTime"] = scheduled
    statuses = []
    for i, c in enumerate(pod.template.containers):
        cs: dict[str, Any] = {
            "name": c.name,
            "image": c.image,
            "imageID": f"docker.io/{c.image}@sha256:{pod.template.key}{i}",
            "ready": pod.ready,
            "restartCount": pod.restarts,
            "started": pod.container == "running",
        }
        if pod.container == "running":
            cs["state"] = {"running": {"startedAt": iso(pod.running_since or cluster.now)}}
            cs["containerID"] = f"containerd://{pod.meta.uid.replace('-', '')}{pod.restarts:04d}"
        elif pod.deleting and pod.container != "running":
            cs["state"] = {
                "terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": iso(cluster.now)}
            }
        else:
            reason = pod.waiting_reason or "ContainerCreating"
            waiting: dict[str, Any] = {"reason": reason}
            if reason == "CrashLoopBackOff":
                waiting["message"] = (
                    f"back-off restarting failed container={c.name} "
                    f"pod={pod.name}_{pod.namespace}({pod.meta.uid})"
                )
            cs["state"] = {"waiting": waiting}
        cs["lastState"] = copy.deepcopy(pod.last_state) if pod.last_state else {}
        statuses.append(cs)
    status["containerStatuses"] = statuses
    return status


def _qos(pod: Pod) -> str:
    cs = pod.template.containers
    if all(
        c.cpu_limit
        and c.memory_limit
        and c.cpu_limit == c.cpu_request
        and c.memory_limit == c.memory_request
        for c in cs
    ):
        return "Guaranteed"
    if any(c.cpu_request or c.memory_request or c.cpu_limit or c.memory_limit for c in cs):
        return "Burstable"
    return "BestEffort"


def deployment_json(cluster: Cluster, dep: Deployment) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta_json(dep.meta),
        "spec": copy.deepcopy(dep.spec),
        "status": copy.deepcopy(dep.status) or {"observedGeneration": 0},
    }


def scale_json(dep: Deployment) -> dict[str, Any]:
    meta = meta_json(dep.meta)
    meta.pop("labels", None)
    meta.pop("annotations", None)
    meta.pop("generation", None)
    selector = ",".join(
        f"{k}={v}"
        for k, v in sorted((dep.spec.get("selector") or {}).get("matchLabels", {}).items())
    )
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": meta,
        "spec": {"replicas": dep.replicas},
        "status": {"replicas": dep.status.get("replicas", 0), "selector": selector},
    }


def replicaset_json(cluster: Cluster, rs: ReplicaSet) -> dict[str, Any]:
    owner = _owner("Deployment", "apps/v1", rs.deployment.meta) if rs.deployment else None
    replicas, labeled, ready, available = rs.status
    status: dict[str, Any] = {
        "replicas": replicas,
        "fullyLabeledReplicas": labeled,
        "observedGeneration": rs.meta.generation,
    }
    if ready:
        status["readyReplicas"] = ready
    if available:
        status["availableReplicas"] = available
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta_json(rs.meta, owner),
        "spec": {
            "replicas": rs.replicas,
            "selector": copy.deepcopy(rs.selector_spec),
            "template": copy.deepcopy(rs.template.raw),
        },
        "status": status,
    }


def service_json(cluster: Cluster, svc: Service) -> dict[str, Any]:
    meta = meta_json(svc.meta)
    meta.pop("generation", None)
    spec = copy.deepcopy(svc.spec)
    spec.setdefault("clusterIP", svc.cluster_ip)
    spec.setdefault("clusterIPs", [svc.cluster_ip])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def endpoints_json(cluster: Cluster, svc: Service) -> dict[str, Any]:
    """Endpoints of a Service: its ready and not-ready selected pods with the target port."""
    ns = svc.meta.namespace or ""
    selector = svc.selector
    ready: list[dict[str, Any]] = []
    not_ready: list[dict[str, Any]] = []
    for pod in cluster.pods_in(ns):
        if not selector or pod.node is None or not pod.address:
            continue
        if any(pod.meta.labels.get(k) != v for k, v in selector.items()):
            continue
        address = {
            "ip": pod.address,
            "nodeName": pod.node.name,
            "targetRef": {"kind": "Pod", "name": pod.name, "namespace": ns, "uid": pod.meta.uid},
        }
        (ready if pod.ready and not pod.deleting else not_ready).append(address)
    ports = []
    for p in svc.spec.get("ports") or []:
        target = p.get("targetPort", p["port"])
        if isinstance(target, str):
            pods = [
                q
                for q in cluster.pods_in(ns)
                if all(q.meta.labels.get(k) == v for k, v in selector.items())
            ]
            target = next(
                (
                    q.template.port_numbers().get(target)
                    for q in pods
                    if target in q.template.port_numbers()
                ),
                None,
            )
            if target is None:
                continue
        ports.append({"name": p.get("name"), "port": target, "protocol": p.get("protocol", "TCP")})
    subsets = []
    if ready or not_ready:
        subset: dict[str, Any] = {"ports": ports}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    meta = meta_json(svc.meta)
    meta.pop("generation", None)
    meta.pop("annotations", None)
    meta["resourceVersion"] = str(svc.endpoints_rv or svc.meta.rv)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}


def secret_json(cluster: Cluster, secret: Secret) -> dict[str, Any]:
    meta = meta_json(secret.meta)
    meta.pop("generation", None)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": secret.type,
        "data": dict(secret.data),
    }


def pdb_json(cluster: Cluster, pdb: PodDisruptionBudget) -> dict[str, Any]:
    status = copy.deepcopy(pdb.status)
    status["disruptedPods"] = {
        name: iso(t) for name, t in pdb.disrupted.items() if cluster.now - t < 120
    }
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta_json(pdb.meta),
        "spec": copy.deepcopy(pdb.spec),
        "status": status,
    }


def event_json(event: Event) -> dict[str, Any]:
    inv = event.involved
    involved: dict[str, Any] = {
        "kind": inv.kind,
        "name": inv.name,
        "uid": inv.uid,
        "apiVersion": inv.api_version,
    }
    if inv.namespace:
        involved["namespace"] = inv.namespace
    if inv.field_path:
        involved["fieldPath"] = inv.field_path
    source: dict[str, Any] = {"component": event.component}
    if event.host:
        source["host"] = event.host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event.name,
            "namespace": event.namespace,
            "uid": event.uid,
            "resourceVersion": str(event.rv),
            "creationTimestamp": iso(event.first),
        },
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "count": event.count,
        "firstTimestamp": iso(event.first),
        "lastTimestamp": iso(event.last),
        "source": source,
        "eventTime": None,
        "reportingComponent": event.component,
        "reportingInstance": event.host or "",
    }


def serialize(cluster: Cluster, resource: str, obj: Any) -> dict[str, Any]:
    """Any object by the name of its resource (``pods``, ``nodes``, ...)."""
    if resource == "pods":
        return pod_json(cluster, obj)
    if resource == "nodes":
        return node_json(cluster, obj)
    if resource == "deployments":
        return deployment_json(cluster, obj)
    if resource == "replicasets":
        return replicaset_json(cluster, obj)
    if resource == "services":
        return service_json(cluster, obj)
    if resource == "endpoints":
        return endpoints_json(cluster, obj)
    if resource == "poddisruptionbudgets":
        return pdb_json(cluster, obj)
    if resource == "secrets":
        return secret_json(cluster, obj)
    if resource == "events":
        return event_json(obj)
    if resource == "namespaces":
        return namespace_json(obj.meta)
    if "/" in resource:  # custom objects
        return copy.deepcopy(obj.obj)
    raise KeyError(resource)
