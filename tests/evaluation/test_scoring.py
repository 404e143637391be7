"""Scoring one episode: constructed traces against the rules in ``evaluation.scoring``."""

from __future__ import annotations

from typing import Any

import pytest

from evaluation.scoring import (
    ActionTrace,
    Choice,
    EpisodeTrace,
    FaultTruth,
    TickTrace,
    _right,
    risk_coverage,
    score,
    summarize,
)

TICK_S = 15.0
DURATION_S = 1200.0
ONSET_S = 300.0
HOLD_S = 300.0
LABEL = {"system_level": "application", "fault_type": "misconfiguration"}


def fault(
    name: str = "bad-release",
    target: str = "geo",
    *,
    onset_s: float = ONSET_S,
    mitigations: list[str] | None = None,
    root_kind: str = "service",
) -> FaultTruth:
    return FaultTruth(
        name=name,
        onset_s=onset_s,
        root_kind=root_kind,
        root_names=[target],
        namespace="hotel",
        label=dict(LABEL),
        mitigations=["rollback"] if mitigations is None else mitigations,
        targets=[target],
    )


def ticks(
    *,
    bad: tuple[float, float] | None = None,
    replicas: int = 10,
    end_s: float = DURATION_S,
    **extra: Any,
) -> list[TickTrace]:
    """A tick every 15 s up to ``end_s``; SLOs missed at ticks with lo <= t < hi in ``bad``."""
    out = []
    at = TICK_S
    while at <= end_s:
        missed = bad is not None and bad[0] <= at < bad[1]
        out.append(TickTrace(at_s=at, slo_met=not missed, replicas=replicas, **extra))
        at += TICK_S
    return out


def action(
    kind: str,
    target: str = "geo",
    *,
    at_s: float = 400.0,
    status: str = "succeeded",
    target_kind: str = "deployment",
    **desired: Any,
) -> ActionTrace:
    return ActionTrace(
        at_s=at_s,
        kind=kind,
        target_kind=target_kind,
        target=target,
        status=status,
        desired=desired,
    )


def trace(
    *,
    faults: list[FaultTruth] | None = None,
    actions: list[ActionTrace] | None = None,
    tick_list: list[TickTrace] | None = None,
    outcome: str = "mitigate",
    **extra: Any,
) -> EpisodeTrace:
    """A bad release of ``geo`` at 300 s, SLOs missed from the onset until 450 s."""
    return EpisodeTrace(
        scenario="test",
        seed=1,
        policy="test",
        outcome=outcome,
        hold_s=extra.pop("hold_s", HOLD_S),
        cost_bound=extra.pop("cost_bound", 1.6),
        duration_s=DURATION_S,
        faults=[fault()] if faults is None else faults,
        ticks=ticks(bad=(ONSET_S, 450.0)) if tick_list is None else tick_list,
        actions=[] if actions is None else actions,
        initial_replicas=extra.pop("initial_replicas", 10),
        **extra,
    )


def control(**extra: Any) -> EpisodeTrace:
    return trace(faults=[], tick_list=ticks(), outcome="nothing", **extra)


# --- mitigate ---------------------------------------------------------------------------------


def test_correct_rollback_is_a_success_with_time_to_mitigate() -> None:
    result = score(trace(actions=[action("rollback")]))

    assert result.success, result.reason
    assert result.ttm_s == 150.0  # onset 300 -> SLOs good from 450 (after the 400 s rollback)
    assert result.collateral == []
    assert result.changing_actions == 1


def test_time_to_mitigate_runs_to_the_action_when_slos_recovered_first() -> None:
    result = score(trace(actions=[action("rollback", at_s=500.0)]))

    assert result.success, result.reason
    assert result.ttm_s == 200.0


def test_scaling_the_broken_deployment_to_zero_is_a_failure() -> None:
    zeroed = ticks(bad=(ONSET_S, 450.0))
    for tick in zeroed:
        if tick.at_s >= 400:
            tick.zero = ["geo"]
    result = score(trace(actions=[action("scale", replicas=0)], tick_list=zeroed))

    assert not result.success
    assert any("zero" in problem for problem in result.collateral)
    assert "scaled geo to zero" in result.collateral


def test_scaling_to_zero_fails_even_when_scale_is_acceptable() -> None:
    flood = fault("load-flood", mitigations=["scale"])
    result = score(trace(faults=[flood], actions=[action("scale", replicas=0)]))

    assert not result.success
    assert result.reason.startswith("collateral")
    assert "zero" in result.reason


def test_rolling_back_an_innocent_revision_is_a_failure() -> None:
    result = score(trace(actions=[action("rollback", "rate")]))

    assert not result.success
    assert "innocent" in result.reason
    assert "rate" in result.reason


def test_a_verifier_undo_rollback_is_not_innocent() -> None:
    undo = action("rollback", "rate", at_s=420.0)
    undo.inverse = True
    result = score(trace(actions=[action("rollback"), undo]))

    assert result.success, result.reason
    assert result.actions == 1  # the verifier's inverse is not counted as the policy's


def test_slos_not_held_long_enough_is_a_failure() -> None:
    late = ticks(bad=(ONSET_S, 1000.0))  # good only from 1005 s: 195 s < hold_s
    result = score(trace(actions=[action("rollback")], tick_list=late))

    assert not result.success
    assert "held" in result.reason
    assert result.ttm_s is None


def test_slos_failing_at_the_last_tick_is_a_failure() -> None:
    result = score(
        trace(actions=[action("rollback")], tick_list=ticks(bad=(ONSET_S, DURATION_S + 1)))
    )

    assert not result.success
    assert "held" in result.reason


def test_an_unacceptable_action_kind_is_a_failure() -> None:
    result = score(trace(actions=[action("restart")]))

    assert not result.success
    assert "no acceptable mitigation" in result.reason


def test_a_failed_acceptable_action_is_not_a_mitigation() -> None:
    result = score(trace(actions=[action("rollback", status="failed")]))

    assert not result.success
    assert "no acceptable mitigation" in result.reason


def test_stated_acceptable_kinds_override_the_fault_mitigations() -> None:
    result = score(trace(actions=[action("restart")], acceptable=["restart"]))

    assert result.success, result.reason


def test_a_new_fault_after_the_policy_acted_is_a_failure() -> None:
    hurt = ticks(bad=(ONSET_S, 450.0))
    for tick in hurt:
        if tick.at_s >= DURATION_S - 150:
            tick.unavailable = ["rate"]
    result = score(trace(actions=[action("rollback")], tick_list=hurt))

    assert not result.success
    assert "rate left short of replicas" in result.reason


def test_the_fault_target_short_of_replicas_is_not_a_new_fault() -> None:
    own = ticks(bad=(ONSET_S, 450.0), unavailable=["geo"])
    result = score(trace(actions=[action("rollback")], tick_list=own))

    assert result.success, result.reason


def test_a_deployment_short_for_part_of_the_final_two_minutes_is_not_a_new_fault() -> None:
    blip = ticks(bad=(ONSET_S, 450.0))
    blip[-1].unavailable = ["rate"]  # only the last tick
    result = score(trace(actions=[action("rollback")], tick_list=blip))

    assert result.success, result.reason


def test_a_deployment_that_recovered_inside_the_final_two_minutes_is_not_a_new_fault() -> None:
    flapping = ticks(bad=(ONSET_S, 450.0))
    for tick in flapping:
        if tick.at_s >= DURATION_S - 150 and tick.at_s not in (1125.0, 1140.0):
            tick.unavailable = ["rate"]  # short at both ends of the window, not in between
    result = score(trace(actions=[action("rollback")], tick_list=flapping))

    assert result.success, result.reason


def test_replica_hours_over_the_cost_bound_is_a_failure() -> None:
    # 10 replicas at the start; 20 throughout is 2x, over the 1.6x bound.
    result = score(
        trace(actions=[action("rollback")], tick_list=ticks(bad=(ONSET_S, 450.0), replicas=20))
    )

    assert not result.success
    assert "replica-hours" in result.reason
    assert result.replica_hours == pytest.approx(20 * DURATION_S / 3600)


def test_replica_hours_within_the_bound_is_no_collateral() -> None:
    result = score(
        trace(actions=[action("rollback")], tick_list=ticks(bad=(ONSET_S, 450.0), replicas=15))
    )

    assert result.success, result.reason
    assert result.replica_hours == pytest.approx(15 * DURATION_S / 3600)


# --- nothing ----------------------------------------------------------------------------------


def test_restarting_pods_on_a_control_is_a_failure() -> None:
    result = score(control(actions=[action("restart")]))

    assert not result.success
    assert "none was right" in result.reason
    assert result.detected is None
    assert result.acc1 is None


def test_a_control_left_alone_is_a_success() -> None:
    result = score(control())

    assert result.success, result.reason
    assert result.actions == 0
    assert result.collateral == []


def test_an_escalation_on_a_control_counts_as_an_action() -> None:
    result = score(control(actions=[action("escalate", "hotel")], escalated_s=400.0))

    assert not result.success
    assert result.escalated


# --- escalate ---------------------------------------------------------------------------------


def escalation(actions: list[ActionTrace], escalated_s: float | None) -> EpisodeTrace:
    leak = fault("memory-leak", mitigations=["escalate"])
    return trace(
        faults=[leak],
        actions=actions,
        outcome="escalate",
        escalated_s=escalated_s,
        tick_list=ticks(bad=(ONSET_S, DURATION_S + 1)),
    )


def test_escalating_with_no_other_action_is_a_success() -> None:
    result = score(escalation([action("escalate", "geo", at_s=360.0)], escalated_s=360.0))

    assert result.success, result.reason
    assert result.escalated
    assert result.ttm_s == 60.0


def test_escalating_after_an_unacceptable_restart_is_a_failure() -> None:
    result = score(
        escalation(
            [action("restart", at_s=330.0), action("escalate", "geo", at_s=360.0)],
            escalated_s=360.0,
        )
    )

    assert not result.success
    assert "restart" in result.reason
    assert "not acceptable" in result.reason


def test_never_escalating_is_a_failure() -> None:
    result = score(escalation([], escalated_s=None))

    assert not result.success
    assert "never escalated" in result.reason
    assert not result.escalated


# --- scale_before and undo_within -------------------------------------------------------------


def test_scaling_out_before_the_breach_is_a_success() -> None:
    growth = fault("demand-growth", mitigations=["scale"])
    result = score(
        trace(
            faults=[growth],
            outcome="scale_before",
            breach_at_s=240.0,
            actions=[action("scale", at_s=ONSET_S + 200, replicas=4)],
            tick_list=ticks(),
        )
    )

    assert result.success, result.reason
    assert result.ttm_s == 200.0


def test_scaling_out_after_the_breach_is_a_failure() -> None:
    growth = fault("demand-growth", mitigations=["scale"])
    result = score(
        trace(
            faults=[growth],
            outcome="scale_before",
            breach_at_s=240.0,
            actions=[action("scale", at_s=ONSET_S + 300, replicas=4)],
            tick_list=ticks(bad=(ONSET_S + 240, ONSET_S + 315)),
        )
    )

    assert not result.success
    assert "before the breach" in result.reason


def undo(changed_back: bool) -> EpisodeTrace:
    flood = fault("load-flood", mitigations=["scale"])
    flood.ended_s = 600.0
    return trace(
        faults=[flood],
        outcome="undo_within",
        within_s=300.0,
        changed_back=changed_back,
        actions=[action("scale", at_s=400.0, replicas=4)],
    )


def test_undo_within_with_changes_undone_is_a_success() -> None:
    result = score(undo(changed_back=True))

    assert result.success, result.reason


def test_undo_within_with_changes_left_in_place_is_a_failure() -> None:
    result = score(undo(changed_back=False))

    assert not result.success
    assert "not undone" in result.reason


# --- detection, localization, SLO minutes -----------------------------------------------------


def test_detection_and_time_to_detect_count_signals_after_the_onset() -> None:
    result = score(trace(signals_s=[100.0, 345.0, 400.0]))

    assert result.detected is True
    assert result.ttd_s == 45.0


def test_no_signal_after_the_onset_is_not_detected() -> None:
    result = score(trace(signals_s=[100.0]))

    assert result.detected is False
    assert result.ttd_s is None


def hypothesis(name: str, kind: str = "service", **label: str) -> dict[str, str]:
    return {"kind": kind, "name": name, "namespace": "hotel", **LABEL, **label}


def test_top_hypothesis_on_the_root_cause_with_its_label_scores_acc1() -> None:
    result = score(trace(hypotheses=[hypothesis("geo"), hypothesis("rate")]))

    assert (result.acc1, result.acc3, result.label_ok) == (True, True, True)


def test_root_cause_in_second_place_scores_acc3_only() -> None:
    result = score(trace(hypotheses=[hypothesis("rate"), hypothesis("geo")]))

    assert result.acc1 is False
    assert result.acc3 is True
    assert result.label_ok is True  # the top hypothesis's label is the fault's


def test_root_cause_in_fourth_place_misses_acc3() -> None:
    tops = [hypothesis(n) for n in ("rate", "profile", "search", "geo")]
    result = score(trace(hypotheses=tops))

    assert (result.acc1, result.acc3) == (False, False)


def test_a_wrong_label_misses_label_accuracy() -> None:
    result = score(trace(hypotheses=[hypothesis("geo", fault_type="resource")]))

    assert result.label_ok is False
    assert result.acc1 is False  # accuracy counts the root cause with its label


def test_a_pod_of_the_root_cause_deployment_counts() -> None:
    result = score(trace(hypotheses=[hypothesis("geo-7d9f8b6c5-x2k4q", kind="pod")]))

    assert result.acc1 is True


def test_a_hypothesis_in_another_namespace_misses() -> None:
    elsewhere = hypothesis("geo") | {"namespace": "boutique"}
    result = score(trace(hypotheses=[elsewhere]))

    assert result.acc1 is False
    assert result.acc3 is False


def test_a_hypothesis_without_a_namespace_counts() -> None:
    # The harness records a target without a namespace as "".
    result = score(trace(hypotheses=[hypothesis("geo") | {"namespace": ""}]))

    assert result.acc1 is True


def test_no_hypotheses_scores_no_accuracy() -> None:
    result = score(trace())

    assert (result.acc1, result.acc3, result.label_ok) == (False, False, False)


def test_an_incident_before_the_onset_is_a_false_positive() -> None:
    assert score(trace(incidents_s=[200.0, 350.0])).false_positive is True
    assert score(trace(incidents_s=[350.0])).false_positive is False


def test_an_incident_on_a_control_is_a_false_positive() -> None:
    assert score(control(incidents_s=[500.0])).false_positive is True
    assert score(control()).false_positive is False


def test_slo_violation_minutes_count_bad_ticks_after_the_onset() -> None:
    # Missed 240..450: ticks 240, 255, ..., 435 (14); those after the 300 s onset: 315..435 (9).
    result = score(trace(actions=[action("rollback")], tick_list=ticks(bad=(240.0, 450.0))))

    assert result.slo_violation_min == pytest.approx(9 * TICK_S / 60)


def test_slo_violation_minutes_follow_the_tick_spacing() -> None:
    sparse = [TickTrace(at_s=60.0 * i, slo_met=not (6 <= i < 10), replicas=10) for i in range(21)]
    result = score(trace(tick_list=sparse))

    assert result.slo_violation_min == pytest.approx(4.0)  # 4 bad ticks, a minute apart


# --- summarize --------------------------------------------------------------------------------


def row(result_trace: EpisodeTrace, **extra: Any) -> dict[str, Any]:
    return {
        **score(result_trace).to_dict(),
        "control": not result_trace.faults,
        "tags": [],
        "fault": result_trace.faults[0].name if result_trace.faults else None,
        **extra,
    }


def test_summarize_counts_success_false_positive_actions_and_median_ttm() -> None:
    rows = [
        row(trace(actions=[action("rollback")])),  # success, ttm 150
        row(trace(actions=[action("rollback", at_s=600.0)])),  # success, ttm 300
        row(trace(actions=[action("rollback", at_s=750.0)])),  # success, ttm 450
        row(trace(actions=[action("restart")])),  # failure
        row(control(actions=[action("restart"), action("delete_pod", "geo-1")])),
        row(control()),
    ]
    summary = summarize(rows)

    assert summary["episodes"] == 6
    assert summary["mitigation_success"] == pytest.approx(4 / 6)
    assert summary["fault_success"] == pytest.approx(3 / 4)
    assert summary["control_success"] == pytest.approx(1 / 2)
    assert summary["false_positive_actions"] == 2
    assert summary["median_ttm_s"] == 300.0


def test_summarize_adds_model_use() -> None:
    rows = [
        row(control(), model_calls={"small": 2, "large": 1}, tokens={"small": 100}),
        row(control(), model_calls={"small": 1}, tokens={"small": 50, "large": 25}),
    ]
    summary = summarize(rows)

    assert summary["model_calls"] == 4
    assert summary["tokens"] == 175
    assert summary["median_ttm_s"] is None
    assert summary["detection_rate"] is None  # no fault episodes


# --- model choices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "outcome", "acceptable", "right"),
    [
        (["rollback"], "mitigate", {"rollback", "restart"}, True),
        (["rollback", "restart"], "mitigate", {"rollback", "restart"}, True),
        (["rollback", "scale"], "mitigate", {"rollback", "restart"}, False),
        (["escalate"], "mitigate", {"rollback"}, False),
        ([], "mitigate", {"rollback"}, False),
        (["noop"], "mitigate", {"rollback"}, False),
        ([], "nothing", set(), True),
        (["noop"], "nothing", set(), True),
        (["restart"], "nothing", set(), False),
        (["escalate"], "nothing", set(), False),
        ([], "undo_within", set(), True),
        (["noop"], "undo_within", set(), True),
        (["scale"], "undo_within", set(), False),
        (["scale"], "scale_before", set(), True),
        (["scale", "scale"], "scale_before", set(), True),
        (["scale", "restart"], "scale_before", set(), False),
        ([], "scale_before", set(), False),
        (["escalate"], "escalate", set(), True),
        (["rollback"], "escalate", {"rollback"}, False),
        (["rollback", "escalate"], "escalate", set(), False),
        ([], "escalate", set(), False),
    ],
)
def test_a_choice_is_right_for_its_outcome(
    kinds: list[str], outcome: str, acceptable: set[str], right: bool
) -> None:
    assert _right(kinds, outcome, acceptable) is right


def test_a_noop_choice_on_a_self_healing_fault_is_judged_right() -> None:
    healed = trace(
        faults=[fault("pod-kill", mitigations=[])],
        outcome="nothing",
        choices=[
            Choice(
                kinds=["noop"], rules_kinds=["restart"], tier="local", confidence=0.9, cloud=False
            )
        ],
    )
    [judged] = score(healed).choices

    assert judged == {
        "right": True,
        "rules_right": False,
        "tier": "local",
        "confidence": 0.9,
        "cloud": False,
    }


def choice(
    right: bool,
    confidence: float | None = 0.5,
    *,
    tier: str = "local",
    rules_right: bool = True,
    cloud: bool = False,
) -> dict[str, Any]:
    return {
        "right": right,
        "rules_right": rules_right,
        "tier": tier,
        "confidence": confidence,
        "cloud": cloud,
    }


def test_risk_coverage_keeps_the_most_confident_first() -> None:
    # given out of order: the two most confident are right, the two least wrong
    choices = [choice(False, 0.2), choice(True, 0.9), choice(False, 0.1), choice(True, 0.8)]

    curve = risk_coverage(choices, points=4)

    assert [p["coverage"] for p in curve] == [0.25, 0.5, 0.75, 1.0]
    assert [p["accuracy"] for p in curve] == [1.0, 1.0, pytest.approx(2 / 3, abs=1e-4), 0.5]


def test_risk_coverage_ranks_a_missing_confidence_last() -> None:
    curve = risk_coverage([choice(False, None), choice(True, 0.3)], points=2)

    assert curve == [{"coverage": 0.5, "accuracy": 1.0}, {"coverage": 1.0, "accuracy": 0.5}]


def test_decisions_sent_to_a_person_lower_the_coverage() -> None:
    choices = [
        choice(True, 0.9),
        choice(False, 0.6),
        choice(True, None, tier="human"),
        choice(True, 0.7, tier="cloud", cloud=True),
    ]

    curve = risk_coverage(choices, points=3)

    assert [p["coverage"] for p in curve] == [0.25, 0.5, 0.75]  # 3 of 4 kept at most
    assert [p["accuracy"] for p in curve] == [1.0, 1.0, pytest.approx(2 / 3, abs=1e-4)]


def test_risk_coverage_has_no_repeated_cuts_when_decisions_are_few() -> None:
    curve = risk_coverage([choice(True, 0.9), choice(False, 0.1)], points=10)

    assert curve == [{"coverage": 0.5, "accuracy": 1.0}, {"coverage": 1.0, "accuracy": 0.5}]
    coverages = [p["coverage"] for p in risk_coverage([choice(True, i / 7) for i in range(7)])]
    assert coverages == sorted(set(coverages))


def test_risk_coverage_is_empty_without_decisions_the_model_kept() -> None:
    assert risk_coverage([]) == []
    assert risk_coverage([choice(True, None, tier="human")]) == []


def test_summarize_judges_the_model_where_the_rules_policy_was_wrong() -> None:
    episode_a = [
        choice(True, 0.9, rules_right=True),
        choice(False, 0.8, rules_right=True),
        choice(True, 0.7, rules_right=False),
    ]
    episode_b = [
        choice(False, 0.4, rules_right=False, tier="cloud", cloud=True),
        choice(False, None, rules_right=False, tier="human"),
        choice(False, 0.3, rules_right=True),
    ]
    rows = [row(control(), choices=episode_a), row(control(), choices=episode_b)]

    summary = summarize(rows)

    assert summary["decisions"] == 6
    assert summary["choice_acc"] == pytest.approx(2 / 6)
    assert summary["rules_choice_acc"] == pytest.approx(3 / 6)
    assert summary["cases_rules_wrong"] == 3
    assert summary["acc_where_rules_wrong"] == pytest.approx(1 / 3)  # not 2/6 over all cases
    assert summary["cloud_rate"] == pytest.approx(1 / 6)
    assert summary["human_rate"] == pytest.approx(1 / 6)
    assert summary["risk_coverage"][-1]["coverage"] == pytest.approx(5 / 6, abs=1e-4)


def test_summarize_has_no_model_figures_for_a_model_free_policy() -> None:
    summary = summarize([row(control()), row(trace(actions=[action("rollback")]))])

    assert "decisions" not in summary and "risk_coverage" not in summary


def test_acc_where_rules_wrong_is_none_when_rules_was_never_wrong() -> None:
    summary = summarize([row(control(), choices=[choice(False, 0.5, rules_right=True)])])

    assert summary["cases_rules_wrong"] == 0
    assert summary["acc_where_rules_wrong"] is None
