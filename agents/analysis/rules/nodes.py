"""Node rules: a node down, a noisy neighbour, nodes cordoned at the onset."""

from __future__ import annotations

from collections.abc import Iterable

from ..causes import Cause, Finding
from ..facts import Facts
from .common import (
    ev,
    node_ref,
    node_trouble,
    outside_pods,
    rolled,
    rounded,
)


def node_rules(f: Facts) -> Iterable[Finding]:
    topo = f.ctx.topology
    names = sorted(set(f.ctx.view.nodes) | set(f.node_signals))
    for node in names:
        hosted = sorted(topo.services_on(node))
        hit = [s for s in hosted if s in f.anomalous]
        trouble = node_trouble(f, node)
        evidence = [ev("services hosted and troubled", ", ".join(hit) or "none")]
        if trouble in ("not ready", "metrics vanished"):
            score = 0.95 if trouble == "not ready" else 0.7
            yield Finding(
                Cause.NODE_DOWN,
                node_ref(node),
                score if hit else score - 0.2,
                f"node {node} is {trouble}; {len(hit)} troubled services run there",
                [ev("node", trouble), *evidence],
                nodes=(node,),
                peers=tuple(hosted),
            )
        outside = outside_pods(f, node)
        if outside is not None:
            now, before, cap = outside
            yield Finding(
                Cause.NOISY_NEIGHBOUR,
                node_ref(node),
                0.9 if hit else 0.6,
                f"node {node}: {now:.2f} of {cap:g} cores used outside its pods",
                [ev("cpu outside pods", rounded(now), rounded(before), "cores"), *evidence],
                nodes=(node,),
                peers=tuple(hit or hosted),
            )
    yield from _cordoned(f)


def _cordoned(f: Facts) -> Iterable[Finding]:
    view = f.ctx.view
    cordons = {
        c.subject: c.at
        for c in f.changes
        if c.reason == "NodeNotSchedulable" and f.near_onset(c) and view.nodes.get(c.subject)
        if view.nodes[c.subject].unschedulable
    }
    if not cordons:
        return
    nodes = sorted(cordons, key=lambda n: (-cordons[n], n))
    latest = cordons[nodes[0]]
    burst = [n for n in nodes if latest - cordons[n] <= 60]
    kills = [
        c
        for c in f.changes
        if c.reason == "Killing" and abs(c.at - latest) <= 30 and not rolled(f, c)
    ]
    squeezed = [
        c
        for c in f.changes
        if c.reason == "FailedScheduling" and c.at >= latest and "Insufficient" in c.message
    ]
    score = 0.3
    if len(burst) >= 2:
        score += 0.4
    if len({c.subject for c in kills}) >= 2:
        score += 0.2
    if squeezed:
        score += 0.1
    troubled = [s for s in f.anomalous if any(n in burst for n in f.ctx.topology.nodes_of(s))]
    if not f.anomalous or not (troubled or kills):
        score -= 0.2
    yield Finding(
        Cause.CORDONED,
        node_ref(nodes[0]),
        min(score, 0.95),
        f"{len(burst)} node(s) cordoned at the onset ({', '.join(burst)}); "
        f"{len(kills)} pods deleted with them",
        [
            ev("cordoned nodes", ", ".join(burst)),
            ev("pods deleted", len(kills)),
            ev("pods that cannot be scheduled", len(squeezed)),
        ],
        nodes=tuple(burst),
    )
