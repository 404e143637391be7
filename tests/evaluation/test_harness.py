"""The harness end to end on a small scenario: real episodes (testbed served over HTTP, the whole
loop), stored, reported, deterministic per seed; a policy that cannot run is reported, not faked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.clock import ManualClock
from controlplane.exceptions import ConfigError
from controlplane.settings import Settings
from controlplane.store import Store
from evaluation.episode import run_episode, warmup
from evaluation.harness import run_evaluation, write_outputs
from evaluation.scenario import Scenario

pytestmark = pytest.mark.xdist_group("harness")

SCENARIO = Scenario.model_validate(
    {
        "name": "bad-release-geo",
        "app": "hotel-reservation",
        "load": {"type": "steady", "share": 0.5},
        "noise": False,
        "faults": [{"fault": "bad-release", "target": {"service": "geo"}, "onset_s": 120}],
        "time_allowed_s": 900,
        "outcome": {"kind": "mitigate", "hold_s": 240},
        "operator": {"approve": True, "delay_s": 30},
    }
)


def test_a_run_scores_stores_and_reports_every_policy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'runs.db'}", clock=ManualClock(0.0))
    try:
        evaluation = run_evaluation(
            [SCENARIO],
            ["noop", "rules", "cloud"],
            [1],
            jobs=1,
            settings=settings,
            store=store,
            progress=False,
        )
        with store.read() as tx:
            (run,) = tx.evaluations.runs()
            stored = tx.evaluations.episodes(run["id"])
    finally:
        store.close()
    rows = {r["policy"]: r for r in evaluation.rows}
    assert set(rows) == {"noop", "rules"}
    assert "cloud" in evaluation.not_run and "not run" in evaluation.not_run["cloud"]
    assert rows["rules"]["success"], rows["rules"]
    assert any("rollback geo" in a for a in rows["rules"]["action_list"])
    assert 0 < rows["rules"]["ttm_s"] < 600
    assert not rows["noop"]["success"] and rows["noop"]["actions"] == 0
    assert rows["noop"]["slo_violation_min"] > rows["rules"]["slo_violation_min"]
    assert evaluation.summary["rules"]["mitigation_success"] == 1.0
    assert [(r["policy"], r["success"]) for r in stored] == [("noop", False), ("rules", True)]
    assert run["summary"]["not_run"]["cloud"] == evaluation.not_run["cloud"]

    written = write_outputs(evaluation, tmp_path / "out")
    names = {p.name for p in written}
    assert {"results.json", "report.md", "success_ttm.png", "per_fault.png"} <= names
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["summary"]["rules"]["episodes"] == 1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| rules | 100% |" in report and "cloud" in report


def test_an_episode_is_the_same_every_time_for_its_seed() -> None:
    warm = warmup(SCENARIO, 2)
    first = run_episode(SCENARIO, 2, "rules", warm=warm).row()
    again = run_episode(SCENARIO, 2, "rules", warm=warm).row()
    for key in ("success", "ttm_s", "ttd_s", "action_list", "slo_violation_min", "replica_hours"):
        assert first[key] == again[key], key


def test_unknown_policies_and_empty_runs_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown policy"):
        run_evaluation([SCENARIO], ["nope"], [1], progress=False)
    with pytest.raises(ConfigError, match="no scenario"):
        run_evaluation([], ["rules"], [1], progress=False)


def test_a_scenario_runs_against_a_live_testbed_server(tmp_path: Path) -> None:
    from evaluation.live import run_live
    from testbed.app import load_app
    from testbed.cluster import Cluster
    from testbed.load import Constant
    from testbed.runner import TestbedServer

    app = load_app("hotel-reservation")
    cluster = Cluster(app, seed=3, load=Constant(120.0))
    cluster.advance(120)
    lines: list[str] = []
    with TestbedServer(cluster, truth_token="harness-only", speed=150.0) as server:
        result = run_live(
            SCENARIO.model_copy(update={"time_allowed_s": 720.0}),
            "rules",
            server.url,
            1,
            Settings(data_dir=tmp_path),
            truth_token="harness-only",
            warm_s=4800.0,  # the detectors calibrate over 150 ticks
            say=lines.append,
        )
    assert result.trace.faults[0].root_names == ["geo"]
    assert any("bad-release on {'service': 'geo'}" in line for line in lines), lines
    assert result.score.detected, lines
    assert any(a.kind == "rollback" and a.target == "geo" for a in result.trace.actions), lines
    assert len(result.trace.ticks) >= 720 // 30  # a tick per 15 s of testbed time, or late


def test_a_live_run_needs_the_truth_token(tmp_path: Path) -> None:
    from evaluation.live import run_live
    from testbed.app import load_app
    from testbed.cluster import Cluster
    from testbed.runner import TestbedServer

    cluster = Cluster(load_app("hotel-reservation"), seed=3)
    with (
        TestbedServer(cluster, truth_token="right") as server,
        pytest.raises(ConfigError, match="refused the truth token"),
    ):
        run_live(SCENARIO, "rules", server.url, 1, Settings(data_dir=tmp_path), truth_token="no")
