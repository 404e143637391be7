"""Scenario files: what loads, what is refused and why, drawing, the shipped suite."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from controlplane.exceptions import ConfigError
from evaluation.scenario import Scenario, load_scenario, load_suite
from testbed.faults import FAULTS

APPS = ("hotel-reservation", "online-boutique")

VALID = """\
name: bad-release-hotel-steady
app: hotel-reservation
load: {type: steady, share: 0.5}
noise: true
faults:
  - fault: bad-release
    target: {choose: [{service: geo}, {service: rate}, {service: profile}]}
    onset_s: {between: [120, 300]}
time_allowed_s: 1500
outcome:
  kind: mitigate
  mitigations: [rollback]
  hold_s: 300
operator: {approve: true, delay_s: 60}
tags: [release]
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def scenario_text(
    *,
    app: str = "hotel-reservation",
    faults: str = "[{fault: bad-release, target: {service: geo}}]",
    outcome: str = "{kind: mitigate}",
    extra: str = "",
) -> str:
    return f"name: s1\napp: {app}\nfaults: {faults}\noutcome: {outcome}\n{extra}"


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_scenario(write(tmp_path, text))
    return str(caught.value)


# --- loading ----------------------------------------------------------------------------------


def test_a_valid_scenario_loads(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario = load_scenario(path)

    assert scenario.name == "bad-release-hotel-steady"
    assert scenario.app == "hotel-reservation"
    assert scenario.load.type == "steady"
    assert scenario.load.share == 0.5
    assert [f.fault for f in scenario.faults] == ["bad-release"]
    assert scenario.outcome.kind == "mitigate"
    assert scenario.outcome.mitigations == ["rollback"]
    assert scenario.outcome.hold_s == 300
    assert scenario.tags == ["release"]
    assert not scenario.control
    assert scenario.path == str(path)


def test_a_faultless_control_expecting_nothing_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, scenario_text(faults="[]", outcome="{kind: nothing}")))

    assert scenario.control
    assert scenario.outcome.kind == "nothing"


def test_nothing_for_a_self_healing_fault_loads(tmp_path: Path) -> None:
    text = scenario_text(faults="[{fault: pod-kill}]", outcome="{kind: nothing}")

    assert load_scenario(write(tmp_path, text)).faults[0].fault == "pod-kill"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "absent.yaml")


# --- drawing ----------------------------------------------------------------------------------


def test_draw_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))

    first, again = scenario.draw(7), scenario.draw(7)

    assert [(f.target, f.onset_s) for f in first.faults] == [
        (f.target, f.onset_s) for f in again.faults
    ]
    assert first.rng.random() == again.rng.random()  # ``auto`` targets resolve the same way


def test_draw_differs_across_seeds(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))

    drawn = [scenario.draw(seed).faults[0] for seed in range(40)]

    assert len({f.onset_s for f in drawn}) > 1
    assert len({f.target["service"] for f in drawn}) > 1


def test_between_stays_in_bounds_and_choose_picks_an_option(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))

    for seed in range(100):
        fault = scenario.draw(seed).faults[0]
        assert 120 <= fault.onset_s <= 300
        assert fault.target in ({"service": "geo"}, {"service": "rate"}, {"service": "profile"})


def test_fixed_values_are_drawn_as_themselves(tmp_path: Path) -> None:
    text = scenario_text(faults="[{fault: bad-release, target: {service: geo}, onset_s: 200}]")
    fault = load_scenario(write(tmp_path, text)).draw(3).faults[0]

    assert fault.target == {"service": "geo"}
    assert fault.onset_s == 200.0
    assert fault.strength is None


# --- refusals ---------------------------------------------------------------------------------


def test_an_unknown_fault_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(faults="[{fault: gremlins}]"))

    assert "unknown fault 'gremlins'" in message


def test_an_unknown_app_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(app="no-such-app"))

    assert "unknown application 'no-such-app'" in message


def test_bad_yaml_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "name: s1\nfaults: [unclosed\n")

    assert "not valid YAML" in message


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "- name: s1\n- app: hotel-reservation\n")

    assert "must be a mapping" in message
    assert "list" in message


def test_between_with_low_above_high_is_refused(tmp_path: Path) -> None:
    faults = "[{fault: bad-release, onset_s: {between: [300, 120]}}]"
    message = refused(tmp_path, scenario_text(faults=faults))

    assert "between" in message
    assert "low <= high" in message
    assert "onset_s" in message


def test_a_faultless_scenario_expecting_mitigate_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(faults="[]", outcome="{kind: mitigate}"))

    assert "without faults must expect 'nothing'" in message


def test_undo_within_without_within_s_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(outcome="{kind: undo_within}"))

    assert "needs within_s" in message


def test_scale_before_without_breach_at_s_is_refused(tmp_path: Path) -> None:
    text = scenario_text(faults="[{fault: demand-growth}]", outcome="{kind: scale_before}")
    message = refused(tmp_path, text)

    assert "needs breach_at_s" in message


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(extra="timeout: 30\n"))

    assert "timeout" in message
    assert "not permitted" in message


def test_nothing_for_a_fault_that_does_not_heal_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(outcome="{kind: nothing}"))

    assert "self-healing" in message


def test_an_unknown_outcome_kind_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(outcome="{kind: pray}"))

    assert "outcome.kind" in message


def test_the_message_names_the_file(tmp_path: Path) -> None:
    message = refused(tmp_path, scenario_text(faults="[{fault: gremlins}]"))

    assert "scenario.yaml" in message


# --- suites -----------------------------------------------------------------------------------


def test_an_unknown_suite_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_the_standard_suite_covers_every_fault_app_and_outcome() -> None:
    suite = load_suite("standard")

    assert len(suite) >= 30
    assert all(isinstance(s, Scenario) for s in suite)
    apps: dict[str, set[str]] = defaultdict(set)
    loads: dict[str, set[str]] = defaultdict(set)
    for scenario in suite:
        for fault in scenario.faults:
            apps[fault.fault].add(scenario.app)
            loads[fault.fault].add(scenario.load.type)
    missing_apps = {f: set(APPS) - apps[f] for f in FAULTS if set(APPS) - apps[f]}
    missing_loads = {
        f: {"steady", "diurnal"} - loads[f] for f in FAULTS if {"steady", "diurnal"} - loads[f]
    }
    assert missing_apps == {}
    assert missing_loads == {}
    assert sum(1 for s in suite if s.control) >= 4
    assert sum(1 for s in suite if len(s.faults) == 2) >= 3
    assert sum(1 for s in suite if "capacity" in s.tags) >= 3
    assert sum(1 for s in suite if s.outcome.kind == "escalate") >= 2
