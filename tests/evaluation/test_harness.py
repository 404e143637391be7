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
