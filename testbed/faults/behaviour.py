"""How faulty code behaves: per-pod effects keyed by what the pod runs.

A :class:`Rule` matches pods by namespace and service and, optionally, by the image they run, the
pod template they were created from, or their UIDs (pods a Chaos Mesh selector picked). Its
effects (extra errors and latency, a memory leak, CPU stress, a hang, a crash some time after
start) apply to matching running pods at once and to matching pods that start later, and stop
when the rule is removed. This is how a bad release stays with its image and goes away on
rollback, and how a crash loop follows a configuration revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import kubelet

if TYPE_CHECKING:
    from ..cluster import Cluster
    from ..objects import Pod


@dataclass(eq=False)
class Rule:
    namespace: str
    service: str
    image: str | None = None
    template_key: str | None = None
    pod_uids: frozenset[str] | None = None
    error: float = 0.0
    error_message: str | None = None
    latency_s: float = 0.0
    leak_bytes_per_s: float = 0.0
    stress_cores: float = 0.0
    hang: bool = False
    unready_now: bool = False
    crash_after_s: float | None = None
    crash_exit_code: int = 1
    crash_log: str | None = None
    matched: set[str] = field(default_factory=set)

    def matches(self, pod: Pod) -> bool:
        if pod.namespace != self.namespace:
            return False
        if pod.rs is None or pod.rs.deployment is None:
            return False
        if pod.rs.deployment.name != self.service:
            return False
        if self.image is not None and pod.template.image != self.image:
            return False
        if self.template_key is not None and pod.template.key != self.template_key:
            return False
        return self.pod_uids is None or pod.meta.uid in self.pod_uids


class Behaviours:
    """The rules in force on a cluster, applied through the pod arrays and kubelet."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rules: list[Rule] = []
        self._touched: set[str] = set()  # pods whose effects a rule has set
        cluster.startup_hooks.append(self._on_start)

    def add(self, rule: Rule) -> None:
        self.rules.append(rule)
        for pod in self._pods(rule):
            self._refresh(pod, started=False)

    def remove(self, rule: Rule) -> None:
        if rule not in self.rules:
            return
        self.rules.remove(rule)
        for pod in self._pods(rule):
            self._refresh(pod, started=False)

    def _pods(self, rule: Rule) -> list[Pod]:
        pods = self.cluster.pods_by_ns.get(rule.namespace, {}).values()
        return sorted((p for p in pods if rule.matches(p)), key=lambda p: p.name)

    def _on_start(self, cluster: Cluster, pod: Pod) -> None:
        self._refresh(pod, started=True)

    def _refresh(self, pod: Pod, started: bool) -> None:
        """Recompute a pod's effects from every matching rule."""
        cluster = self.cluster
        arrays = cluster.arrays
        slot = pod.slot
        rules = [r for r in self.rules if r.matches(pod)]
        if not rules and pod.meta.uid not in self._touched:
            return  # never touched by a rule: leave its state alone
        if rules:
            self._touched.add(pod.meta.uid)
        else:
            self._touched.discard(pod.meta.uid)
        error_ok = 1.0
        latency = leak = stress = 0.0
        message = None
        hang = unready_now = False
        crash: Rule | None = None
        for rule in rules:
            error_ok *= 1.0 - rule.error
            latency += rule.latency_s
            leak += rule.leak_bytes_per_s
            stress += rule.stress_cores
            message = rule.error_message or message
            hang = hang or rule.hang
            unready_now = unready_now or rule.unready_now
            if rule.crash_after_s is not None:
                crash = rule
        arrays.err_extra[slot] = 1.0 - error_ok
        arrays.lat_extra[slot] = latency
        arrays.leak_rate[slot] = leak
        arrays.stress[slot] = stress
        pod.error_message = message
        if hang and not arrays.hung[slot] and pod.container == "running":
            kubelet.hang(cluster, pod, immediately=unready_now)
        elif not hang and arrays.hung[slot]:
            kubelet.unhang(cluster, pod)
        if crash is not None and pod.container == "running" and (started or pod.running_since):
            since = pod.running_since or cluster.now
            at = max(cluster.now, since + (crash.crash_after_s or 0.0))
            cluster.schedule_timer(at, _crash_timer(crash), pod)


def _crash_timer(rule: Rule):  # type: ignore[no-untyped-def]
    def fire(cluster: Cluster, pod: Pod) -> None:
        if not rule.matches(pod) or pod.container != "running":
            return
        behaviours = getattr(cluster, "behaviours", None)
        if behaviours is not None and rule not in behaviours.rules:
            return
        if rule.crash_log:
            pod.logs.append((cluster.now, rule.crash_log))
        kubelet.crash(cluster, pod, "Error", rule.crash_exit_code)

    return fire
