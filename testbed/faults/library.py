"""The fault library: eighteen faults modelled on AIOpsLab's and ITBench's, each a documented
ground truth (what it does, its symptoms, root cause, label, mitigations).

Every fault takes its target, onset and strength as parameters; none is tied to a service of
the default application. Names in images, events and logs never reveal a fault: a bad release
is just the next version of the image.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .actions import (
    b64,
    container,
    deployment,
    live_pods,
    next_version,
    patch_deployment,
    pick_pods,
    restart,
    restore_deployment,
    rng_for,
)
from .behaviour import Rule
from .model import ActiveFault, FaultDef, FaultError, Strength

if TYPE_CHECKING:
    from ..cluster import Cluster
    from ..objects import Node


def _behaviours(cluster: Cluster) -> Any:
    return cluster.behaviours


def _add_rule(cluster: Cluster, fault: ActiveFault, rule: Rule) -> None:
    fault.undo.setdefault("rules", []).append(rule)
    _behaviours(cluster).add(rule)


def _drop_rules(cluster: Cluster, fault: ActiveFault) -> None:
    for rule in fault.undo.pop("rules", []):
        _behaviours(cluster).remove(rule)


def _svc(fault: ActiveFault) -> str:
    assert fault.target.service is not None
    return fault.target.service


# ---------------------------------------------------------------------- pods


def _pod_kill(cluster: Cluster, fault: ActiveFault) -> None:
    pods = pick_pods(cluster, fault, int(fault.strength))
    fault.undo["pods"] = [p.name for p in pods]
    for pod in pods:
        cluster.delete_pod(pod)


def _nothing(cluster: Cluster, fault: ActiveFault) -> None:
    return None


def _pod_failure(cluster: Cluster, fault: ActiveFault) -> None:
    pods = pick_pods(cluster, fault, int(fault.strength))
    fault.undo["pods"] = [p.name for p in pods]
    _add_rule(
        cluster,
        fault,
        Rule(
            fault.target.namespace,
            _svc(fault),
            hang=True,
            unready_now=True,
            pod_uids=frozenset(p.meta.uid for p in pods),
        ),
    )


def _drop(cluster: Cluster, fault: ActiveFault) -> None:
    _drop_rules(cluster, fault)


def _crash_loop(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)
    path = f"/etc/{dep.name}/config.v2.yaml"

    def mutate(spec: dict[str, Any]) -> None:
        env = container(spec).setdefault("env", [])
        env[:] = [e for e in env if e.get("name") != "CONFIG_PATH"]
        env.append({"name": "CONFIG_PATH", "value": path})

    fault.undo["spec"] = patch_deployment(cluster, dep, mutate)
    _add_rule(
        cluster,
        fault,
        Rule(
            fault.target.namespace,
            dep.name,
            template_key=dep.template.key,
            crash_after_s=fault.strength,
            crash_exit_code=2,
            crash_log=f"panic: load configuration: open {path}: no such file or directory",
        ),
    )


def _restore_spec(cluster: Cluster, fault: ActiveFault) -> None:
    _drop_rules(cluster, fault)
    spec = fault.undo.pop("spec", None)
    if spec is not None:
        restore_deployment(cluster, deployment(cluster, fault), spec)


def _memory_leak(cluster: Cluster, fault: ActiveFault) -> None:
    _add_rule(
        cluster,
        fault,
        Rule(fault.target.namespace, _svc(fault), leak_bytes_per_s=fault.strength * 2**20 / 60),
    )


def _cpu_stress(cluster: Cluster, fault: ActiveFault) -> None:
    pods = pick_pods(cluster, fault, 1)
    fault.undo["pods"] = [p.name for p in pods]
    _add_rule(
        cluster,
        fault,
        Rule(
            fault.target.namespace,
            _svc(fault),
            stress_cores=fault.strength,
            pod_uids=frozenset(p.meta.uid for p in pods),
        ),
    )


# ---------------------------------------------------------------------- network


def _edge(cluster: Cluster, fault: ActiveFault) -> int:
    t = fault.target
    assert t.source is not None and t.destination is not None
    try:
        return cluster.traffic.edge_between(t.namespace, t.source, t.destination)
    except KeyError:
        raise FaultError(f"{t.source} does not call {t.destination} in {t.namespace}") from None


def _network(cluster: Cluster, fault: ActiveFault) -> None:
    """Chaos Mesh picks the source pods at injection; pods created later are not affected."""
    t = fault.target
    assert t.source is not None
    pods = live_pods(cluster, t.namespace, t.source)
    fault.undo["edge"] = _edge(cluster, fault)
    fault.undo["uids"] = {p.meta.uid for p in pods}
    _network_tick(cluster, fault)


def _network_tick(cluster: Cluster, fault: ActiveFault) -> None:
    t = fault.target
    assert t.source is not None
    pods = [p for p in live_pods(cluster, t.namespace, t.source) if p.ready]
    affected = sum(1 for p in pods if p.meta.uid in fault.undo["uids"])
    share = affected / len(pods) if pods else 0.0
    edge = fault.undo["edge"]
    if fault.fault.name == "network-delay":
        cluster.traffic.edge_delay_s[edge] = fault.strength / 1000.0 * share
    else:
        cluster.traffic.edge_loss[edge] = fault.strength / 100.0 * share


def _network_revert(cluster: Cluster, fault: ActiveFault) -> None:
    edge = fault.undo.get("edge")
    if edge is None:
        return
    if fault.fault.name == "network-delay":
        cluster.traffic.edge_delay_s[edge] = 0.0
    else:
        cluster.traffic.edge_loss[edge] = 0.0


# ---------------------------------------------------------------------- configuration


def _service_port(cluster: Cluster, fault: ActiveFault) -> None:
    ns, name = fault.target.namespace, _svc(fault)
    svc = cluster.services.get((ns, name))
    if svc is None:
        raise FaultError(f"no service {ns}/{name}")
    fault.undo["service_spec"] = copy.deepcopy(svc.spec)
    spec = copy.deepcopy(svc.spec)
    port = spec["ports"][0]
    target = port.get("targetPort", port["port"])
    port["targetPort"] = (target + 1) if isinstance(target, int) else port["port"] + 1
    cluster.apply_service(
        ns, name, {"labels": svc.meta.labels, "annotations": svc.meta.annotations}, spec
    )


def _service_port_revert(cluster: Cluster, fault: ActiveFault) -> None:
    ns, name = fault.target.namespace, _svc(fault)
    svc = cluster.services.get((ns, name))
    spec = fault.undo.pop("service_spec", None)
    if svc is not None and spec is not None:
        cluster.apply_service(
            ns, name, {"labels": svc.meta.labels, "annotations": svc.meta.annotations}, spec
        )


def _bad_release(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)
    image = next_version(dep.template.image, minor=True)
    _add_rule(
        cluster,
        fault,
        Rule(
            fault.target.namespace,
            dep.name,
            image=image,
            error=fault.strength,
            error_message="decode response: json: cannot unmarshal string into Go struct field "
            "Item.price of type float64",
        ),
    )
    fault.undo["spec"] = patch_deployment(
        cluster, dep, lambda spec: container(spec).__setitem__("image", image)
    )


def _scale_zero(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)
    fault.undo["spec"] = patch_deployment(cluster, dep, lambda s: s.__setitem__("replicas", 0))


def _scale_back(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)
    spec = fault.undo.pop("spec", None)
    if spec is not None and dep.replicas == 0:
        patch_deployment(cluster, dep, lambda s: s.__setitem__("replicas", spec["replicas"]))


def _node_selector(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)

    def mutate(spec: dict[str, Any]) -> None:
        spec["template"]["spec"]["nodeSelector"] = {"nodepool": "highmem"}
        spec["strategy"] = {"type": "Recreate"}

    fault.undo["spec"] = patch_deployment(cluster, dep, mutate)


def _cpu_limit(cluster: Cluster, fault: ActiveFault) -> None:
    dep = deployment(cluster, fault)
    millis = max(1, round(fault.strength * 1000))

    def mutate(spec: dict[str, Any]) -> None:
        res = container(spec).setdefault("resources", {})
        res.setdefault("limits", {})["cpu"] = f"{millis}m"
        requests = res.setdefault("requests", {})
        requests["cpu"] = f"{millis}m"

    fault.undo["spec"] = patch_deployment(cluster, dep, mutate)


def _db_auth(cluster: Cluster, fault: ActiveFault) -> None:
    """Rotate the database's password and restart it; its clients keep the old one."""
    ns, name = fault.target.namespace, _svc(fault)
    secret = cluster.secrets.get((ns, f"{name}-credentials"))
    if secret is None:
        raise FaultError(f"service {ns}/{name} takes no credentials (no Secret {name}-credentials)")
    fault.undo["data"] = dict(secret.data)
    password = "".join(
        rng_for(cluster, fault).choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(20)
    )
    cluster.apply_secret(
        ns, secret.name, {"labels": secret.meta.labels}, {**secret.data, "password": b64(password)}
    )
    restart(cluster, deployment(cluster, fault))


def _db_auth_revert(cluster: Cluster, fault: ActiveFault) -> None:
    ns, name = fault.target.namespace, _svc(fault)
    data = fault.undo.pop("data", None)
    secret = cluster.secrets.get((ns, f"{name}-credentials"))
    if data is None or secret is None:
        return
    cluster.apply_secret(ns, secret.name, {"labels": secret.meta.labels}, data)
    inst = cluster.apps[cluster.traffic.app_index(ns)]
    for service in [name, *inst.spec.callers(name)]:
        restart(cluster, deployment(cluster, fault, service))


# ---------------------------------------------------------------------- nodes


def _node(cluster: Cluster, fault: ActiveFault) -> Node:
    node = cluster.nodes.get(fault.target.node or "")
    if node is None:
        raise FaultError(f"no node {fault.target.node!r}")
    return node


def _node_failure(cluster: Cluster, fault: ActiveFault) -> None:
    cluster.fail_node(_node(cluster, fault).name)


def _node_recover(cluster: Cluster, fault: ActiveFault) -> None:
    cluster.recover_node(_node(cluster, fault).name)


def _set_unschedulable(cluster: Cluster, node: Node, value: bool) -> None:
    spec = copy.deepcopy(node.spec)
    spec["unschedulable"] = value
    cluster.patch_node(node, node.meta.labels, node.meta.annotations, spec)


def _cordon_capacity(cluster: Cluster, fault: ActiveFault) -> None:
    """Cordon all but ``strength`` nodes and drain them: the rest cannot hold every pod."""
    keep = max(1, int(fault.strength))
    nodes = [n for n in cluster.node_list if not n.unschedulable]
    if len(nodes) <= keep:
        raise FaultError(f"only {len(nodes)} schedulable node(s); nothing to cordon")
    drained = nodes[keep:]
    fault.undo["nodes"] = [n.name for n in drained]
    for node in drained:
        _set_unschedulable(cluster, node, True)
        for pod in sorted(node.pods, key=lambda p: (p.namespace, p.name)):
            cluster.delete_pod(pod)
    fault.root_name = ",".join(n.name for n in drained)


def _uncordon(cluster: Cluster, fault: ActiveFault) -> None:
    for name in fault.undo.pop("nodes", []):
        node = cluster.nodes.get(name)
        if node is not None and node.unschedulable:
            _set_unschedulable(cluster, node, False)


def _noisy_neighbour(cluster: Cluster, fault: ActiveFault) -> None:
    node = _node(cluster, fault)
    cluster.arrays.node_extra[node.index] = fault.strength * node.cpu


def _quiet_neighbour(cluster: Cluster, fault: ActiveFault) -> None:
    cluster.arrays.node_extra[_node(cluster, fault).index] = 0.0


# ---------------------------------------------------------------------- load


def _load_key(fault: ActiveFault) -> str:
    return f"fault:{fault.id}"


def _load_flood(cluster: Cluster, fault: ActiveFault) -> None:
    app = cluster.traffic.app_index(fault.target.namespace)
    cluster.traffic.set_load_factor(_load_key(fault), app, fault.strength)


def _load_revert(cluster: Cluster, fault: ActiveFault) -> None:
    app = cluster.traffic.app_index(fault.target.namespace)
    cluster.traffic.set_load_factor(_load_key(fault), app, 1.0)


def _demand_growth_tick(cluster: Cluster, fault: ActiveFault) -> None:
    app = cluster.traffic.app_index(fault.target.namespace)
    hours = max(0.0, cluster.now - fault.onset) / 3600.0
    cluster.traffic.set_load_factor(_load_key(fault), app, 1.0 + fault.strength * hours)


# ---------------------------------------------------------------------- the catalogue

_RESTART = "rollout restart of the deployment (the replacement pods are not affected)"

FAULTS: dict[str, FaultDef] = {
    f.name: f
    for f in (
        FaultDef(
            name="pod-kill",
            title="Pod kill",
            system_level="Virtualization",
            fault_type="Operation Error",
            target="service",
            root="pod",
            injection="kubernetes",
            strength=Strength(1, 1, 10, "pods", "pods of the service deleted"),
            does="Deletes pods of the service (chaostoolkit-kubernetes terminate_pods / PodChaos "
            "pod-kill). The ReplicaSet replaces them after Kubernetes' start delay.",
            symptoms=(
                "Killing event and a new pod (Scheduled, Pulled, Started)",
                "kube_deployment_status_replicas_available drops for ~8 s",
                "a single-replica service answers 503 until its replacement is Ready",
            ),
            symptom_within_s=15,
            mitigations=("noop",),
            self_healing=True,
            mitigation_notes="Heals itself once the replacement is Ready; acting is unnecessary.",
            apply=_pod_kill,
            revert=_nothing,
        ),
        FaultDef(
            name="pod-failure",
            title="Pod failure",
            system_level="Virtualization",
            fault_type="Operation Error",
            target="service",
            root="pod",
            injection="chaos-mesh",
            strength=Strength(1, 1, 10, "pods", "pods of the service made unavailable"),
            does="PodChaos pod-failure: the chosen pods stop answering and fail their readiness "
            "probe; they stay Running, out of the Service's endpoints, until the chaos ends.",
            symptoms=(
                "Unhealthy (readiness probe failed) events on the pod",
                "kube_pod_status_ready false while the pod is Running",
                "fewer serving pods: latency up, 503s if it was the only one",
            ),
            symptom_within_s=10,
            mitigations=("delete_pod", "restart"),
            mitigation_notes="Delete the failed pod (its replacement is healthy) or restart the "
            "deployment.",
            apply=_pod_failure,
            revert=_drop,
        ),
        FaultDef(
            name="crash-loop",
            title="Container crash loop after a configuration change",
            system_level="Application",
            fault_type="Misconfiguration",
            target="service",
            root="service",
            injection="testbed",
            strength=Strength(30, 5, 600, "seconds", "time a new container runs before it crashes"),
            does="Rolls out a new revision whose CONFIG_PATH names a file the image lacks: each "
            "container passes readiness, then exits with code 2 after `strength` seconds, so "
            "the rollout completes and every pod ends in CrashLoopBackOff.",
            symptoms=(
                "new ReplicaSet revision just before the failures",
                "BackOff events; kube_pod_container_status_waiting_reason CrashLoopBackOff",
                "kube_pod_container_status_restarts_total rising; 'panic: load configuration' "
                "in the previous container's log",
                "callers see 503 (no endpoints)",
            ),
            symptom_within_s=90,
            mitigations=("rollback",),
            mitigation_notes="Roll the deployment back to the previous revision.",
            apply=_crash_loop,
            revert=_restore_spec,
        ),
        FaultDef(
            name="memory-leak",
            title="Memory leak ending in OOMKilled",
            system_level="Application",
            fault_type="Code Defect",
            target="service",
            root="service",
            injection="testbed",
            strength=Strength(40, 1, 2048, "MiB/min", "growth of each pod's working set"),
            does="The service's code leaks memory in every pod; each container's working set grows "
            "until the memory limit, when the kernel kills it (OOMKilled) and it restarts.",
            symptoms=(
                "container_memory_working_set_bytes climbing towards the limit",
                "OOMKilling node events; last terminated reason OOMKilled; restarts",
                "503s while pods restart (from every pod at once when they started together); "
                "latency up on the pods left serving",
            ),
            symptom_within_s=600,
            mitigations=("restart", "set_resources", "escalate"),
            mitigation_notes="A restart or a higher memory limit buys time until the next OOM; the "
            "fix is a code change (escalate).",
            apply=_memory_leak,
            revert=_drop,
        ),
        FaultDef(
            name="cpu-stress",
            title="CPU stress in a pod",
            system_level="Operating System",
            fault_type="Operation Error",
            target="service",
            root="pod",
            injection="chaos-mesh",
            strength=Strength(0.5, 0.1, 16, "cores", "CPU the stressor tries to burn"),
            does="StressChaos cpu: a stressor inside one pod's container burns CPU within its "
            "limit, leaving less for requests: throttling and latency rise on that pod.",
            symptoms=(
                "container_cpu_usage_seconds_total of one pod near its limit",
                "container_cpu_cfs_throttled_periods_total rising",
                "higher latency on the service (one pod)",
            ),
            symptom_within_s=30,
            mitigations=("delete_pod", "restart", "scale"),
            mitigation_notes="Delete the stressed pod or restart the deployment; scaling out "
            "dilutes it.",
            apply=_cpu_stress,
            revert=_drop,
        ),
        FaultDef(
            name="network-delay",
            title="Network delay between two services",
            system_level="Operating System",
            fault_type="Network/Storage Issue",
            target="edge",
            root="service",
            injection="chaos-mesh",
            strength=Strength(200, 1, 10000, "ms", "added latency per call"),
            does="NetworkChaos delay on the source service's pods towards the destination: every "
            "call on that edge takes `strength` ms longer (pods created later are not "
            "affected).",
            symptoms=(
                "istio_request_duration_milliseconds from source to destination up by the delay",
                "the source's and its callers' latency up; 504s if past the timeout",
                "destination's own latency unchanged",
            ),
            symptom_within_s=30,
            mitigations=("restart", "move"),
            mitigation_notes="Restart (or reschedule) the source deployment: new pods are outside "
            "the chaos.",
            apply=_network,
            revert=_network_revert,
            tick=_network_tick,
        ),
        FaultDef(
            name="network-loss",
            title="Packet loss between two services",
            system_level="Operating System",
            fault_type="Network/Storage Issue",
            target="edge",
            root="service",
            injection="chaos-mesh",
            strength=Strength(50, 1, 100, "%", "share of calls lost"),
            does="NetworkChaos loss on the source service's pods towards the destination: that "
            "share of calls fails with a connection reset.",
            symptoms=(
                "istio_requests_total source→destination with response_code 503",
                "'upstream connect error or disconnect/reset' in the source's logs",
                "destination healthy and receiving fewer requests",
            ),
            symptom_within_s=30,
            mitigations=("restart", "move"),
            mitigation_notes=_RESTART,
            apply=_network,
            revert=_network_revert,
            tick=_network_tick,
        ),
        FaultDef(
            name="service-port",
            title="Service targetPort misconfiguration",
            system_level="Virtualization",
            fault_type="Misconfiguration",
            target="service",
            root="service",
            injection="kubernetes",
            strength=Strength(1, 1, 1, "", "unused"),
            does="Patches the Service's targetPort to a port the pods do not listen on: pods stay "
            "Running and Ready, every call to the service is refused.",
            symptoms=(
                "callers' istio_requests_total to the service all 503",
                "the service's pods healthy, Ready and idle (CPU drops)",
                "'connection failure' in callers' logs",
            ),
            symptom_within_s=15,
            mitigations=("revert_port",),
            mitigation_notes="Set the Service's targetPort back to the container port.",
            apply=_service_port,
            revert=_service_port_revert,
        ),
        FaultDef(
            name="bad-release",
            title="Bad release rolled out",
            system_level="Application",
            fault_type="Code Defect",
            target="service",
            root="service",
            injection="testbed",
            strength=Strength(0.3, 0.01, 1.0, "ratio", "share of requests the new version fails"),
            does="Rolls out the next minor version of the image; that version fails a share of "
            "its requests with 500 (a decoding error).",
            symptoms=(
                "new ReplicaSet revision with a new image tag just before the errors",
                "istio_requests_total response_code 500 into the service",
                "'request failed ... cannot unmarshal' in the service's logs",
            ),
            symptom_within_s=60,
            mitigations=("rollback",),
            mitigation_notes="Roll back to the previous revision.",
            apply=_bad_release,
            revert=_restore_spec,
        ),
        FaultDef(
            name="scale-to-zero",
            title="Deployment scaled to zero",
            system_level="Virtualization",
            fault_type="Operation Error",
            target="service",
            root="service",
            injection="kubernetes",
            strength=Strength(0, 0, 0, "", "unused"),
            does="Scales the deployment to zero replicas (chaostoolkit-kubernetes "
            "scale_deployment): its pods terminate and the Service has no endpoints.",
            symptoms=(
                "ScalingReplicaSet event to 0; kube_deployment_spec_replicas 0",
                "callers' calls to it all 503",
            ),
            symptom_within_s=15,
            mitigations=("scale",),
            mitigation_notes="Scale the deployment back to its previous replica count.",
            apply=_scale_zero,
            revert=_scale_back,
        ),
        FaultDef(
            name="node-selector",
            title="Node selector pointing at a missing node pool",
            system_level="Virtualization",
            fault_type="Misconfiguration",
            target="service",
            root="service",
            injection="kubernetes",
            strength=Strength(0, 0, 0, "", "unused"),
            does="Re-applies the deployment with a nodeSelector no node matches (and the Recreate "
            "strategy stateful services use): old pods terminate, new ones stay Pending.",
            symptoms=(
                "FailedScheduling: didn't match Pod's node affinity/selector",
                "kube_pod_status_phase Pending; kube_pod_status_unschedulable",
                "callers' calls to it all 503",
            ),
            symptom_within_s=20,
            mitigations=("rollback",),
            mitigation_notes="Roll back to the previous revision (or remove the nodeSelector).",
            apply=_node_selector,
            revert=_restore_spec,
        ),
        FaultDef(
            name="node-failure",
            title="Node failure",
            system_level="Hardware",
            fault_type="Operation Error",
            target="node",
            root="node",
            injection="testbed",
            strength=Strength(0, 0, 0, "", "unused"),
            does="The node's kubelet stops: after 40 s it is NotReady (Unknown) and its pods are "
            "NotReady; after the 300 s toleration they are evicted and replaced elsewhere.",
            symptoms=(
                "calls to pods on the node fail at once (503) until they leave endpoints",
                "NodeNotReady events; kube_node_status_condition Ready unknown",
                "no cAdvisor series from the node; TaintManagerEviction after 300 s",
            ),
            symptom_within_s=45,
            mitigations=("drain", "delete_pod", "cordon"),
            mitigation_notes="Cordon and drain the node (or delete its pods) so replacements start "
            "elsewhere without waiting for the 300 s toleration.",
            apply=_node_failure,
            revert=_node_recover,
        ),
        FaultDef(
            name="cordon-capacity",
            title="Nodes cordoned and drained, the rest crowded",
            system_level="Virtualization",
            fault_type="Operation Error",
            target="app",
            root="node",
            injection="kubernetes",
            strength=Strength(1, 1, 1000, "nodes", "nodes left schedulable"),
            does="Cordons and drains all but `strength` nodes (chaostoolkit-kubernetes "
            "cordon_node / drain_nodes): every pod on them is deleted at once and replaced on the "
            "nodes left, which lose the application's spread; what they cannot hold (when the "
            "pods' requests exceed their capacity) stays Pending.",
            symptoms=(
                "NodeNotSchedulable events; kube_node_spec_unschedulable 1",
                "Killing events for every pod on the cordoned nodes; their replacements on the "
                "nodes left",
                "503s while the replacements start; where the nodes left cannot hold every pod, "
                "FailedScheduling: Insufficient cpu, pods Pending and their services answering 503",
            ),
            symptom_within_s=30,
            mitigations=("uncordon",),
            mitigation_notes="Uncordon the nodes: capacity, and spread as pods are replaced, come "
            "back. Where the nodes left hold every pod the SLOs recover once the replacements are "
            "Ready, without the redundancy the other nodes gave.",
            apply=_cordon_capacity,
            revert=_uncordon,
        ),
        FaultDef(
            name="db-auth",
            title="Database credentials rotated, clients not",
            system_level="Application",
            fault_type="Authentication Issue",
            target="service",
            root="service",
            injection="kubernetes",
            strength=Strength(0, 0, 0, "", "unused"),
            does="Rotates the password in the database's credentials Secret and restarts the "
            "database; its clients still present the old password and are refused.",
            symptoms=(
                "the database's clients fail their calls to it with 500",
                "'auth error: SCRAM authentication failed' in the clients' logs",
                "'Authentication failed' in the database's log; database pods healthy",
            ),
            symptom_within_s=60,
            mitigations=("restart",),
            mitigation_notes="Restart the database's client deployments so they read the new "
            "Secret.",
            apply=_db_auth,
            revert=_db_auth_revert,
        ),
        FaultDef(
            name="cpu-limit",
            title="CPU limit set too low",
            system_level="Virtualization",
            fault_type="Misconfiguration",
            target="service",
            root="service",
            injection="kubernetes",
            strength=Strength(0.05, 0.001, 64, "cores", "the new CPU limit"),
            does="Patches the deployment's CPU limit (and request) down to `strength` cores; the "
            "new pods are throttled: latency up, and past saturation 503s.",
            symptoms=(
                "container_cpu_cfs_throttled_periods_total rising fast",
                "kube_pod_container_resource_limits cpu lowered with a new revision",
                "latency up, 503/504 at callers",
            ),
            symptom_within_s=60,
            mitigations=("set_resources", "rollback"),
            mitigation_notes="Raise the CPU limit back (or roll back to the previous revision).",
            apply=_cpu_limit,
            revert=_restore_spec,
        ),
        FaultDef(
            name="noisy-neighbour",
            title="Noisy neighbour on a node",
            system_level="Hardware",
            fault_type="Dependency Problem",
            target="node",
            root="node",
            injection="testbed",
            strength=Strength(3.0, 0.1, 10, "x node CPU", "CPU demand of a process outside pods"),
            does="A process outside any pod (a batch job on the host) demands `strength` times the "
            "node's CPU; every pod on the node gets a smaller share and slows down.",
            symptoms=(
                'node root-cgroup CPU (container_cpu_usage_seconds_total{id="/"}) far '
                "above the sum of its pods",
                "latency up on every service with pods there",
            ),
            symptom_within_s=30,
            mitigations=("drain", "move"),
            mitigation_notes="Move the workloads away: cordon and drain the node, or reschedule "
            "the affected deployments onto other nodes.",
            apply=_noisy_neighbour,
            revert=_quiet_neighbour,
        ),
        FaultDef(
            name="load-flood",
            title="Load flood on the entry service",
            system_level="Application",
            fault_type="Operation Error",
            target="app",
            root="service",
            injection="testbed",
            strength=Strength(4.0, 1.1, 100, "x", "multiplier of the application's load"),
            does="Requests to the application's entry service jump to `strength` times the "
            "profile, saturating the bottleneck services.",
            symptoms=(
                "istio_requests_total into the entry up by the factor",
                "CPU near limits, throttling; 503s from saturated services",
            ),
            symptom_within_s=30,
            mitigations=("scale",),
            mitigation_notes="Scale out the saturated services (the entry and its bottlenecks).",
            apply=_load_flood,
            revert=_load_revert,
        ),
        FaultDef(
            name="demand-growth",
            title="Slow growth of demand beyond capacity",
            system_level="Application",
            fault_type="Operation Error",
            target="app",
            root="service",
            injection="testbed",
            strength=Strength(1.0, 0.01, 100, "x per hour", "added load per hour of growth"),
            does="The application's load grows linearly by `strength` times the profile per "
            "hour, so capacity is exceeded after a predictable time.",
            symptoms=(
                "a steady upward trend in requests and CPU",
                "latency creeping up, then 503s once a service saturates",
            ),
            symptom_within_s=3600,
            mitigations=("scale",),
            mitigation_notes="Scale out before the forecast breach.",
            apply=_nothing,
            revert=_load_revert,
            tick=_demand_growth_tick,
        ),
    )
}
