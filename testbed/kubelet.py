"""The kubelet of every simulated node: a pod's life from binding to deletion.

Bound → image pulled (or already present) → container created and started → Ready after the
readiness delay. A container that dies (OOMKilled, a crash) waits in CrashLoopBackOff for the
back-off (10 s doubling to 300 s, reset after 10 minutes of running) before it restarts. A deleted
pod is Terminating until its container exits. Each step is a timer at the simulated time it
completes; the times come from :class:`testbed.timing.Timing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .clock import iso

if TYPE_CHECKING:
    from .cluster import Cluster
    from .objects import Pod


def _container(pod: Pod) -> str:
    return pod.template.containers[0].name


def _node_down(pod: Pod) -> bool:
    return pod.node is not None and not pod.node.kubelet_up


def bound(cluster: Cluster, pod: Pod) -> None:
    """The scheduler bound the pod: pull the image."""
    assert pod.node is not None
    node = pod.node
    pod.scheduled_at = cluster.now
    pod.address = cluster.next_pod_ip(node)
    cluster.record(
        pod,
        "Normal",
        "Scheduled",
        f"Successfully assigned {pod.namespace}/{pod.name} to {node.name}",
        "default-scheduler",
    )
    image = pod.template.image
    if image in node.images:
        delay = cluster.timing.image_present_s
    else:
        delay = cluster.timing.image_pull_s
        cluster.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet", node.name)
    pod.timer_gen += 1
    cluster.schedule_timer(cluster.now + delay, _pulled, pod)
    cluster.pod_changed(pod)


def _pulled(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod):
        return
    assert pod.node is not None
    image = pod.template.image
    host = pod.node.name
    if image in pod.node.images:
        cluster.record(
            pod,
            "Normal",
            "Pulled",
            f'Container image "{image}" already present on machine',
            "kubelet",
            host,
        )
    else:
        pod.node.images.add(image)
        took = cluster.timing.image_pull_s
        cluster.record(
            pod,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in {took:.3g}s',
            "kubelet",
            host,
        )
    _create(cluster, pod)


def _create(cluster: Cluster, pod: Pod) -> None:
    assert pod.node is not None
    missing = [n for n in pod.template.secret_refs() if (pod.namespace, n) not in cluster.secrets]
    if missing:
        pod.container = "waiting"
        pod.waiting_reason = "CreateContainerConfigError"
        cluster.record(
            pod,
            "Warning",
            "Failed",
            f'Error: secret "{missing[0]}" not found',
            "kubelet",
            pod.node.name,
        )
        pod.timer_gen += 1
        cluster.schedule_timer(cluster.now + cluster.timing.backoff_initial_s, _retry_create, pod)
        cluster.pod_changed(pod)
        return
    cluster.record(
        pod, "Normal", "Created", f"Created container {_container(pod)}", "kubelet", pod.node.name
    )
    pod.timer_gen += 1
    cluster.schedule_timer(cluster.now + cluster.timing.container_start_s, _started, pod)


def _retry_create(cluster: Cluster, pod: Pod) -> None:
    if not _node_down(pod):
        _create(cluster, pod)


def _started(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod):
        return
    assert pod.node is not None
    now = cluster.now
    pod.secrets_seen = {
        name: cluster.secrets[(pod.namespace, name)].fingerprint()
        for name in pod.template.secret_refs()
        if (pod.namespace, name) in cluster.secrets
    }
    pod.container = "running"
    pod.waiting_reason = None
    pod.running_since = now
    if pod.phase == "Pending":
        pod.phase = "Running"
        pod.start_time = now
    cluster.arrays.start(pod.slot, pod.node.index)
    cluster.record(
        pod, "Normal", "Started", f"Started container {_container(pod)}", "kubelet", pod.node.name
    )
    for line in cluster.traffic.startup_log(pod):
        pod.logs.append((now, line))
    delay = pod.template.containers[0].readiness_delay
    if delay is None:
        delay = cluster.timing.readiness_initial_delay_s
    pod.timer_gen += 1
    cluster.schedule_timer(now + delay, _ready, pod)
    for hook in cluster.startup_hooks:  # after the readiness timer: hooks may add their own
        hook(cluster, pod)
    cluster.pod_changed(pod)


def _ready(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod) or pod.container != "running" or pod.deleting:
        return
    pod.ready = True
    pod.ready_since = cluster.now
    cluster.pod_changed(pod)


def unready(cluster: Cluster, pod: Pod, message: str) -> None:
    """The readiness probe starts failing (a hung container); it stays running."""
    if not pod.ready:
        return
    pod.ready = False
    pod.ready_since = None
    if pod.node is not None:
        cluster.record(
            pod,
            "Warning",
            "Unhealthy",
            f"Readiness probe failed: {message}",
            "kubelet",
            pod.node.name,
        )
    cluster.pod_changed(pod)


def hang(cluster: Cluster, pod: Pod, immediately: bool = False) -> None:
    """The container stops answering but keeps running (a deadlock, a stuck event loop).

    Requests routed to it time out at their callers; its readiness probe fails after
    ``Timing.readiness_failure_s`` (at once with ``immediately``, as when the container's
    process is replaced) and the pod leaves its Service's endpoints.
    """
    if pod.container != "running":
        return
    cluster.arrays.hung[pod.slot] = True
    pod.timer_gen += 1
    delay = 0.0 if immediately else cluster.timing.readiness_failure_s
    cluster.schedule_timer(cluster.now + delay, _probe_failed, pod)


def unhang(cluster: Cluster, pod: Pod) -> None:
    """The container answers again; the next readiness probe passes."""
    if not cluster.arrays.hung[pod.slot]:
        return
    cluster.arrays.hung[pod.slot] = False
    if pod.container == "running" and not pod.ready:
        pod.timer_gen += 1
        period = cluster.timing.readiness_failure_s / 3
        cluster.schedule_timer(cluster.now + period, _ready, pod)


def _probe_failed(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod):
        return
    unready(cluster, pod, 'Get "http://' + pod.address + '/healthz": context deadline exceeded')


def crash(cluster: Cluster, pod: Pod, reason: str, exit_code: int) -> None:
    """The container exited; restart it after the CrashLoopBackOff delay."""
    if pod.container != "running" or pod.deleting:
        return
    now = cluster.now
    timing = cluster.timing
    if pod.running_since is not None and now - pod.running_since >= timing.backoff_reset_s:
        pod.crash_streak = 0
    pod.crash_streak += 1
    pod.last_state = {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": iso(pod.running_since or now),
            "finishedAt": iso(now),
            "containerID": f"containerd://{pod.meta.uid.replace('-', '')}{pod.restarts:04d}",
        }
    }
    pod.container = "waiting"
    pod.waiting_reason = "CrashLoopBackOff"
    pod.running_since = None
    pod.ready = False
    pod.ready_since = None
    cluster.arrays.stop(pod.slot)
    delay = min(timing.backoff_max_s, timing.backoff_initial_s * 2 ** (pod.crash_streak - 1))
    host = pod.node.name if pod.node else None
    cluster.record(
        pod,
        "Warning",
        "BackOff",
        f"Back-off restarting failed container {_container(pod)} in pod "
        f"{pod.name}_{pod.namespace}({pod.meta.uid})",
        "kubelet",
        host,
    )
    pod.timer_gen += 1
    cluster.schedule_timer(now + delay, _restart, pod)
    cluster.pod_changed(pod)


def _restart(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod):
        return
    pod.restarts += 1
    pod.prev_logs = pod.logs
    pod.logs = type(pod.logs)(maxlen=pod.logs.maxlen)
    pod.waiting_reason = None
    _create(cluster, pod)


def terminate(cluster: Cluster, pod: Pod, grace: float | None, reason: str) -> None:
    """Mark the pod for deletion; it goes once its container has exited."""
    if grace is None:
        grace = pod.template.termination_grace
        if grace is None:
            grace = cluster.timing.termination_grace_s
    first = not pod.deleting
    if first:
        pod.meta.deletion = cluster.now
        pod.meta.annotations.setdefault("testbed.aiops.dev/grace", str(int(grace)))
    pod.ready = False
    pod.ready_since = None
    pod.timer_gen += 1
    if pod.node is None or grace == 0:
        cluster.remove_pod(pod)
        return
    if first and pod.container == "running":
        cluster.record(
            pod,
            "Normal",
            "Killing",
            f"Stopping container {_container(pod)}",
            "kubelet",
            pod.node.name,
        )
    if pod.node.kubelet_up:
        cluster.schedule_timer(
            cluster.now + min(cluster.timing.termination_s, grace), _terminated, pod
        )
    cluster.pod_changed(pod)


def _terminated(cluster: Cluster, pod: Pod) -> None:
    if _node_down(pod):
        return
    cluster.remove_pod(pod)


def node_back(cluster: Cluster, pod: Pod) -> None:
    """The pod's node reports again: finish what was in progress."""
    pod.timer_gen += 1
    if pod.deleting:
        cluster.schedule_timer(cluster.now + cluster.timing.termination_s, _terminated, pod)
    elif pod.container == "running":
        delay = (
            pod.template.containers[0].readiness_delay or cluster.timing.readiness_initial_delay_s
        )
        cluster.schedule_timer(cluster.now + delay, _ready, pod)
    elif pod.waiting_reason == "CrashLoopBackOff":
        cluster.schedule_timer(cluster.now + cluster.timing.backoff_initial_s, _restart, pod)
    else:
        _create(cluster, pod)
    cluster.pod_changed(pod)


def enforce_memory(cluster: Cluster) -> None:
    """Kill containers whose working set exceeds their memory limit (OOMKilled)."""
    arrays = cluster.arrays
    n = arrays.n
    over = np.flatnonzero(
        arrays.running[:n] & (arrays.mem_lim[:n] > 0) & (arrays.mem_ws[:n] > arrays.mem_lim[:n])
    )
    for slot in over.tolist():
        pod = arrays.pods[slot]
        if pod is None or pod.node is None:
            continue
        arrays.oom_events[slot] += 1
        rss_kb = int(arrays.mem_ws[slot] // 1024)
        process = pod.template.containers[0].name
        cluster.record(
            pod.node,
            "Warning",
            "OOMKilling",
            f"Memory cgroup out of memory: Killed process {1000 + slot} ({process}) "
            f"total-vm:{rss_kb + 81920}kB, anon-rss:{rss_kb}kB, file-rss:0kB, "
            f"shmem-rss:0kB, UID:0 pgtables:{rss_kb // 512}kB oom_score_adj:984",
            "kernel-monitor",
            pod.node.name,
        )
        crash(cluster, pod, "OOMKilled", 137)


def write_logs(cluster: Cluster) -> None:
    """Append this tick's log lines: failures where requests fail, occasional stats."""
    cluster.traffic.write_logs()
