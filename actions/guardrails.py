"""Guardrails: whether an action may run now, needs a person's approval, or is refused.

Pure logic over the request, the :class:`~actions.observed.Observed` snapshot of its target, the
:class:`GuardrailConfig` (from YAML, see ``actions/guardrails.example.yaml``), an
:class:`~actions.history.ActionHistory`, the current time and the operator controls in force
(a :class:`~controlplane.store.ControlState` the executor reads from the store before every
action). Rules are checked in a fixed order and the first that decides names itself in the
:class:`Verdict`:

``no_cluster_change`` → ``already_satisfied`` → ``pause`` → ``namespace_pause`` →
``protected_namespace`` → ``opt_out`` → ``silence`` → ``replica_bounds`` → ``serving_to_zero`` →
``max_disruption`` → ``cooldown`` → ``rate_limit`` → ``dry_run`` → ``approval``.

The live controls overlay the config: a pause of the control plane or of a namespace, an opt-out
and dry run act as ``paused``, ``paused_namespaces``, ``opt_out.targets`` and ``dry_run`` do, and
the verdict names the control (id, who set it, comment). ``silence`` has no config key: it
refuses an action whose target matches a silence or maintenance window in force, as does one that
would disrupt a matching Deployment (a pod's, a restarted one's, a drained node's) or pod, or
drain pods from a namespace a namespace-wide pattern (``KIND/NAMESPACE/*``) silences.

A ``batch`` is evaluated step by step, each step as the ``scale`` or ``restart`` it stands for,
and gets its strictest step's verdict; once run, it counts as one action for the rate limit and
as an action on every Deployment of its namespace for the cooldown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controlplane import (
    ActionKind,
    ActionRequest,
    BatchState,
    ConfigError,
    PodDeletionState,
    ReplicasState,
    TargetKind,
    TargetRef,
)
from controlplane.store import Control, ControlKind, ControlState

from .catalogue import CATALOGUE, step_pairs
from .history import ActionHistory
from .observed import Observed, WorkloadSummary, rolled_by_drain, workload_key

__all__ = [
    "Approval",
    "Bounds",
    "GuardrailConfig",
    "Guardrails",
    "OptOut",
    "RateLimit",
    "ReplicaBounds",
    "Rule",
    "Verdict",
    "VerdictKind",
    "load_guardrail_config",
]

TEMPLATE_CHANGES = frozenset(
    {ActionKind.RESTART, ActionKind.ROLLBACK, ActionKind.SET_RESOURCES, ActionKind.MOVE}
)
"""Actions that roll a Deployment's pods (within its ``maxUnavailable``)."""


class Rule(StrEnum):
    NO_CLUSTER_CHANGE = "no_cluster_change"
    ALREADY_SATISFIED = "already_satisfied"
    PAUSE = "pause"
    NAMESPACE_PAUSE = "namespace_pause"
    PROTECTED_NAMESPACE = "protected_namespace"
    OPT_OUT = "opt_out"
    SILENCE = "silence"
    REPLICA_BOUNDS = "replica_bounds"
    SERVING_TO_ZERO = "serving_to_zero"
    MAX_DISRUPTION = "max_disruption"
    COOLDOWN = "cooldown"
    RATE_LIMIT = "rate_limit"
    DRY_RUN = "dry_run"
    APPROVAL = "approval"


class VerdictKind(StrEnum):
    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    REFUSED = "refused"
    DRY_RUN = "dry_run"


class Verdict(BaseModel):
    """What the guardrails decided, which rule decided it, and why (for people and the audit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: VerdictKind
    rule: Rule
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome is VerdictKind.ALLOWED


# -- configuration -------------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Bounds(_Config):
    min: int = Field(default=0, ge=0)
    max: int = Field(default=20, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min {self.min} exceeds max {self.max}")
        return self


class ReplicaBounds(_Config):
    default: Bounds = Bounds()
    services: dict[str, Bounds] = Field(default_factory=dict)
    """Per Deployment, keyed ``namespace/name``."""

    def bounds_for(self, namespace: str, name: str) -> Bounds:
        return self.services.get(workload_key(namespace, name), self.default)


class RateLimit(_Config):
    max_actions: int = Field(default=20, ge=0)
    window_seconds: float = Field(default=3600.0, gt=0)


class OptOut(_Config):
    annotation: str = "aiops.io/opt-out"
    """Targets (and the Deployments an action touches) annotated with this = ``"true"``."""
    targets: list[str] = Field(default_factory=list)
    """Targets as ``kind/namespace/name`` (``deployment/hotel/frontend``) or ``node/NAME``."""


_UNATTENDED = [
    ActionKind.SCALE,
    ActionKind.RESTART,
    ActionKind.DELETE_POD,
    ActionKind.CORDON,
    ActionKind.UNCORDON,
    ActionKind.BATCH,
]
_NEEDS_APPROVAL = [
    ActionKind.ROLLBACK,
    ActionKind.DRAIN,
    ActionKind.SET_RESOURCES,
    ActionKind.MOVE,
    ActionKind.REVERT_PORT,
]


class Approval(_Config):
    """Which kinds run unattended; every other cluster-changing kind waits for a person."""

    unattended: list[ActionKind] = Field(default_factory=lambda: list(_UNATTENDED))
    needs_approval: list[ActionKind] = Field(default_factory=lambda: list(_NEEDS_APPROVAL))

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        both = sorted(set(self.unattended) & set(self.needs_approval))
        if both:
            raise ValueError(f"kinds both unattended and needing approval: {both}")
        return self

    def needs_person(self, kind: ActionKind) -> bool:
        return kind not in self.unattended


class GuardrailConfig(_Config):
    """Every guardrail's setting; the defaults apply when no file is given."""

    dry_run: bool = False
    paused: bool = False
    paused_namespaces: list[str] = Field(default_factory=list)
    protected_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-public", "kube-node-lease"]
    )
    opt_out: OptOut = OptOut()
    replicas: ReplicaBounds = ReplicaBounds()
    never_scale_serving_to_zero: bool = True
    max_disruption: float = Field(default=0.5, gt=0, le=1)
    """The largest share of a Deployment's pods an action may leave unavailable at once."""
    cooldown_seconds: float = Field(default=300.0, ge=0)
    rate_limit: RateLimit = RateLimit()
    approval: Approval = Approval()

    @classmethod
    def from_yaml(cls, text: str, source: str = "guardrails") -> GuardrailConfig:
        """Parse YAML; an invalid document raises :class:`ConfigError` naming the fields."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{source}: {fields}") from exc


def load_guardrail_config(path: str | Path | None = None) -> GuardrailConfig:
    """The config in ``path`` (YAML), or the documented defaults when ``path`` is ``None``."""
    if path is None:
        return GuardrailConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read guardrail config {path}: {exc}") from exc
    return GuardrailConfig.from_yaml(text, source=str(path))


# -- evaluation ----------------------------------------------------------------------------------


def _refused(rule: Rule, reason: str) -> Verdict:
    return Verdict(outcome=VerdictKind.REFUSED, rule=rule, reason=reason)


def _by(control: Control | None) -> str:
    """`` (<the control>)``: the operator control that decided; empty when the config did."""
    return "" if control is None else f" ({control.describe()})"


def _newly_down(
    request: ActionRequest, observed: Observed
) -> Iterator[tuple[WorkloadSummary, int]]:
    """Each Deployment the action touches, and how many of its available pods it takes down."""
    if request.kind in TEMPLATE_CHANGES:
        for summary in observed.workloads:
            if summary.ref == request.target:
                down_now = max(0, summary.replicas - summary.available)
                yield summary, max(0, min(summary.max_unavailable, summary.replicas) - down_now)
    elif isinstance(request.desired, PodDeletionState) and observed.pod is not None:
        pod = observed.pod
        owner = observed.summary(pod.workload) if pod.workload else None
        if owner is not None:
            yield owner, int(pod.ready and not pod.deleting)
    elif request.kind is ActionKind.DRAIN and observed.node is not None:
        rolled = rolled_by_drain(observed)
        for summary in observed.workloads:
            if summary.key in rolled:  # a rolling restart, as a template change
                down_now = max(0, summary.replicas - summary.available)
                yield summary, max(0, min(summary.max_unavailable, summary.replicas) - down_now)
                continue
            yield (
                summary,
                sum(p.ready for p in observed.node.evictable if p.workload == summary.key),
            )


class Guardrails:
    """Evaluates requests against one :class:`GuardrailConfig`."""

    def __init__(self, config: GuardrailConfig | None = None) -> None:
        self.config = config or GuardrailConfig()

    @classmethod
    def from_file(cls, path: str | Path | None) -> Guardrails:
        return cls(load_guardrail_config(path))

    def evaluate(
        self,
        request: ActionRequest,
        observed: Observed,
        history: ActionHistory,
        now: float,
        *,
        controls: ControlState | None = None,
    ) -> Verdict:
        """The verdict on running ``request`` against ``observed`` at time ``now``, under the
        operator ``controls`` in force (``None``: none)."""
        live = controls or ControlState()
        spec = CATALOGUE[request.kind]
        if not spec.changes_cluster:
            return Verdict(
                outcome=VerdictKind.ALLOWED,
                rule=Rule.NO_CLUSTER_CHANGE,
                reason=f"{request.kind} makes no cluster call",
            )
        if spec.is_satisfied(request, observed):
            return Verdict(
                outcome=VerdictKind.ALLOWED,
                rule=Rule.ALREADY_SATISFIED,
                reason=f"{request.target} is already in the desired state: nothing will be sent",
            )
        if isinstance(request.desired, BatchState):
            return self._batch(request, observed, history, now, live)
        checks: list[Callable[[ActionRequest, Observed], Verdict | None]] = [
            lambda r, o: self._pause(live),
            lambda r, o: self._namespace_pause(r, o, live),
            self._protected,
            lambda r, o: self._opt_out(r, o, live),
            lambda r, o: self._silence(r, o, live),
            self._replica_bounds,
            self._serving_to_zero,
            self._disruption,
            lambda r, o: self._cooldown(r, o, history, now),
            lambda r, o: self._rate_limit(history, now),
        ]
        for check in checks:
            verdict = check(request, observed)
            if verdict is not None:
                return verdict
        return self._approval(request, live)

    def _batch(
        self,
        request: ActionRequest,
        observed: Observed,
        history: ActionHistory,
        now: float,
        live: ControlState,
    ) -> Verdict:
        """A batch passes only as its strictest step: each step is evaluated as the scale or
        restart it stands for (every rule above); a refused step refuses the batch, one that
        needs a person (or the batch kind itself needing one) makes the batch need one."""
        verdicts = []
        for step, seen in step_pairs(request, observed):
            verdict = self.evaluate(step, seen, history, now, controls=live)
            if verdict.outcome is VerdictKind.REFUSED:
                return _refused(verdict.rule, f"step {step.target}: {verdict.reason}")
            verdicts.append((step, verdict))
        for outcome in (VerdictKind.DRY_RUN, VerdictKind.NEEDS_APPROVAL):
            for step, verdict in verdicts:
                if verdict.outcome is outcome:
                    reason = f"step {step.target}: {verdict.reason}"
                    return Verdict(outcome=outcome, rule=verdict.rule, reason=reason)
        verdict = self._approval(request, live)
        steps = ", ".join(str(step.target) for step, _ in verdicts)
        return verdict.model_copy(update={"reason": f"{verdict.reason} (steps: {steps})"})

    # -- the rules, in order ---------------------------------------------------------------------

    def _pause(self, live: ControlState) -> Verdict | None:
        if self.config.paused:
            return _refused(Rule.PAUSE, "actions are paused for the whole cluster")
        if live.paused:
            control = live.first(ControlKind.PAUSE)
            return _refused(
                Rule.PAUSE, f"actions are paused for the whole control plane{_by(control)}"
            )
        return None

    @staticmethod
    def _namespaces(request: ActionRequest, observed: Observed) -> set[str]:
        """Namespaces the action disrupts: the target's, or a drained node's pods'."""
        if request.target.namespace:
            return {request.target.namespace}
        if request.kind is ActionKind.DRAIN and observed.node is not None:
            return {p.namespace for p in observed.node.evictable}
        return set()

    def _namespace_pause(
        self, request: ActionRequest, observed: Observed, live: ControlState
    ) -> Verdict | None:
        paused_set = set(self.config.paused_namespaces) | set(live.paused_namespaces)
        paused = sorted(self._namespaces(request, observed) & paused_set)
        if paused:
            control = live.first(ControlKind.PAUSE, namespace=paused[0])
            return _refused(
                Rule.NAMESPACE_PAUSE, f"actions are paused in namespace {paused[0]}{_by(control)}"
            )
        return None

    def _protected(self, request: ActionRequest, observed: Observed) -> Verdict | None:
        hit = sorted(self._namespaces(request, observed) & set(self.config.protected_namespaces))
        if hit:
            reason = f"{request.kind} would act in protected namespace {hit[0]}"
            return _refused(Rule.PROTECTED_NAMESPACE, reason)
        return None

    def _opt_out(
        self, request: ActionRequest, observed: Observed, live: ControlState
    ) -> Verdict | None:
        opt = self.config.opt_out
        marked = set(opt.targets) | set(live.opt_outs)
        target = str(request.target)
        if target in marked or observed.annotations.get(opt.annotation) == "true":
            control = live.first(ControlKind.OPT_OUT, target=target)
            return _refused(
                Rule.OPT_OUT, f"{request.target} opted out of automated actions{_by(control)}"
            )
        for summary in observed.workloads:
            ref = str(summary.ref)
            if ref in marked or summary.annotations.get(opt.annotation) == "true":
                control = live.first(ControlKind.OPT_OUT, target=ref)
                return _refused(
                    Rule.OPT_OUT,
                    f"{request.kind} would disrupt {summary.ref}, which opted out of automated "
                    f"actions{_by(control)}",
                )
        return None

    def _silence(
        self, request: ActionRequest, observed: Observed, live: ControlState
    ) -> Verdict | None:
        if not live.silences:
            return None
        control = live.matching_silence(request.target)
        if control is not None:
            return _refused(Rule.SILENCE, f"{request.target} is silenced{_by(control)}")
        disrupted: list[str] = [str(summary.ref) for summary, _ in _newly_down(request, observed)]
        if request.kind is ActionKind.DRAIN and observed.node is not None:
            disrupted += [
                f"{TargetKind.POD}/{p.namespace}/{p.name}" for p in observed.node.evictable
            ]
        for ref in disrupted:
            control = live.matching_silence(ref)
            if control is not None:
                return _refused(
                    Rule.SILENCE,
                    f"{request.kind} would disrupt {ref}, which is silenced{_by(control)}",
                )
        if request.kind is ActionKind.DRAIN:
            for namespace in sorted(self._namespaces(request, observed)):
                control = live.namespace_silence(namespace)
                if control is not None:
                    return _refused(
                        Rule.SILENCE,
                        f"{request.kind} would evict pods in namespace {namespace}, which is "
                        f"silenced{_by(control)}",
                    )
        return None

    def _replica_bounds(self, request: ActionRequest, observed: Observed) -> Verdict | None:
        if not isinstance(request.desired, ReplicasState):
            return None
        target = request.target
        bounds = self.config.replicas.bounds_for(target.namespace or "", target.name)
        wanted = request.desired.replicas
        if not bounds.min <= wanted <= bounds.max:
            return _refused(
                Rule.REPLICA_BOUNDS,
                f"{wanted} replicas is outside the bounds {bounds.min}..{bounds.max} of {target}",
            )
        return None

    def _serving_to_zero(self, request: ActionRequest, observed: Observed) -> Verdict | None:
        if not (
            self.config.never_scale_serving_to_zero
            and isinstance(request.desired, ReplicasState)
            and request.desired.replicas == 0
            and observed.workload is not None
            and observed.workload.services
        ):
            return None
        services = ", ".join(observed.workload.services)
        return _refused(
            Rule.SERVING_TO_ZERO,
            f"{request.target} serves Service(s) {services}: it is never scaled to zero",
        )

    def _disruption(self, request: ActionRequest, observed: Observed) -> Verdict | None:
        limit = self.config.max_disruption
        for summary, newly in _newly_down(request, observed):
            if newly <= 0 or summary.replicas <= 0:
                continue
            down = max(0, summary.replicas - summary.available) + newly
            if down / summary.replicas > limit:
                return _refused(
                    Rule.MAX_DISRUPTION,
                    f"{request.kind} would leave {summary.ref} with {summary.replicas - down} of "
                    f"{summary.replicas} pods available ({down / summary.replicas:.0%} down; "
                    f"at most {limit:.0%} at once)",
                )
        return None

    def _cooldown(
        self, request: ActionRequest, observed: Observed, history: ActionHistory, now: float
    ) -> Verdict | None:
        cooldown = self.config.cooldown_seconds
        targets = [request.target]
        if request.target.kind is TargetKind.POD:
            targets += [s.ref for s in observed.workloads]
        if request.target.namespace and request.target.kind is not TargetKind.SERVICE:
            # a batch in the namespace counts as an action on each of its Deployments
            targets.append(TargetRef(kind=TargetKind.NAMESPACE, name=request.target.namespace))
        for target in targets:
            last = history.last_action_at(target)
            if last is not None and now - last < cooldown:
                return _refused(
                    Rule.COOLDOWN,
                    f"{target} was acted on {now - last:.0f} s ago; cooldown is {cooldown:.0f} s",
                )
        return None

    def _rate_limit(self, history: ActionHistory, now: float) -> Verdict | None:
        limit = self.config.rate_limit
        count = history.count_since(now - limit.window_seconds)
        if count >= limit.max_actions:
            return _refused(
                Rule.RATE_LIMIT,
                f"{count} actions in the last {limit.window_seconds:.0f} s "
                f"(limit {limit.max_actions})",
            )
        return None

    def _approval(self, request: ActionRequest, live: ControlState) -> Verdict:
        needs = self.config.approval.needs_person(request.kind)
        if self.config.dry_run or live.dry_run:
            would = "need a person's approval" if needs else "be allowed"
            by = "" if self.config.dry_run else _by(live.first(ControlKind.DRY_RUN))
            return Verdict(
                outcome=VerdictKind.DRY_RUN,
                rule=Rule.DRY_RUN,
                reason=f"dry run{by}: {request.kind} on {request.target} would {would}",
            )
        if needs:
            return Verdict(
                outcome=VerdictKind.NEEDS_APPROVAL,
                rule=Rule.APPROVAL,
                reason=f"{request.kind} needs a person's approval",
            )
        return Verdict(
            outcome=VerdictKind.ALLOWED,
            rule=Rule.APPROVAL,
            reason=f"{request.kind} is safe to take unattended within the guardrails",
        )
