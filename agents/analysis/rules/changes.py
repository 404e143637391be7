"""Rules on recent changes to a workload: a rollout read by what followed it, a scale to
zero, pods killed or failing their probes."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..causes import Cause, Finding
from ..facts import Change, Facts
from ..logs import LogPattern
from .common import (
    callee_explains,
    cpu_limit,
    ev,
    node_trouble,
    pod_ref,
    rolled,
    rounded,
    service_ref,
)
from .graph import auth_evidence

RELEASE_BEFORE_S = 300.0
"""A rollout this long before the onset may explain errors or latency of its service."""


def change_rules(f: Facts) -> Iterable[Finding]:
    for key in f.services:
        rollouts = [c for c in f.rollouts(key) if (c.first or c.at) <= f.onset + 60]
        if rollouts:
            yield from _after_rollout(f, key, rollouts[-1])
        elif f.scaled_to_zero(key) and f.svc(key, "replicas").last == 0:
            yield _scaled_to_zero(f, key)
        yield from _pods_killed(f, key)
        yield from _pods_failing(f, key)


def _after_rollout(f: Facts, key: str, rollout: Change) -> Iterable[Finding]:
    ref = service_ref(key)
    when = ev("rollout", rollout.message, unit=f"{rollout.at - f.onset:+.0f} s from onset")
    logs = f.logs(key)
    crashes = f.pod_events(key, "BackOff")
    restarts = f.svc(key, "restarts").high
    # panic lines are evidence only when they are what the service mostly logs, beside a
    # symptom the metrics show (errors or pods not ready) that no failing dependency explains:
    # log text alone must not make a service a suspect
    ready = f.svc(key, "ready_replicas")
    symptom = f.svc(key, "error_ratio").rise() >= 0.05 or ready.low < ready.base
    explained = any(f.edge_errors_up(key, d) for d in f.ctx.topology.callees(key))
    panics = bool(logs and logs.dominant(LogPattern.PANIC)) and symptom and not explained
    if crashes or restarts >= 1 or panics:
        yield Finding(
            Cause.BAD_CONFIG,
            ref,
            0.92,
            f"{key} crash-loops since a rollout just before the onset",
            [when, ev("restarts", rounded(restarts)), ev("back-off events", len(crashes))],
            service=key,
        )
        return
    unschedulable = f.pod_events(key, "FailedScheduling")
    selector = [c for c in unschedulable if "selector" in c.message]
    if selector or (unschedulable and f.svc(key, "pending_pods").last >= 1):
        yield Finding(
            Cause.NODE_SELECTOR,
            ref,
            0.93 if selector else 0.6,
            f"{key}'s new pods cannot be scheduled since a rollout",
            [when, ev("scheduling", selector[-1].message if selector else "pods Pending")],
            service=key,
        )
        return
    before, now = cpu_limit(f, key)
    throttle = f.svc(key, "throttle_ratio")
    throttled = throttle.rise() >= 0.1 or "throttle_ratio" in f.signal_metrics(key)
    lowered = now < 0.7 * before
    if throttled and (lowered or (math.isnan(before) and throttle.rise() >= 0.3)):
        yield Finding(
            Cause.CPU_LIMIT,
            ref,
            0.92 if lowered else 0.7,
            f"{key}'s CPU limit fell from {before:.3g} to {now:.3g} cores with a rollout; "
            "it is throttled",
            [
                when,
                ev("cpu limit", rounded(now), rounded(before), "cores"),
                ev("throttled", rounded(throttle.mid), rounded(throttle.base)),
            ],
            service=key,
        )
        return
    auth = auth_evidence(f, key)
    if auth is not None:
        return  # the authentication rule speaks for it
    if not _serving_fully(f, key):
        return  # its pods are missing or its nodes failing: that, not its code, explains it
    if (rollout.first or rollout.at) < f.onset - RELEASE_BEFORE_S:
        return  # errors from a release show within a minute or two of it
    busier = f.svc(key, "rps").ratio() > 1.3
    if f.errors_up(key) and callee_explains(f, key) is None:
        decode = logs.count(LogPattern.DECODE) if logs else 0
        errors = f.svc(key, "error_ratio")
        yield Finding(
            Cause.BAD_RELEASE,
            ref,
            0.92 if decode else (0.5 if busier else 0.85),
            f"{key} fails its own requests since a rollout just before the onset",
            [
                when,
                ev("error ratio", rounded(errors.mid), rounded(errors.base)),
                ev("decode errors logged", decode),
            ],
            service=key,
        )
    elif f.latency_up(key) and callee_explains(f, key) is None:
        p99 = f.svc(key, "p99_ms")
        yield Finding(
            Cause.BAD_RELEASE,
            ref,
            0.5,
            f"{key} is slower since a rollout just before the onset",
            [when, ev("p99", rounded(p99.mid, 1), rounded(p99.base, 1), "ms")],
            service=key,
        )


def _serving_fully(f: Facts, key: str) -> bool:
    """All of ``key``'s replicas Ready now, on healthy nodes, none deleted by others."""
    ready, replicas = f.svc(key, "ready_replicas"), f.svc(key, "replicas")
    if not replicas.last > 0 or ready.last < replicas.last:
        return False
    if any(node_trouble(f, n) for n in f.ctx.topology.nodes_of(key)):
        return False
    return not any(not rolled(f, c) for c in f.pod_events(key, "Killing"))


def _scaled_to_zero(f: Facts, key: str) -> Finding:
    replicas = f.svc(key, "replicas")
    return Finding(
        Cause.SCALED_DOWN,
        service_ref(key),
        0.95,
        f"{key} was scaled to zero replicas (from {replicas.base:g})",
        [ev("replicas", rounded(replicas.last), rounded(replicas.base))],
        service=key,
    )


def _mass_deletion(f: Facts, at: float) -> bool:
    """Many workloads lost pods at once, or a node was cordoned then: not a single pod kill."""
    subjects = {c.subject for c in f.changes if c.reason == "Killing" and abs(c.at - at) <= 5}
    cordoned = any(
        c.reason in ("NodeNotSchedulable", "NodeNotReady") and abs(c.at - at) <= 5
        for c in f.changes
    )
    return len(subjects) >= 3 or cordoned


def _pods_killed(f: Facts, key: str) -> Iterable[Finding]:
    evicted = {c.obj for c in f.changes_of(key, "TaintManagerEviction", "Evicted")}
    kills = [
        c
        for c in f.changes_of(key, "Killing")
        if f.onset - 90 <= c.at <= f.onset + f.config.change_after_s
        and c.obj not in evicted
        and not rolled(f, c)
        and not _mass_deletion(f, c.at)
    ]
    if not kills:
        return
    troubled = f.troubled(key) or key in f.anomalous
    pods = tuple(sorted({c.obj for c in kills}))
    yield Finding(
        Cause.POD_KILLED,
        pod_ref(key, pods[0]),
        0.85 if troubled else 0.55,
        f"pod {pods[0]} of {key} was deleted at the onset (not by a rollout); "
        "its ReplicaSet replaces it",
        [ev("pods deleted", ", ".join(pods)), ev("at", f"{kills[0].at - f.onset:+.0f} s")],
        service=key,
        pods=pods,
    )


def _pods_failing(f: Facts, key: str) -> Iterable[Finding]:
    crashing = {c.obj for c in f.pod_events(key, "BackOff")}
    failing = [
        c
        for c in f.pod_events(key, "Unhealthy")
        if ("Readiness" in c.message or "Liveness" in c.message) and c.obj not in crashing
    ]
    if not failing:
        return
    pods = tuple(sorted({c.obj for c in failing}))
    nodes_ok = not any(node_trouble(f, n) for n in f.ctx.topology.nodes_of(key))
    ready = f.svc(key, "ready_replicas")
    yield Finding(
        Cause.POD_FAILED,
        pod_ref(key, pods[0]),
        0.88 if nodes_ok else 0.5,
        f"pod {pods[0]} of {key} fails its readiness probe while Running",
        [
            ev("failing probes", failing[-1].message),
            ev("ready replicas", rounded(ready.low), rounded(ready.base)),
        ],
        service=key,
        pods=pods,
    )
