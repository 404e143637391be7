"""The wiring of one running control plane: every part of the loop built from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actions import Executor, Guardrails, KubernetesBackend, api_client
from agents.analysis import Analyzer, EventWindow, KubernetesReader, LearnedTopology
from agents.policies import MODEL_POLICIES, make_policy
from agents.verify import Verifier
from controlplane.clock import Clock
from controlplane.correlation import Correlator
from controlplane.loop import ControlLoop
from controlplane.settings import Settings
from controlplane.store import Store
from forecasting.monitor import AnomalyMonitor, CapacityMonitor
from telemetry import Collector, KubernetesSource, ScrapeSource, SeriesStore, ViewSLOReader

__all__ = ["LoopOptions", "WarmState", "build_api", "build_loop"]


@dataclass
class WarmState:
    """What a loop learns while it watches, handed over from an earlier watch (the evaluation
    harness warms these once and forks them for every episode)."""

    series: SeriesStore
    monitor: AnomalyMonitor
    topology: LearnedTopology
    events: EventWindow


@dataclass(frozen=True)
class LoopOptions:
    """What ``aiops run`` can change beyond the settings."""

    policy: str = "rules"
    tick_s: float = 15.0
    rate_window_s: float = 60.0
    dry_run: bool = False
    hold_s: float = 120.0
    deadline_s: float = 600.0
    holder: str | None = None
    """This process's name for leader election; ``None`` runs without election (one instance)."""
    checkpoints: bool = True
    """Checkpoint the model policies' graph runs in the database (``False``: in memory, as the
    evaluation harness does: its episodes end with the process)."""


def _checkpointer(settings: Settings, options: LoopOptions) -> Any:
    if options.policy not in MODEL_POLICIES or not options.checkpoints:
        return None
    from agents.specialists import checkpointer_for

    return checkpointer_for(settings.database_url)


def build_loop(
    settings: Settings,
    clock: Clock,
    options: LoopOptions | None = None,
    *,
    store: Store | None = None,
    say: Callable[[str], None] | None = None,
    warm: WarmState | None = None,
) -> ControlLoop:
    """A loop over the cluster at ``settings.kube_host`` (or the testbed URL).

    Telemetry is scraped from ``<host>/metrics`` and read through the Kubernetes API (events,
    logs); actions go through the same API. ``store`` defaults to ``settings.database_url``,
    migrated to the newest schema. ``warm`` supplies the series, detectors and topology learned
    by an earlier watch of the same cluster.
    """
    options = options or LoopOptions()
    host = (settings.kube_host or settings.testbed_url).rstrip("/")
    timeout = settings.http_timeout_seconds
    store = store or Store.open(settings.database_url, clock=clock, actor="controlplane")
    scrape = ScrapeSource(f"{host}/metrics", timeout=timeout, name="metrics")
    kube = KubernetesSource(host, timeout=timeout)
    series = warm.series if warm is not None else SeriesStore()
    collector = Collector([scrape, kube], clock, store=series, rate_window_s=options.rate_window_s)
    slo_reader = ViewSLOReader(collector, [])
    reader_api = api_client(host=host)
    analyzer = Analyzer(
        series,
        logs=kube,
        cluster=KubernetesReader(reader_api, timeout_s=timeout),
        topology=warm.topology if warm is not None else None,
        events=warm.events if warm is not None else None,
    )
    correlator = Correlator(store, analyzer.topology)
    backend = KubernetesBackend(api_client(host=host), timeout_s=timeout)
    guardrails = Guardrails.from_file(settings.guardrails_file)
    executor = Executor(store, backend, guardrails, clock=clock, dry_run=options.dry_run)
    verifier = Verifier(slo_reader, hold_s=options.hold_s, deadline_s=options.deadline_s)
    notifier = None
    if settings.notify_webhook_url:
        from controlplane.notify import Notifier

        notifier = Notifier(
            store,
            settings.notify_webhook_url,
            timeout_s=timeout,
            console_url=settings.console_url,
        )
    leader = None
    if options.holder is not None:
        from controlplane.leader import LeaderElection, ttl_for_tick

        leader = LeaderElection(
            store, options.holder, clock=clock, ttl_s=ttl_for_tick(options.tick_s)
        )
    loop = ControlLoop(
        store=store,
        collector=collector,
        slo_reader=slo_reader,
        monitor=warm.monitor if warm is not None else AnomalyMonitor(options.tick_s),
        capacity=CapacityMonitor(),
        analyzer=analyzer,
        correlator=correlator,
        policy=make_policy(
            options.policy,
            settings,
            needs_person=guardrails.config.approval.needs_person,
            checkpointer=_checkpointer(settings, options),
        ),
        executor=executor,
        verifier=verifier,
        clock=clock,
        leader=leader,
        say=say,
        notifier=notifier,
    )
    loop.closers = [scrape.close, kube.close, reader_api.close, backend.close]
    if notifier is not None:
        loop.closers.append(notifier.close)
    close_policy = getattr(loop.policy, "close", None)
    if close_policy is not None:
        loop.closers.append(close_policy)
    return loop


def build_api(settings: Settings, *, cluster: bool = True, store: Store | None = None) -> Any:
    """The REST API over ``settings.database_url`` (migrated); with ``cluster``, an executor on
    the cluster at ``settings.kube_host`` (or the testbed URL) for dry runs and chat (it only
    observes: actions asked for through the API are run by the leading loop)."""
    from api import create_app

    store = store or Store.open(settings.database_url, actor="api")
    executor = chat = None
    if cluster:
        host = (settings.kube_host or settings.testbed_url).rstrip("/")
        backend = KubernetesBackend(api_client(host=host), timeout_s=settings.http_timeout_seconds)
        executor = Executor(store, backend, Guardrails.from_file(settings.guardrails_file))
        from agents.chat import ChatAgent
        from agents.llm import build_router

        router = build_router("hybrid" if settings.llm_cloud_url else "local", settings)
        chat = ChatAgent(store, router, executor=executor)
    return create_app(settings, store=store, executor=executor, chat=chat)
