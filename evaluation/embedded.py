"""The control plane healing an embedded testbed: the main job of ``aiops run --embedded``.

The testbed runs in this process in **virtual time**, served over HTTP on 127.0.0.1 like any
cluster; the control loop reaches it only through that server (``/metrics`` and the Kubernetes
API), in lockstep: each tick the simulation advances ``tick_s`` and the loop runs once on a
clock that shows the simulation's time. After ``inject_after_s`` of healthy running (the
detectors learn what normal looks like) one fault of the library is injected; the run ends when
its incident is resolved and has stayed so for ``settle_s``, or after ``limit_s``. ``pace``
(simulated seconds per wall second) slows it to watchable speed; ``None`` runs flat out.

Only this harness knows the fault: it names it in its own lines (``testbed:``), never to the
control plane.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.clock import ManualClock
from controlplane.loop import TickReport
from controlplane.runtime import LoopOptions, build_loop
from controlplane.settings import Settings
from controlplane.store import Store
from testbed.app import AppSpec, load_app
from testbed.cluster import Cluster
from testbed.faults import FAULTS, FaultDef
from testbed.load import Constant
from testbed.noise import NoiseConfig
from testbed.runner import TestbedServer

__all__ = [
    "EmbeddedOptions",
    "EmbeddedResult",
    "choose_target",
    "run_embedded",
    "simulated_operator",
]


@dataclass(frozen=True)
class EmbeddedOptions:
    app: str = "hotel-reservation"
    fault: str | None = "bad-release"
    target: dict[str, str] | None = None
    """Where the fault strikes; ``None`` picks a single-replica service that has callers."""
    seed: int = 11
    load_share: float = 0.5
    """Constant load as a share of the application's peak."""
    noise: bool = True
    inject_after_s: float = 3600.0
    limit_s: float = 3 * 3600.0
    settle_s: float = 300.0
    operator_delay_s: float | None = 120.0
    """A simulated operator approves what waits for a person after this long (``None``: no one
    answers, approvals expire)."""
    pace: float | None = None
    loop: LoopOptions = field(default_factory=LoopOptions)


@dataclass
class EmbeddedResult:
    fault: str | None
    target: dict[str, str]
    injected_at: float | None = None
    detected_at: float | None = None
    acted_at: float | None = None
    resolved_at: float | None = None
    actions: list[str] = field(default_factory=list)
    reports: list[TickReport] = field(default_factory=list)

    @property
    def healed(self) -> bool:
        return self.resolved_at is not None


def choose_target(fault: FaultDef, app: AppSpec, cluster: Cluster) -> dict[str, str]:
    """A target for ``fault`` in ``app``: a single-replica service with callers (the first in
    file order), its busiest-looking edge into a leaf, its node, or the application."""
    service = next(
        s.name
        for s in app.services
        if app.callers(s.name) and s.replicas == 1 and not s.credentials
    )
    if fault.target == "edge":
        leaves = [s.name for s in app.services if not s.calls]
        for svc in app.services:
            for call in svc.calls:
                if svc.name != app.entry and call.service in leaves:
                    return {"source": svc.name, "destination": call.service}
    if fault.target == "node":
        pods = sorted(
            (p for p in cluster.pods_in(app.namespace) if p.rs and p.rs.deployment), key=str
        )
        for pod in pods:
            deployment = pod.rs.deployment if pod.rs is not None else None
            if deployment is not None and pod.node is not None and deployment.name == service:
                return {"node": pod.node.name}
    if fault.target == "app":
        return {}
    if fault.name == "db-auth":
        return {"service": next(s.name for s in app.services if s.credentials)}
    return {"service": service}


def simulated_operator(
    store: Store, now: float, delay_s: float, say: Callable[[str], None], *, approve: bool = True
) -> None:
    """A simulated operator: approves (or rejects) every request that has waited ``delay_s``."""
    with store.write() as tx:
        for approval in tx.approvals.pending():
            if approval.requested_at + delay_s <= now < approval.expires_at:
                action = tx.actions.get(approval.action_id)
                why = "looks right" if approve else "not now"
                tx.approvals.decide(approval.id, "operator (simulated)", approve, why)
                what = f"{action.request.kind} {action.request.target}" if action else "an action"
                verb = "approved" if approve else "rejected"
                say(f"operator: {verb} {what} after {now - approval.requested_at:.0f} s")


def _settle(cluster: Cluster, limit_s: int = 300) -> None:
    for _ in range(limit_s):
        cluster.advance(1)
        if (
            all(
                d.status.get("availableReplicas") == d.replicas
                for d in cluster.deployments.values()
            )
            and not cluster.pending
        ):
            return


def run_embedded(
    settings: Settings,
    options: EmbeddedOptions | None = None,
    *,
    say: Callable[[str], None] = print,
    store: Store | None = None,
) -> EmbeddedResult:
    """Run the embedded scenario; ``say`` gets every line of the account."""
    options = options or EmbeddedOptions()
    app = load_app(options.app)
    peak = float((app.load or {}).get("high") or (app.load or {}).get("rps") or 100.0)
    noise = (
        NoiseConfig(
            deploys=True,
            log_lines=True,
            cron_spikes=True,
            maintenance=True,
            drift=True,
            seed=options.seed,
        )
        if options.noise
        else None
    )
    cluster = Cluster(
        app, seed=options.seed, load=Constant(options.load_share * peak), benign=noise
    )
    _settle(cluster)
    fault = FAULTS[options.fault] if options.fault else None
    target = (
        options.target
        if options.target is not None
        else (choose_target(fault, app, cluster) if fault else {})
    )
    result = EmbeddedResult(options.fault, target)
    start = cluster.now
    tick_s = options.loop.tick_s

    def line(text: str) -> None:
        minutes = (cluster.now - start) / 60
        say(f"[{minutes:6.1f} min] {text}")

    with TestbedServer(cluster) as server:
        clock = ManualClock(cluster.now)
        local = settings.model_copy(update={"testbed_url": server.url, "kube_host": None})
        loop = build_loop(local, clock, options.loop, store=store, say=line)
        line(
            f"testbed: {app.name} ({len(app.services)} services) at {server.url}, "
            f"{options.load_share * peak:.0f} requests/s, noise {'on' if noise else 'off'}; "
            f"policy {options.loop.policy}, a tick every {tick_s:g} s"
        )
        if fault:
            line(
                f"testbed: {fault.name} on {target or app.name} after "
                f"{options.inject_after_s / 60:.0f} min (the control plane is not told)"
            )
        while cluster.now - start < options.limit_s:
            wall = time.monotonic()
            cluster.advance(tick_s)
            clock.advance(tick_s)
            if (
                fault
                and result.injected_at is None
                and cluster.now - start >= options.inject_after_s
            ):
                cluster.fault_engine.inject(fault.name, target, namespace=app.namespace)
                result.injected_at = cluster.now
                line(f"testbed: injected {fault.name} on {target or app.name}")
            report = loop.tick()
            result.reports.append(report)
            if result.injected_at is not None:
                if report.signals and result.detected_at is None:
                    result.detected_at = cluster.now
                for record in report.actions:
                    result.actions.append(
                        f"{record.request.kind} {record.request.target}: {record.status}"
                    )
                    if result.acted_at is None:
                        result.acted_at = cluster.now
                if report.resolved and result.acted_at is not None:
                    result.resolved_at = cluster.now
            if options.operator_delay_s is not None:
                simulated_operator(loop.store, cluster.now, options.operator_delay_s, line)
            if (
                result.resolved_at is not None
                and cluster.now - result.resolved_at >= options.settle_s
            ):
                break
            if options.pace:
                time.sleep(max(0.0, tick_s / options.pace - (time.monotonic() - wall)))
        loop.close()
    if fault:
        if result.healed:
            assert result.injected_at is not None and result.resolved_at is not None
            line(
                f"testbed: healed {(result.resolved_at - result.injected_at) / 60:.1f} min after "
                f"the injection ({len(result.actions)} action(s))"
            )
        else:
            line("testbed: not healed within the time allowed")
    return result
