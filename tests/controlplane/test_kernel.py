"""The kernel: settings, clocks, exceptions and the domain types."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import controlplane
from controlplane import (
    SLO,
    ActionError,
    ActionFailed,
    ActionKind,
    ActionRejected,
    ActionRequest,
    AgentError,
    AIOpsError,
    Candidate,
    Clock,
    ConfigError,
    Decision,
    DrainState,
    EscalationState,
    Evidence,
    FaultLabel,
    FaultType,
    ForecastError,
    Hypothesis,
    IllegalTransition,
    Incident,
    IncidentState,
    InvalidModelOutput,
    LLMUnavailable,
    ManualClock,
    NoActionState,
    PlacementState,
    PodDeletionState,
    PreconditionFailed,
    RecordNotFound,
    ReplicasState,
    ResourcesState,
    RestartState,
    RevisionState,
    SchedulableState,
    ServicePortState,
    Severity,
    Signal,
    SLOReader,
    SLOStatus,
    StaleEpoch,
    StoreError,
    SystemClock,
    SystemLevel,
    TargetKind,
    TargetRef,
    TelemetryError,
    Tier,
    TimelineEntry,
    can_transition,
    load_settings,
)

DEPLOY = TargetRef(kind=TargetKind.DEPLOYMENT, name="search", namespace="hotel")
NODE = TargetRef(kind=TargetKind.NODE, name="node-1")


def scale(replicas: int = 4, incident_id: str | None = "inc-1", **kw: object) -> ActionRequest:
    return ActionRequest.model_validate(
        {
            "kind": "scale",
            "target": DEPLOY,
            "desired": {"type": "replicas", "replicas": replicas},
            "reason": "latency",
            "decided_by": "rules",
            "incident_id": incident_id,
            "created_at": 100.0,
            **kw,
        }
    )


# --- package surface ------------------------------------------------------------------------


def test_all_names_are_exported() -> None:
    missing = [name for name in controlplane.__all__ if not hasattr(controlplane, name)]
    assert missing == []
    assert "Settings" in controlplane.__all__
    assert len(set(controlplane.__all__)) == len(controlplane.__all__)


# --- settings -------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("AIOPS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///.aiops/aiops.db"
    assert settings.testbed_url == "http://127.0.0.1:8080"
    assert settings.kube_host is None
    assert settings.tick_seconds == 5.0
    assert settings.policy == "rules"
    assert settings.log_level == "INFO"
    assert settings.data_dir == Path(".aiops")


def test_settings_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AIOPS_TICK_SECONDS", "0.5")
    clean_env.setenv("AIOPS_POLICY", "hybrid")
    clean_env.setenv("AIOPS_LOG_LEVEL", "debug")
    clean_env.setenv("AIOPS_KUBE_HOST", "https://10.0.0.1:6443")
    clean_env.setenv("AIOPS_DATA_DIR", "/tmp/aiops")
    settings = load_settings()
    assert settings.tick_seconds == 0.5
    assert settings.policy == "hybrid"
    assert settings.log_level == "DEBUG"
    assert settings.kube_host == "https://10.0.0.1:6443"
    assert settings.data_dir == Path("/tmp/aiops")


def test_settings_overrides_win_over_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AIOPS_POLICY", "hybrid")
    assert load_settings(policy="cloud").policy == "cloud"


def test_settings_ignore_dotenv_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AIOPS_POLICY=cloud\n")
    clean_env.chdir(tmp_path)
    assert load_settings().policy == "rules"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("AIOPS_TICK_SECONDS", "0", "AIOPS_TICK_SECONDS: Input should be greater than 0"),
        ("AIOPS_TICK_SECONDS", "soon", "AIOPS_TICK_SECONDS"),
        ("AIOPS_LOG_LEVEL", "LOUD", "AIOPS_LOG_LEVEL"),
        ("AIOPS_HTTP_TIMEOUT_SECONDS", "-1", "AIOPS_HTTP_TIMEOUT_SECONDS"),
    ],
)
def test_bad_env_value_is_config_error(
    clean_env: pytest.MonkeyPatch, var: str, value: str, message: str
) -> None:
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings()
    assert isinstance(info.value.__cause__, ValidationError)


# --- clock ----------------------------------------------------------------------------------


def test_manual_clock() -> None:
    clock = ManualClock(start=1000.0)
    assert clock.now() == 1000.0
    clock.advance(2.5)
    assert clock.now() == 1002.5
    clock.sleep(10)
    assert clock.now() == 1012.5
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert isinstance(clock, Clock)


def test_system_clock() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert abs(clock.now() - time.time()) < 5
    before = time.monotonic()
    clock.sleep(0.01)
    assert time.monotonic() - before >= 0.01


# --- SLOs -----------------------------------------------------------------------------------


def test_slo_needs_a_bound() -> None:
    with pytest.raises(ValidationError, match="needs a latency_ms bound"):
        SLO(service="search")
    with pytest.raises(ValidationError):
        SLO(service="search", error_ratio=1.5)
    with pytest.raises(ValidationError):
        SLO.model_validate({"service": "search", "latency_ms": 200, "latency_quantile": 0.8})


def test_slo_is_met() -> None:
    slo = SLO(service="search", latency_ms=200, error_ratio=0.01)
    assert slo.is_met(150.0, 0.001)
    assert not slo.is_met(250.0, 0.001)
    assert not slo.is_met(150.0, 0.05)
    assert slo.is_met(None, None)
    assert not slo.is_met(float("nan"), 0.0)
    latency_only = SLO(service="search", latency_ms=200)
    assert latency_only.is_met(199.0, 0.9)
    assert latency_only.error_budget == pytest.approx(0.01)
    assert latency_only.burn_rate(0.144) == pytest.approx(14.4)


def test_slo_reader_protocol() -> None:
    class Fixed:
        def status(self) -> dict[str, SLOStatus]:
            return {"search": SLOStatus(service="search", met=True, at=1.0)}

    reader = Fixed()
    assert isinstance(reader, SLOReader)
    assert reader.status()["search"].met


# --- incidents ------------------------------------------------------------------------------


def test_incident_legal_transitions() -> None:
    incident = Incident(id="inc-1", services=["search"], opened_at=10.0)
    assert incident.updated_at == 10.0
    diagnosing = incident.transition(IncidentState.DIAGNOSING, at=11.0, reason="signals")
    resolved = (
        diagnosing.transition(IncidentState.MITIGATING, 12.0, "scale")
        .transition(IncidentState.VERIFYING, 13.0, "applied")
        .transition(IncidentState.RESOLVED, 20.0, "SLO held")
    )
    assert incident.state is IncidentState.OPEN  # the original is untouched
    assert resolved.state is IncidentState.RESOLVED
    assert resolved.resolved_at == 20.0
    assert resolved.updated_at == 20.0
    assert [e.kind for e in resolved.timeline] == ["transition"] * 4
    assert resolved.timeline[-1].summary == "verifying -> resolved: SLO held"
    reopened = resolved.transition(IncidentState.OPEN, 30.0, "recurred")
    assert reopened.resolved_at is None


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (IncidentState.OPEN, IncidentState.VERIFYING),
        (IncidentState.RESOLVED, IncidentState.MITIGATING),
        (IncidentState.DIAGNOSING, IncidentState.DIAGNOSING),
    ],
)
def test_incident_illegal_transition(start: IncidentState, to: IncidentState) -> None:
    assert not can_transition(start, to)
    incident = Incident(state=start, opened_at=0.0, resolved_at=None)
    with pytest.raises(ValueError, match="illegal transition"):
        incident.transition(to, at=1.0, reason="no")


def test_every_state_has_transitions() -> None:
    assert set(controlplane.INCIDENT_TRANSITIONS) == set(IncidentState)
    assert can_transition(IncidentState.VERIFYING, IncidentState.MITIGATING)


def test_severity_is_ordered() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert max([Severity.LOW, Severity.CRITICAL, Severity.MEDIUM]) is Severity.CRITICAL
    assert sorted([Severity.HIGH, Severity.INFO])[0] is Severity.INFO


def test_target_ref_str() -> None:
    assert str(DEPLOY) == "deployment/hotel/search"
    assert str(NODE) == "node/node-1"


# --- actions --------------------------------------------------------------------------------


def test_action_kind_desired_mismatch_rejected() -> None:
    with pytest.raises(ValidationError, match="scale needs a ReplicasState"):
        ActionRequest(
            kind=ActionKind.SCALE,
            target=DEPLOY,
            desired=RevisionState(revision=3),
            reason="r",
            decided_by="rules",
            created_at=0.0,
        )


def test_action_target_and_cordon_checks() -> None:
    with pytest.raises(ValidationError, match="cannot act on a node"):
        scale(target=NODE)
    with pytest.raises(ValidationError, match="unschedulable=True"):
        ActionRequest(
            kind=ActionKind.CORDON,
            target=NODE,
            desired=SchedulableState(unschedulable=False),
            reason="r",
            decided_by="rules",
            created_at=0.0,
        )


def test_idempotency_key_is_deterministic() -> None:
    first, second = scale(4), scale(4)
    assert first.id != second.id
    assert first.idempotency_key == second.idempotency_key
    assert len(first.idempotency_key) == 64
    assert scale(5).idempotency_key != first.idempotency_key
    assert scale(4, incident_id="inc-2").idempotency_key != first.idempotency_key
    assert scale(4, idempotency_key="given").idempotency_key == "given"
    derived = ActionRequest.derive_idempotency_key(
        "inc-1", ActionKind.SCALE, DEPLOY, ReplicasState(replicas=4)
    )
    assert derived == first.idempotency_key


def test_resources_state_validates_quantities() -> None:
    assert ResourcesState(container="app", cpu_limit="500m").cpu_limit == "500m"
    with pytest.raises(ValidationError):
        ResourcesState(container="app", memory_limit="lots")
    with pytest.raises(ValidationError, match="at least one"):
        ResourcesState(container="app")


# --- decisions ------------------------------------------------------------------------------


def candidate(replicas: int) -> Candidate:
    return Candidate(action=scale(replicas), expected_effect="p99 down", risk=0.1, cost=1.0)


def test_decision_choice_out_of_range_rejected() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        Decision(
            incident_id="inc-1",
            agent="capacity",
            policy="local",
            tier=Tier.LOCAL,
            candidates=[candidate(4)],
            choice=1,
            at=0.0,
        )


def test_decision_chosen() -> None:
    options = [candidate(4), candidate(6)]
    decision = Decision(
        incident_id="inc-1",
        agent="a",
        policy="p",
        tier=Tier.LOCAL,
        candidates=options,
        choice=1,
        at=0.0,
    )
    assert decision.chosen == options[1]
    no_choice = decision.model_copy(update={"choice": None})
    assert no_choice.chosen is None


# --- JSON round trips -----------------------------------------------------------------------


def examples() -> list[BaseModel]:
    evidence = [
        Evidence(name="p99", value=812.5, baseline=120.0, unit="ms"),
        Evidence(name="image", value="v2.4.1"),
    ]
    label = FaultLabel(system_level=SystemLevel.APPLICATION, fault_type=FaultType.CODE_DEFECT)
    incident = Incident(
        id="inc-1",
        services=["search"],
        nodes=["node-1"],
        namespace="hotel",
        severity=Severity.HIGH,
        signal_ids=["s1"],
        opened_at=1.0,
    )
    request = scale(4)
    desired_states: list[BaseModel] = [
        RestartState(restarted_at="2024-01-01T00:00:00Z"),
        PodDeletionState(pod_uid="uid-1"),
        RevisionState(revision=7),
        ResourcesState(container="app", cpu_request="250m", memory_limit="512Mi"),
        DrainState(),
        PlacementState(node_selector={"zone": "a"}, avoid_nodes=["node-2"]),
        ServicePortState(port=80, target_port="http"),
        ServicePortState(port=80, target_port=8080),
        NoActionState(),
        EscalationState(reason="no candidate"),
    ]
    return [
        TargetRef(kind=TargetKind.SERVICE, name="search", namespace="hotel"),
        label,
        SLO(service="search", latency_ms=200, error_ratio=0.01, latency_quantile=0.95),
        SLOStatus(service="search", latency_ms=120.0, error_ratio=0.0, met=True, at=5.0),
        Signal(
            detector="ewma", series="p99", service="search", score=3.2, start=1.0, evidence=evidence
        ),
        incident.transition(IncidentState.DIAGNOSING, 2.0, "go"),
        TimelineEntry(at=1.0, kind="signal", summary="p99 up", ref_id="s1"),
        Hypothesis(target=DEPLOY, label=label, score=0.8, evidence=evidence, summary="bad release"),
        request,
        Candidate(
            action=request, expected_effect="p99 down", risk=0.2, cost=1.5, hypothesis_index=0
        ),
        Decision(
            incident_id="inc-1",
            agent="remediation",
            policy="hybrid",
            tier=Tier.CLOUD,
            model="gpt",
            candidates=[candidate(4), candidate(5)],
            choice=0,
            confidence=0.7,
            prompt_tokens=900,
            output_tokens=12,
            latency_s=1.2,
            cost_usd=0.003,
            escalation_reason="low confidence",
            at=3.0,
        ),
        *desired_states,
    ]


@pytest.mark.parametrize("model", examples(), ids=lambda m: type(m).__name__)
def test_json_round_trip(model: BaseModel) -> None:
    restored = type(model).model_validate_json(model.model_dump_json())
    assert restored == model
    assert restored.model_dump() == model.model_dump()


def test_desired_state_round_trips_through_action() -> None:
    request = ActionRequest(
        kind=ActionKind.MOVE,
        target=DEPLOY,
        desired=PlacementState(avoid_nodes=["node-2"]),
        reason="hot node",
        decided_by="placement",
        created_at=0.0,
    )
    restored = ActionRequest.model_validate_json(request.model_dump_json())
    assert isinstance(restored.desired, PlacementState)
    assert restored == request


# --- exceptions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (ConfigError, AIOpsError),
        (TelemetryError, AIOpsError),
        (ForecastError, AIOpsError),
        (StoreError, AIOpsError),
        (RecordNotFound, StoreError),
        (IllegalTransition, StoreError),
        (StaleEpoch, StoreError),
        (AgentError, AIOpsError),
        (LLMUnavailable, AgentError),
        (InvalidModelOutput, AgentError),
        (ActionError, AIOpsError),
        (ActionRejected, ActionError),
        (PreconditionFailed, ActionError),
        (ActionFailed, ActionError),
    ],
)
def test_exception_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)
    assert child.__doc__


def test_exception_branches_are_separate() -> None:
    assert not issubclass(LLMUnavailable, ActionError)
    assert not issubclass(ActionFailed, AgentError)


def test_telemetry_error_attributes() -> None:
    error = TelemetryError("http://testbed/metrics", "connection refused")
    assert error.source == "http://testbed/metrics"
    assert error.reason == "connection refused"
    assert "connection refused" in str(error)


def test_store_error_attributes() -> None:
    missing = RecordNotFound("incident", "abc")
    assert (missing.kind, missing.record_id) == ("incident", "abc")
    illegal = IllegalTransition("incident abc", "resolved", "verifying", ["open"])
    assert (illegal.current, illegal.target) == ("resolved", "verifying")
    assert "allowed from resolved: open" in str(illegal)
    final = IllegalTransition("action x", "succeeded", "running", [])
    assert "nothing (final state)" in str(final)
    stale = StaleEpoch("controlplane", 3, 5)
    assert (stale.lease, stale.epoch, stale.current) == ("controlplane", 3, 5)
    assert "stale epoch 3" in str(stale)


def test_action_rejected_rule() -> None:
    error = ActionRejected("cooldown", "scaled 30 s ago")
    assert error.rule == "cooldown"
    assert str(error) == "rejected by cooldown: scaled 30 s ago"
