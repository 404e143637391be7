"""The scheduler: binds pending pods to nodes, as kube-scheduler's default profile does.

Filters, in kube-scheduler's order: NodeUnschedulable (cordon), TaintToleration, NodeAffinity
(``nodeSelector`` and required node affinity), NodeResourcesFit (requests against allocatable,
the pod limit), InterPodAffinity (required pod affinity and anti-affinity). Scores: least
allocated resources, preferred pod (anti-)affinity and node affinity, PreferNoSchedule taints,
spreading a workload's pods over nodes. A pod that fits nowhere stays Pending with a
``FailedScheduling`` event worded like kube-scheduler's and is retried later.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from . import kubelet
from .k8s.selectors import (
    label_selector_from_spec,
    node_selector_matches,
    node_selector_term_matches,
)

if TYPE_CHECKING:
    from .cluster import Cluster
    from .objects import Node, Pod, PodTemplate

UNSCHEDULABLE, TAINT, AFFINITY = 1, 2, 3


def matching_toleration(
    tolerations: list[dict[str, Any]], taint: dict[str, Any]
) -> dict[str, Any] | None:
    """The first toleration that tolerates ``taint``, or None."""
    for tol in tolerations:
        effect = tol.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return tol
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return tol
    return None


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    return matching_toleration(tolerations, taint) is not None


class Scheduler:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._version = -1
        self._masks: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
        self._topology: dict[str, list[str | None]] = {}
        self.cap_cpu = np.zeros(0)
        self.cap_mem = np.zeros(0)
        self.max_pods = np.zeros(0)
        self.req_cpu = np.zeros(0)
        self.req_mem = np.zeros(0)
        self.count = np.zeros(0)
        self._sync_nodes()

    # ------------------------------------------------------------------ node state

    def _sync_nodes(self) -> None:
        cluster = self.cluster
        if self._version == cluster.nodes_version:
            return
        nodes = cluster.node_list
        if len(nodes) != len(self.cap_cpu):
            self.cap_cpu = np.array([n.cpu for n in nodes], dtype=float)
            self.cap_mem = np.array([n.memory for n in nodes], dtype=float)
            self.max_pods = np.array([n.max_pods for n in nodes], dtype=float)
            self.req_cpu = np.array(
                [sum(p.template.cpu_request for p in n.pods) for n in nodes], dtype=float
            )
            self.req_mem = np.array(
                [float(sum(p.template.memory_request for p in n.pods)) for n in nodes]
            )
            self.count = np.array([float(len(n.pods)) for n in nodes])
            cluster.arrays.resize_nodes(nodes)
        self._masks.clear()
        self._topology.clear()
        self._version = cluster.nodes_version
        self.retry_pending()

    def _static(self, tmpl: PodTemplate) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per node: feasible by the template alone, the first failing filter, taint names."""
        cached = self._masks.get(tmpl.key)
        if cached is not None:
            return cached
        nodes = self.cluster.node_list
        reason = np.zeros(len(nodes), dtype=np.int8)
        taint_names: list[str] = [""] * len(nodes)
        required = (tmpl.affinity.get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        selector = tmpl.node_selector
        for i, node in enumerate(nodes):
            if node.unschedulable and not tolerates(
                tmpl.tolerations,
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            ):
                reason[i] = UNSCHEDULABLE
                continue
            bad = next(
                (
                    t
                    for t in node.taints
                    if t.get("effect") in ("NoSchedule", "NoExecute")
                    and not tolerates(tmpl.tolerations, t)
                ),
                None,
            )
            if bad is not None:
                reason[i] = TAINT
                taint_names[i] = f"{{{bad.get('key')}: {bad.get('value') or ''}}}"
                continue
            labels = node.meta.labels
            if any(labels.get(k) != v for k, v in selector.items()):
                reason[i] = AFFINITY
                continue
            if required and not node_selector_matches(
                required, labels, fields={"metadata.name": node.name}
            ):
                reason[i] = AFFINITY
        result = (reason == 0, reason, taint_names)
        self._masks[tmpl.key] = result
        return result

    def _topology_values(self, key: str) -> list[str | None]:
        values = self._topology.get(key)
        if values is None:
            values = [n.meta.labels.get(key) for n in self.cluster.node_list]
            self._topology[key] = values
        return values

    def _term_counts(self, pod: Pod, term: dict[str, Any]) -> np.ndarray:
        """Per node: pods matching the term in the node's topology domain."""
        key = term.get("topologyKey", "kubernetes.io/hostname")
        selector = label_selector_from_spec(term.get("labelSelector"))
        per_value: Counter[str] = Counter()
        for ns in term.get("namespaces") or [pod.namespace]:
            for other in self.cluster.pods_by_ns.get(ns, {}).values():
                # terminating pods still count, as in kube-scheduler: they hold their node
                if other is pod or other.node is None:
                    continue
                if selector.matches(other.meta.labels):
                    value = other.node.meta.labels.get(key)
                    if value is not None:
                        per_value[value] += 1
        values = self._topology_values(key)
        if not per_value:
            return np.zeros(len(values))
        return np.array([per_value.get(v, 0) if v is not None else 0 for v in values], dtype=float)

    # ------------------------------------------------------------------ scheduling

    def schedule_pending(self) -> None:
        cluster = self.cluster
        if not cluster.pending:
            return
        self._sync_nodes()
        now = cluster.now
        due = [p for p in cluster.pending if p.next_schedule_try <= now]
        for pod in due:
            self._schedule(pod)

    def _schedule(self, pod: Pod) -> None:
        cluster = self.cluster
        tmpl = pod.template
        static, reason, taint_names = self._static(tmpl)
        free_cpu = self.cap_cpu - self.req_cpu
        free_mem = self.cap_mem - self.req_mem
        fit_cpu = free_cpu + 1e-9 >= tmpl.cpu_request
        fit_mem = free_mem + 0.5 >= tmpl.memory_request
        fit_pods = self.count < self.max_pods
        feasible = static & fit_cpu & fit_mem & fit_pods
        affinity = tmpl.affinity
        anti_fail = np.zeros(len(feasible), dtype=bool)
        aff_fail = np.zeros(len(feasible), dtype=bool)
        pod_anti = affinity.get("podAntiAffinity") or {}
        pod_aff = affinity.get("podAffinity") or {}
        if feasible.any():
            for term in pod_anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
                anti_fail |= self._term_counts(pod, term) > 0
            for term in pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
                counts = self._term_counts(pod, term)
                if counts.any():  # the first pod of a group may go anywhere
                    aff_fail |= counts == 0
            feasible &= ~anti_fail & ~aff_fail
        if not feasible.any():
            self._unschedulable(
                pod, static, reason, taint_names, fit_cpu, fit_mem, fit_pods, anti_fail, aff_fail
            )
            return
        cap_cpu = np.maximum(self.cap_cpu, 1e-9)
        cap_mem = np.maximum(self.cap_mem, 1.0)
        score = 50 * (
            (free_cpu - tmpl.cpu_request) / cap_cpu + (free_mem - tmpl.memory_request) / cap_mem
        )
        for wterm in pod_anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            term = wterm.get("podAffinityTerm") or {}
            score -= wterm.get("weight", 1) * np.minimum(self._term_counts(pod, term), 3)
        for wterm in pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            term = wterm.get("podAffinityTerm") or {}
            score += wterm.get("weight", 1) * (self._term_counts(pod, term) > 0)
        node_aff = affinity.get("nodeAffinity") or {}
        for pref in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            matches = np.array(
                [
                    node_selector_term_matches(pref.get("preference") or {}, n.meta.labels)
                    for n in cluster.node_list
                ]
            )
            score += pref.get("weight", 1) * matches
        for i, node in enumerate(cluster.node_list):
            if feasible[i] and any(t.get("effect") == "PreferNoSchedule" for t in node.taints):
                score[i] -= 50
        choice = int(np.argmax(np.where(feasible, score, -np.inf)))
        self.bind(pod, cluster.node_list[choice])

    def _unschedulable(
        self,
        pod: Pod,
        static: np.ndarray,
        reason: np.ndarray,
        taint_names: list[str],
        fit_cpu: np.ndarray,
        fit_mem: np.ndarray,
        fit_pods: np.ndarray,
        anti_fail: np.ndarray,
        aff_fail: np.ndarray,
    ) -> None:
        cluster = self.cluster
        counts: Counter[str] = Counter()
        for i in range(len(static)):
            if reason[i] == UNSCHEDULABLE:
                counts["node(s) were unschedulable"] += 1
            elif reason[i] == TAINT:
                counts[f"node(s) had untolerated taint {taint_names[i]}"] += 1
            elif reason[i] == AFFINITY:
                counts["node(s) didn't match Pod's node affinity/selector"] += 1
            else:
                short = False
                if not fit_cpu[i]:
                    counts["Insufficient cpu"] += 1
                    short = True
                if not fit_mem[i]:
                    counts["Insufficient memory"] += 1
                    short = True
                if not fit_pods[i]:
                    counts["Too many pods"] += 1
                    short = True
                if not short and anti_fail[i]:
                    counts["node(s) didn't match pod anti-affinity rules"] += 1
                elif not short and aff_fail[i]:
                    counts["node(s) didn't match pod affinity rules"] += 1
        total = len(static)
        # kube-scheduler sorts the "<count> <reason>" strings themselves
        detail = ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))
        message = (
            f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are "
            f"available: {total} Preemption is not helpful for scheduling."
        )
        if pod.failed_scheduling != message:
            pod.failed_scheduling = message
            cluster.changed("pods", pod)
        cluster.record(pod, "Warning", "FailedScheduling", message, "default-scheduler")
        pod.next_schedule_try = cluster.now + cluster.timing.unschedulable_retry_s

    def bind(self, pod: Pod, node: Node) -> None:
        cluster = self.cluster
        pod.node = node
        pod.failed_scheduling = None
        node.pods.add(pod)
        i = node.index
        self.req_cpu[i] += pod.template.cpu_request
        self.req_mem[i] += pod.template.memory_request
        self.count[i] += 1
        cluster.pending.pop(pod, None)
        cluster.arrays.bind(pod.slot, i)
        kubelet.bound(cluster, pod)

    def unbind(self, pod: Pod) -> None:
        node = pod.node
        if node is None:
            return
        node.pods.discard(pod)
        i = node.index
        if i < len(self.req_cpu):
            self.req_cpu[i] -= pod.template.cpu_request
            self.req_mem[i] -= pod.template.memory_request
            self.count[i] -= 1
        self.retry_pending()  # freed capacity

    def retry_pending(self) -> None:
        """Something changed that may let pending pods fit: try them on the next tick."""
        cluster = self.cluster
        first = cluster.now
        delay = cluster.timing.scheduling_s
        for pod in cluster.pending:
            pod.next_schedule_try = min(pod.next_schedule_try, max(first, pod.meta.created + delay))
