"""Resource rules: memory climbing to OOM kills (a leak), CPU burnt beyond what requests
need (a CPU hog in a pod)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from ..causes import Cause, Finding
from ..facts import Facts
from ..topology import split_key
from .common import (
    app_load,
    cpu_limit,
    ev,
    node_trouble,
    pod_ref,
    rounded,
    service_ref,
)

_PROCESS = re.compile(r"\(([\w.-]+)\)")
"""The process an OOM kill names: ``Killed process 1002 (geo)``."""


def _oom_kills(f: Facts, key: str) -> int:
    name = split_key(key)[1]
    count = 0
    for change in f.changes:
        if change.reason != "OOMKilling" or change.at < f.onset - 60:
            continue
        match = _PROCESS.search(change.message)
        if match and match.group(1) == name:
            count += change.count
    return count


def resource_rules(f: Facts) -> Iterable[Finding]:
    for key in f.services:
        memory = f.svc(key, "memory_ratio")
        ooms = _oom_kills(f, key)
        signalled = "memory_ratio" in f.signal_metrics(key)
        climbing = memory.last >= memory.high - 0.05  # still at its peak: not a passing queue
        creeping = memory.high - memory.base >= 0.25 and not f.latency_up(key)
        if ooms or (climbing and (signalled or creeping)):
            yield Finding(
                Cause.MEMORY_LEAK,
                service_ref(key),
                0.9 if (signalled or ooms) else 0.6,
                f"{key}'s memory climbs towards its limit"
                + (f"; {ooms} OOM kills" if ooms else ""),
                [
                    ev("memory / limit", rounded(memory.high), rounded(memory.base)),
                    ev("OOM kills", ooms),
                ],
                service=key,
            )
        yield from _cpu_hog(f, key)


def _cpu_hog(f: Facts, key: str) -> Iterable[Finding]:
    throttle, cpu = f.svc(key, "throttle_ratio"), f.svc(key, "cpu_ratio")
    hot = "throttle_ratio" in f.signal_metrics(key) or throttle.rise() >= 0.1 or cpu.rise() >= 0.25
    if not hot:
        return
    rps = f.svc(key, "rps")
    before, now = cpu_limit(f, key)
    if now < 0.8 * before or f.rollouts(key):
        return
    cores = f.svc(key, "cpu_cores")
    load = rps.last / rps.base if rps.base > 0 and math.isfinite(rps.last) else 1.0
    excess = cores.last - cores.base * max(load, 1.0)  # beyond what its requests need
    if not excess >= max(0.02, 0.35 * now if math.isfinite(now) else 0.0):  # of one pod's limit
        return  # the CPU follows the requests (or hardly moved)
    busier = app_load(f, split_key(key)[0]) >= 1.3  # the whole application works harder
    if any(node_trouble(f, n) for n in f.ctx.topology.nodes_of(key)):
        return
    pods = _slowest_pod(f, key)
    yield Finding(
        Cause.CPU_HOG,
        pod_ref(key, pods[0]) if pods else service_ref(key),
        0.5 if busier else 0.85,
        f"{key} burns more CPU (and is throttled) without more requests or a lower limit",
        [
            ev("cpu / limit", rounded(cpu.mid), rounded(cpu.base)),
            ev("throttled", rounded(throttle.mid), rounded(throttle.base)),
            ev("requests", rounded(rps.mid, 1), rounded(rps.base, 1), "rps"),
        ],
        service=key,
        pods=pods,
    )


def _slowest_pod(f: Facts, key: str) -> tuple[str, ...]:
    """The pod whose own latency stands out in its log's periodic stats, if one does."""
    logs = f.logs(key)
    if logs is None or len(logs.pod_p50) < 2:
        return ()
    ranked = sorted(logs.pod_p50.items(), key=lambda kv: (-kv[1], kv[0]))
    (top, worst), rest = ranked[0], [v for _, v in ranked[1:]]
    rest.sort()
    median = rest[len(rest) // 2]
    return (top,) if worst >= 1.3 * median and worst - median >= 0.5 else ()
