"""The entry point: an incident's signals and the telemetry context in, ranked root-cause
hypotheses and candidate actions out.

:func:`analyse` is pure and deterministic: the same signals and context give the same
:class:`Analysis` (ties are broken by name; the only inputs read are the context's). It runs
every rule (:data:`~agents.analysis.rules.RULES`) over the incident's
:class:`~agents.analysis.facts.Facts`, merges findings that name the same target with the same
label, ranks them (score, then the deeper service in the call graph, then the name) and builds
the candidates of the top hypotheses.

:class:`Analyzer` is what the loop holds: it learns the topology and keeps recent events every
tick (:meth:`Analyzer.observe`), and analyses an incident on demand.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from controlplane import Candidate, Evidence, Hypothesis, Signal
from telemetry import ClusterView, SeriesStore

from .candidates import build_candidates
from .causes import Finding
from .cluster import ClusterReader
from .context import AnalysisConfig, AnalysisContext, EventWindow
from .facts import Facts
from .logs import LogReader
from .rules import RULES, depth
from .topology import LearnedTopology

__all__ = ["Analysis", "Analyzer", "analyse", "localize"]

MAX_EVIDENCE = 8


class Analysis(BaseModel):
    """Ranked hypotheses (best first) and candidate actions (best first, escalation last).

    ``Candidate.hypothesis_index`` points into ``hypotheses``. ``onset`` is the earliest signal's
    start; ``logs_read`` the services whose logs were read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: float
    onset: float
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    logs_read: list[str] = Field(default_factory=list)

    @property
    def top(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per (target, label): the strongest, with the others' evidence appended and
    a small bonus when distinct rules agree."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.key, []).append(finding)
    merged = []
    for group in groups.values():
        group.sort(key=lambda x: (-x.score, x.cause))
        best = group[0]
        causes = {x.cause for x in group}
        evidence = list(best.evidence)
        for other in group[1:]:
            evidence += [e for e in other.evidence if e not in evidence]
        best.evidence = evidence
        best.score = min(0.99, best.score + 0.03 * (len(causes) - 1))
        merged.append(best)
    return merged


def localize(facts: Facts) -> list[Finding]:
    """Every rule's findings, merged and ranked."""
    findings = [finding for rule in RULES for finding in rule(facts)]
    ranked = _merge([f for f in findings if f.score > 0])
    ranked.sort(key=lambda x: (-round(x.score, 6), -depth(facts, x.service), str(x.target)))
    return ranked


def _hypothesis(finding: Finding) -> Hypothesis:
    evidence = list(finding.evidence)
    if finding.service is not None:
        evidence.insert(0, Evidence(name="service", value=finding.service))
    evidence.insert(0, Evidence(name="cause", value=str(finding.cause)))
    return Hypothesis(
        target=finding.target,
        label=finding.label,
        score=round(min(max(finding.score, 0.0), 1.0), 4),
        evidence=evidence[:MAX_EVIDENCE],
        summary=finding.summary,
    )


def analyse(signals: Sequence[Signal], context: AnalysisContext) -> Analysis:
    """Ranked root-cause hypotheses and candidate actions for an incident's ``signals``.

    Hypotheses are capped at ``config.max_hypotheses``; candidates are built for the first
    ``config.candidate_hypotheses`` of them, best first, with an escalation last. With no
    signals there is nothing to explain: no hypotheses, no candidates.
    """
    facts = Facts(signals, context)
    if not facts.signals:
        return Analysis(at=context.now, onset=context.now)
    findings = localize(facts)[: context.config.max_hypotheses]
    candidates = build_candidates(facts, findings, context.config.candidate_hypotheses)
    return Analysis(
        at=context.now,
        onset=facts.onset,
        hypotheses=[_hypothesis(f) for f in findings],
        candidates=candidates,
        logs_read=sorted(facts.logs_read),
    )


class Analyzer:
    """Keeps what analysis learns across ticks and analyses incidents on demand.

    Call :meth:`observe` with every tick's view (it updates the learned topology and the event
    window); :meth:`analyse` then builds a context from the latest view and ``store``.
    """

    def __init__(
        self,
        store: SeriesStore,
        *,
        logs: LogReader | None = None,
        cluster: ClusterReader | None = None,
        topology: LearnedTopology | None = None,
        events: EventWindow | None = None,
        config: AnalysisConfig | None = None,
        decided_by: str = "analysis",
    ) -> None:
        self.store = store
        self.logs = logs
        self.cluster = cluster
        self.topology = topology or LearnedTopology()
        self.events = events or EventWindow()
        self.config = config or AnalysisConfig()
        self.decided_by = decided_by
        self.view: ClusterView | None = None

    def observe(self, view: ClusterView) -> None:
        self.view = view
        self.topology.update(view)
        self.events.update(view)

    def context(self, incident_id: str | None = None) -> AnalysisContext:
        if self.view is None:
            raise ValueError("observe at least one view before analysing")
        return AnalysisContext(
            view=self.view,
            store=self.store,
            topology=self.topology,
            events=self.events.events(),
            logs=self.logs,
            cluster=self.cluster,
            config=self.config,
            incident_id=incident_id,
            decided_by=self.decided_by,
        )

    def analyse(self, signals: Sequence[Signal], incident_id: str | None = None) -> Analysis:
        return analyse(signals, self.context(incident_id))
