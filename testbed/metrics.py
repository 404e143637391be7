"""``/metrics``: the cluster in Prometheus exposition format, under the ecosystem's own names.

* **kube-state-metrics** for objects (``kube_pod_status_phase``, ``kube_deployment_spec_replicas``,
  ``kube_node_status_condition``, ...);
* **cAdvisor** (as scraped from the kubelets, with the ``node`` label Prometheus' usual relabelling
  adds) for containers, plus the root cgroup (``id="/"``) of every node;
* **Istio** standard metrics for calls between workloads, reported by the calling side
  (``reporter="source"``; the ingress gateway calls the entry service).

Pods on a node whose kubelet is down have no cAdvisor series, as on a real cluster. The ground
truth (faults) is never exposed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .traffic import BUCKETS_MS, CODES, INGRESS

if TYPE_CHECKING:
    from .cluster import Cluster

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return f"{v:.10g}"


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> None:
        self.parts.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n")

    def add(self, text: str) -> None:
        self.parts.append(text)


def render(cluster: Cluster) -> str:
    """The whole exposition. Call with ``cluster.lock`` held."""
    out = _Out()
    _nodes(cluster, out)
    _pods(cluster, out)
    _workloads(cluster, out)
    _cadvisor(cluster, out)
    _istio(cluster, out)
    return "".join(out.parts)


def _nodes(cluster: Cluster, out: _Out) -> None:
    nodes = cluster.node_list
    out.family("kube_node_info", "gauge", "Information about a cluster node.")
    out.add(
        "".join(
            f'kube_node_info{{node="{n.name}",internal_ip="{n.address}",kubelet_version="v1.30.4",'
            f'container_runtime_version="containerd://1.7.20",provider_id="testbed://{n.name}"}} 1\n'
            for n in nodes
        )
    )
    out.family("kube_node_labels", "gauge", "Kubernetes labels converted to Prometheus labels.")
    lines = []
    for n in nodes:
        labels = ",".join(
            f'label_{k.replace(".", "_").replace("/", "_").replace("-", "_")}="{_esc(v)}"'
            for k, v in sorted(n.meta.labels.items())
        )
        lines.append(f'kube_node_labels{{node="{n.name}",{labels}}} 1\n')
    out.add("".join(lines))
    out.family("kube_node_status_condition", "gauge", "The condition of a cluster node.")
    lines = []
    for n in nodes:
        conds = {
            "Ready": n.ready.lower(),
            "MemoryPressure": "false",
            "DiskPressure": "false",
            "PIDPressure": "false",
        }
        if n.ready == "Unknown":
            conds.update(MemoryPressure="unknown", DiskPressure="unknown", PIDPressure="unknown")
        for cond, status in conds.items():
            for value in ("true", "false", "unknown"):
                lines.append(
                    f'kube_node_status_condition{{node="{n.name}",condition="{cond}",'
                    f'status="{value}"}} {1 if value == status else 0}\n'
                )
    out.add("".join(lines))
    out.family("kube_node_spec_unschedulable", "gauge", "Whether a node can schedule new pods.")
    out.add(
        "".join(
            f'kube_node_spec_unschedulable{{node="{n.name}"}} {int(n.unschedulable)}\n'
            for n in nodes
        )
    )
    out.family("kube_node_spec_taint", "gauge", "The taint of a cluster node.")
    out.add(
        "".join(
            f'kube_node_spec_taint{{node="{n.name}",key="{_esc(t.get("key", ""))}",'
            f'value="{_esc(t.get("value") or "")}",effect="{t.get("effect", "")}"}} 1\n'
            for n in nodes
            for t in n.taints
        )
    )
    for family, help_ in (
        ("kube_node_status_capacity", "The capacity for different resources."),
        ("kube_node_status_allocatable", "The allocatable resources."),
    ):
        out.family(family, "gauge", help_)
        out.add(
            "".join(
                f'{family}{{node="{n.name}",resource="cpu",unit="core"}} {_num(n.cpu)}\n'
                f'{family}{{node="{n.name}",resource="memory",unit="byte"}} {n.memory}\n'
                f'{family}{{node="{n.name}",resource="pods",unit="integer"}} {n.max_pods}\n'
                for n in nodes
            )
        )


def _pods(cluster: Cluster, out: _Out) -> None:
    pods = list(cluster.pods.values())
    ids = [f'namespace="{p.namespace}",pod="{p.name}",uid="{p.meta.uid}"' for p in pods]
    out.family("kube_pod_info", "gauge", "Information about pod.")
    lines = []
    for p, pid in zip(pods, ids, strict=True):
        node = p.node.name if p.node else ""
        host = p.node.address if p.node else ""
        owner = p.rs.name if p.rs else "<none>"
        kind = "ReplicaSet" if p.rs else "<none>"
        lines.append(
            f'kube_pod_info{{{pid},node="{node}",host_ip="{host}",pod_ip="{p.address}",'
            f'created_by_kind="{kind}",created_by_name="{owner}",priority_class=""}} 1\n'
        )
    out.add("".join(lines))
    out.family("kube_pod_owner", "gauge", "Information about the Pod's owner.")
    out.add(
        "".join(
            f'kube_pod_owner{{{pid},owner_kind="ReplicaSet",owner_name="{p.rs.name}",'
            f'owner_is_controller="true"}} 1\n'
            if p.rs
            else f'kube_pod_owner{{{pid},owner_kind="<none>",owner_name="<none>",'
            f'owner_is_controller="<none>"}} 1\n'
            for p, pid in zip(pods, ids, strict=True)
        )
    )
    out.family("kube_pod_labels", "gauge", "Kubernetes labels converted to Prometheus labels.")
    out.add(
        "".join(
            f'kube_pod_labels{{{pid},label_app="{_esc(p.meta.labels.get("app", ""))}",'
            f'label_pod_template_hash="{p.meta.labels.get("pod-template-hash", "")}"}} 1\n'
            for p, pid in zip(pods, ids, strict=True)
        )
    )
    out.family("kube_pod_status_phase", "gauge", "The pods current phase.")
    out.add(
        "".join(
            "".join(
                f'kube_pod_status_phase{{{pid},phase="{ph}"}} {1 if ph == p.phase else 0}\n'
                for ph in PHASES
            )
            for p, pid in zip(pods, ids, strict=True)
        )
    )
    out.family("kube_pod_status_ready", "gauge", "Describes whether the pod is ready.")
    out.add(
        "".join(
            f'kube_pod_status_ready{{{pid},condition="true"}} {int(p.ready)}\n'
            f'kube_pod_status_ready{{{pid},condition="false"}} {int(not p.ready)}\n'
            f'kube_pod_status_ready{{{pid},condition="unknown"}} 0\n'
            for p, pid in zip(pods, ids, strict=True)
        )
    )
    out.family("kube_pod_status_unschedulable", "gauge", "Describes the unschedulable status.")
    out.add(
        "".join(
            f"kube_pod_status_unschedulable{{{pid}}} 1\n"
            for p, pid in zip(pods, ids, strict=True)
            if p.failed_scheduling
        )
    )
    out.family("kube_pod_deletion_timestamp", "gauge", "Unix deletion timestamp.")
    out.add(
        "".join(
            f"kube_pod_deletion_timestamp{{{pid}}} {int(p.meta.deletion)}\n"
            for p, pid in zip(pods, ids, strict=True)
            if p.meta.deletion is not None
        )
    )
    cids = [
        f'{pid},container="{p.template.containers[0].name}"'
        for p, pid in zip(pods, ids, strict=True)
    ]
    out.family("kube_pod_container_info", "gauge", "Information about a container in a pod.")
    out.add(
        "".join(
            f'kube_pod_container_info{{{cid},image="{p.template.image}"}} 1\n'
            for p, cid in zip(pods, cids, strict=True)
        )
    )
    out.family("kube_pod_container_status_ready", "gauge", "Whether the container is ready.")
    out.add(
        "".join(
            f"kube_pod_container_status_ready{{{cid}}} {int(p.ready)}\n"
            for p, cid in zip(pods, cids, strict=True)
        )
    )
    out.family("kube_pod_container_status_running", "gauge", "Whether the container is running.")
    out.add(
        "".join(
            f"kube_pod_container_status_running{{{cid}}} {int(p.container == 'running')}\n"
            for p, cid in zip(pods, cids, strict=True)
        )
    )
    out.family(
        "kube_pod_container_status_restarts_total",
        "counter",
        "The number of container restarts per container.",
    )
    out.add(
        "".join(
            f"kube_pod_container_status_restarts_total{{{cid}}} {p.restarts}\n"
            for p, cid in zip(pods, cids, strict=True)
        )
    )
    out.family(
        "kube_pod_container_status_waiting_reason",
        "gauge",
        "Describes the reason the container is currently in waiting state.",
    )
    out.add(
        "".join(
            f'kube_pod_container_status_waiting_reason{{{cid},reason="{p.waiting_reason or "ContainerCreating"}"}} 1\n'
            for p, cid in zip(pods, cids, strict=True)
            if p.container == "waiting" and p.node is not None
        )
    )
    out.family(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
    )
    out.add(
        "".join(
            f'kube_pod_container_status_last_terminated_reason{{{cid},reason="{p.last_state["terminated"]["reason"]}"}} 1\n'
            for p, cid in zip(pods, cids, strict=True)
            if p.last_state
        )
    )
    for family, which in (
        ("kube_pod_container_resource_requests", "request"),
        ("kube_pod_container_resource_limits", "limit"),
    ):
        out.family(family, "gauge", f"The number of {which}ed resource by a container.")
        lines = []
        for p, cid in zip(pods, cids, strict=True):
            c = p.template.containers[0]
            node = p.node.name if p.node else ""
            cpu = c.cpu_request if which == "request" else c.cpu_limit
            mem = c.memory_request if which == "request" else c.memory_limit
            if cpu:
                lines.append(
                    f'{family}{{{cid},node="{node}",resource="cpu",unit="core"}} {_num(cpu)}\n'
                )
            if mem:
                lines.append(
                    f'{family}{{{cid},node="{node}",resource="memory",unit="byte"}} {mem}\n'
                )
        out.add("".join(lines))


def _workloads(cluster: Cluster, out: _Out) -> None:
    deps = list(cluster.deployments.values())
    ids = [f'namespace="{d.meta.namespace}",deployment="{d.name}"' for d in deps]
    gauges = (
        (
            "kube_deployment_spec_replicas",
            "Number of desired pods for a deployment.",
            lambda d: d.replicas,
        ),
        (
            "kube_deployment_status_replicas",
            "The number of replicas per deployment.",
            lambda d: d.status.get("replicas", 0),
        ),
        (
            "kube_deployment_status_replicas_ready",
            "The number of ready replicas per deployment.",
            lambda d: d.status.get("readyReplicas", 0),
        ),
        (
            "kube_deployment_status_replicas_available",
            "The number of available replicas per deployment.",
            lambda d: d.status.get("availableReplicas", 0),
        ),
        (
            "kube_deployment_status_replicas_unavailable",
            "The number of unavailable replicas per deployment.",
            lambda d: d.status.get("unavailableReplicas", 0),
        ),
        (
            "kube_deployment_status_replicas_updated",
            "The number of updated replicas per deployment.",
            lambda d: d.status.get("updatedReplicas", 0),
        ),
        (
            "kube_deployment_status_observed_generation",
            "The generation observed by the deployment controller.",
            lambda d: d.status.get("observedGeneration", 0),
        ),
        (
            "kube_deployment_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            lambda d: d.meta.generation,
        ),
    )
    for name, help_, get in gauges:
        out.family(name, "gauge", help_)
        out.add("".join(f"{name}{{{i}}} {get(d)}\n" for d, i in zip(deps, ids, strict=True)))
    out.family(
        "kube_deployment_status_condition",
        "gauge",
        "The current status conditions of a deployment.",
    )
    lines = []
    for d, i in zip(deps, ids, strict=True):
        for cond in d.conditions.values():
            for value in ("true", "false", "unknown"):
                lines.append(
                    f'kube_deployment_status_condition{{{i},condition="{cond["type"]}",'
                    f'status="{value}"}} {int(cond["status"].lower() == value)}\n'
                )
    out.add("".join(lines))
    rss = list(cluster.replicasets.values())
    rids = [f'namespace="{r.meta.namespace}",replicaset="{r.name}"' for r in rss]
    out.family("kube_replicaset_spec_replicas", "gauge", "Number of desired pods for a ReplicaSet.")
    out.add(
        "".join(
            f"kube_replicaset_spec_replicas{{{i}}} {r.replicas}\n"
            for r, i in zip(rss, rids, strict=True)
        )
    )
    out.family(
        "kube_replicaset_status_ready_replicas",
        "gauge",
        "The number of ready replicas per ReplicaSet.",
    )
    out.add(
        "".join(
            f"kube_replicaset_status_ready_replicas{{{i}}} {r.status[2]}\n"
            for r, i in zip(rss, rids, strict=True)
        )
    )
    out.family("kube_replicaset_owner", "gauge", "Information about the ReplicaSet's owner.")
    out.add(
        "".join(
            f'kube_replicaset_owner{{{i},owner_kind="Deployment",owner_name="{r.deployment.name}",'
            f'owner_is_controller="true"}} 1\n'
            for r, i in zip(rss, rids, strict=True)
            if r.deployment is not None
        )
    )
    out.family("kube_service_info", "gauge", "Information about service.")
    out.add(
        "".join(
            f'kube_service_info{{namespace="{s.meta.namespace}",service="{s.name}",'
            f'cluster_ip="{s.cluster_ip}",uid="{s.meta.uid}"}} 1\n'
            for s in cluster.services.values()
        )
    )
    pdbs = list(cluster.pdbs.values())
    for name, key in (
        ("kube_poddisruptionbudget_status_current_healthy", "currentHealthy"),
        ("kube_poddisruptionbudget_status_desired_healthy", "desiredHealthy"),
        ("kube_poddisruptionbudget_status_pod_disruptions_allowed", "disruptionsAllowed"),
        ("kube_poddisruptionbudget_status_expected_pods", "expectedPods"),
    ):
        out.family(name, "gauge", f"PodDisruptionBudget status: {key}.")
        out.add(
            "".join(
                f'{name}{{namespace="{p.meta.namespace}",poddisruptionbudget="{p.meta.name}"}} '
                f"{p.status.get(key, 0)}\n"
                for p in pdbs
            )
        )


def _cadvisor(cluster: Cluster, out: _Out) -> None:
    A = cluster.arrays
    pods = [
        p
        for p in cluster.pods.values()
        if p.node is not None and p.node.kubelet_up and p.container == "running"
    ]
    ids = [
        f'namespace="{p.namespace}",pod="{p.name}",container="{p.template.containers[0].name}"'
        f',node="{p.node.name}",image="{p.template.image}"'
        for p in pods
        if p.node
    ]
    slots = np.array([p.slot for p in pods], dtype=np.int64)
    cpu = A.cpu_total[slots].tolist()
    mem = A.mem_ws[slots].tolist()
    periods = A.periods[slots].tolist()
    throttled = A.throttled[slots].tolist()
    ooms = A.oom_events[slots].tolist()
    nodes = [n for n in cluster.node_list if n.kubelet_up]
    out.family(
        "container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."
    )
    out.add(
        "".join(
            f'container_cpu_usage_seconds_total{{id="/",node="{n.name}"}} '
            f"{_num(A.node_cpu_total[n.index])}\n"
            for n in nodes
        )
    )
    out.add(
        "".join(
            f"container_cpu_usage_seconds_total{{{i}}} {_num(v)}\n"
            for i, v in zip(ids, cpu, strict=True)
        )
    )
    out.family("container_memory_working_set_bytes", "gauge", "Current working set in bytes.")
    out.add(
        "".join(
            f"container_memory_working_set_bytes{{{i}}} {int(v)}\n"
            for i, v in zip(ids, mem, strict=True)
        )
    )
    out.family(
        "container_cpu_cfs_periods_total",
        "counter",
        "Number of elapsed enforcement period intervals.",
    )
    out.add(
        "".join(
            f"container_cpu_cfs_periods_total{{{i}}} {int(v)}\n"
            for i, v in zip(ids, periods, strict=True)
        )
    )
    out.family(
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        "Number of throttled period intervals.",
    )
    out.add(
        "".join(
            f"container_cpu_cfs_throttled_periods_total{{{i}}} {int(v)}\n"
            for i, v in zip(ids, throttled, strict=True)
        )
    )
    out.family(
        "container_oom_events_total",
        "counter",
        "Count of out of memory events observed for the container.",
    )
    out.add(
        "".join(
            f"container_oom_events_total{{{i}}} {int(v)}\n" for i, v in zip(ids, ooms, strict=True)
        )
    )
    out.family("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.")
    out.add(
        "".join(
            f"container_spec_memory_limit_bytes{{{i}}} {p.template.memory_limit}\n"
            for p, i in zip(pods, ids, strict=True)
        )
    )
    out.family("container_spec_cpu_quota", "gauge", "CPU quota of the container.")
    out.add(
        "".join(
            f"container_spec_cpu_quota{{{i}}} {int(p.template.cpu_limit * 100000)}\n"
            for p, i in zip(pods, ids, strict=True)
            if p.template.cpu_limit
        )
    )
    out.family("machine_cpu_cores", "gauge", "Number of logical CPU cores.")
    out.add("".join(f'machine_cpu_cores{{node="{n.name}"}} {_num(n.cpu)}\n' for n in nodes))
    out.family("machine_memory_bytes", "gauge", "Amount of memory installed on the machine.")
    out.add("".join(f'machine_memory_bytes{{node="{n.name}"}} {n.memory}\n' for n in nodes))


def _istio(cluster: Cluster, out: _Out) -> None:
    tr = cluster.traffic
    comps = tr.components
    requests = tr.requests
    hist = tr.hist
    hist_sum = tr.hist_sum
    les = [f"{b:g}" for b in BUCKETS_MS]
    ids = []
    for edge in tr.edges:
        dst = comps[edge.dst]
        src = comps[edge.src].name if edge.src >= 0 else INGRESS
        src_ns = edge.namespace if edge.src >= 0 else "istio-system"
        ids.append(
            f'reporter="source",source_workload="{src}",source_workload_namespace='
            f'"{src_ns}",destination_workload="{dst.name}",destination_workload_namespace='
            f'"{edge.namespace}",destination_service="{dst.name}.{edge.namespace}.svc.'
            f'cluster.local"'
        )
    present = np.argwhere(requests >= 1.0).tolist()
    out.family("istio_requests_total", "counter", "Total requests.")
    out.add(
        "".join(
            f'istio_requests_total{{{ids[e]},response_code="{CODES[k]}"}} {int(requests[e, k])}\n'
            for e, k in present
        )
    )
    out.family("istio_request_duration_milliseconds", "histogram", "Request duration.")
    lines = []
    for e, k in present:
        lbl = f'{ids[e]},response_code="{CODES[k]}"'
        counts = hist[e, k].tolist()
        for le, v in zip(les, counts, strict=True):
            lines.append(
                f'istio_request_duration_milliseconds_bucket{{{lbl},le="{le}"}} {int(v)}\n'
            )
        total = int(requests[e, k])
        lines.append(f'istio_request_duration_milliseconds_bucket{{{lbl},le="+Inf"}} {total}\n')
        lines.append(f"istio_request_duration_milliseconds_sum{{{lbl}}} {_num(hist_sum[e, k])}\n")
        lines.append(f"istio_request_duration_milliseconds_count{{{lbl}}} {total}\n")
    out.add("".join(lines))
