"""Call-graph rules: a call edge failing while its destination is healthy (the network of
the caller), every call refused while the pods are Ready (the Service's port), a datastore
refusing its clients' credentials."""

from __future__ import annotations

from collections.abc import Iterable

from controlplane import Evidence

from ..causes import Cause, Finding
from ..facts import Facts
from ..logs import LogPattern
from ..topology import INGRESS, split_key
from .common import (
    all_callers,
    callee_explains,
    ev,
    internally_healthy,
    node_trouble,
    pressure,
    recent_changes,
    rounded,
    service_ref,
)


def graph_rules(f: Facts) -> Iterable[Finding]:
    yield from _network(f)
    for key in sorted(f.anomalous):
        port = _service_port(f, key)
        if port is not None:
            yield port
        auth = _auth_finding(f, key)
        if auth is not None:
            yield auth


def _troubled_edges(f: Facts) -> list[tuple[str, str]]:
    """Edges the monitor signalled (low-traffic edges' own quantiles are too noisy to trust
    without its calibration)."""
    return sorted(e for e in f.edge_signals if split_key(e[0])[1] != INGRESS)


def _network(f: Facts) -> Iterable[Finding]:
    for source, destination in _troubled_edges(f):
        if callee_explains(f, destination) is not None or not internally_healthy(f, destination):
            continue
        others = [c for c in all_callers(f, destination) if c != source]
        bad = [
            c
            for c in others
            if f.edge_errors_up(c, destination) or f.edge_latency_up(c, destination)
        ]
        if bad:
            continue
        errors = f.edge_errors_up(source, destination)
        if (
            not errors
            and f.svc(destination, "rps").ratio() > 1.3
            and pressure(f, destination) >= 0.7
        ):
            continue  # slower under more load, near its limits: saturation, not the network
        ratio = f.edge(source, destination, "error_ratio").last
        if others:
            score = 0.9
        elif errors and ratio >= 0.9:
            score = 0.45  # every call refused: the destination's port, more likely
        else:
            score = 0.8
        siblings = [d for s, d in f.edge_signals if s == source and d != destination]
        if siblings:
            score -= 0.3  # the source's other calls suffer too: not one path's network
        stat = f.edge(source, destination, "error_ratio" if errors else "p99_ms")
        yield Finding(
            Cause.NETWORK,
            service_ref(source),
            score,
            f"calls {source} → {destination} {'fail' if errors else 'slow down'} while "
            f"{destination} itself is healthy"
            + (f" and serves its {len(others)} other caller(s) well" if others else ""),
            [
                ev(
                    "edge " + ("error ratio" if errors else "p99"),
                    rounded(stat.mid),
                    rounded(stat.base),
                    None if errors else "ms",
                ),
                ev("other callers served well", len(others)),
            ],
            service=source,
            peers=(destination,),
        )


def _service_port(f: Facts, key: str) -> Finding | None:
    callers = all_callers(f, key)
    if not callers or not f.errors_up(key) or callee_explains(f, key) is not None:
        return None
    refused = [f.edge(c, key, "error_ratio") for c in callers]
    if not all(s.last >= 0.9 for s in refused):
        return None
    ready, replicas = f.svc(key, "ready_replicas"), f.svc(key, "replicas")
    if not replicas.last > 0 or ready.last < replicas.last or recent_changes(f, key):
        return None
    if any(node_trouble(f, n) for n in f.ctx.topology.nodes_of(key)):
        return None
    cpu = f.svc(key, "cpu_cores")
    idle = cpu.base > 0 and cpu.last <= 0.5 * cpu.base
    return Finding(
        Cause.SERVICE_PORT,
        service_ref(key),
        0.9 if idle else 0.85,
        f"every call into {key} is refused while its pods are Ready"
        + (" and idle" if idle else ""),
        [
            ev("callers refused", len(callers)),
            ev("cpu", rounded(cpu.last), rounded(cpu.base), "cores"),
        ],
        service=key,
    )


def auth_evidence(f: Facts, key: str) -> tuple[float, list[Evidence], tuple[str, ...]] | None:
    """Clients of ``key`` refused for their credentials: (score, evidence, clients)."""
    name = split_key(key)[1]
    clients = sorted(f.ctx.topology.callers(key))
    if not clients:
        return None
    # log lines are evidence only where the call graph agrees: a client blaming ``key`` must
    # see its calls to ``key`` fail, and ``key``'s own auth lines count only while some client's
    # calls to it fail (a line of text alone must not make a service a suspect: logs are data
    # anyone can write, see tests/agents/specialists/test_injection.py)
    failing = [c for c in clients if f.edge_errors_up(c, key)]
    blamed = []
    for client in failing:
        logs = f.logs(client)
        if logs is not None and logs.upstream_of(LogPattern.AUTH) == name:
            blamed.append(client)
    own = f.logs(key)
    own_auth = own.local[LogPattern.AUTH] if own and failing else 0
    if own is not None and own_auth:
        # and they must be what the service mostly complains of, more than once, and no call
        # of its own may be failing (a failing dependency explains its errors instead)
        explained = any(f.edge_errors_up(key, d) for d in f.ctx.topology.callees(key))
        if not own.dominant(LogPattern.AUTH) or explained:
            own_auth = 0
    if blamed or own_auth:
        evidence = [
            ev("clients logging auth failures", ", ".join(blamed) or "none"),
            ev("auth failures in its own log", own_auth),
        ]
        return 0.97, evidence, tuple(clients)
    refused = all(f.edge(c, key, "error_ratio").mid >= 0.9 for c in failing) if failing else False
    restarted = bool(f.rollouts(key))
    if (
        f.ctx.topology.is_datastore(key)
        and len(failing) == len(clients)
        and refused
        and restarted
        and f.svc(key, "restarts").high == 0
    ):
        evidence = [ev("clients refused", ", ".join(failing)), ev("restarted", "just before")]
        return 0.75, evidence, tuple(clients)
    return None


def _auth_finding(f: Facts, key: str) -> Finding | None:
    found = auth_evidence(f, key)
    if found is None:
        return None
    score, evidence, clients = found
    return Finding(
        Cause.DB_AUTH,
        service_ref(key),
        score,
        f"{key}'s clients are refused for their credentials (it restarted with new ones)",
        evidence,
        service=key,
        peers=clients,
    )
