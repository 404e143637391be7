"""The Markdown report and its charts, written from constructed rows (no episodes run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.harness import Evaluation
from evaluation.report import write_report
from evaluation.scoring import summarize


def row(policy: str, *, success: bool = True, **extra: Any) -> dict[str, Any]:
    """One scored episode of a bad release, as the harness stores it."""
    return {
        "policy": policy,
        "scenario": "bad-release-hotel",
        "seed": 1,
        "fault": "bad-release",
        "control": False,
        "tags": ["fault"],
        "success": success,
        "reason": "rollback geo; SLOs held" if success else "no acceptable mitigation succeeded",
        "detected": True,
        "ttd_s": 30.0,
        "acc1": True,
        "acc3": True,
        "label_ok": True,
        "ttm_s": 150.0 if success else None,
        "slo_violation_min": 2.5,
        "replica_hours": 3.0,
        "actions": 1,
        "changing_actions": 1,
        "escalated": False,
        "collateral": [],
        "action_list": ["rollback geo"],
        **extra,
    }


def choice(right: bool, confidence: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "right": right,
        "rules_right": True,
        "tier": "local",
        "confidence": confidence,
        "cloud": False,
        **extra,
    }


def evaluation(rows: list[dict[str, Any]]) -> Evaluation:
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    return Evaluation(
        run_id=None,
        suite="test",
        policies=policies,
        seeds=[1],
        rows=rows,
        summary={p: summarize([r for r in rows if r["policy"] == p]) for p in policies},
        not_run={},
        wall_s=1.0,
        jobs=1,
    )


MODEL_CHOICES = [
    choice(True, 0.9),
    choice(True, 0.8, rules_right=False),
    choice(False, 0.6, rules_right=False, tier="cloud", cloud=True),
    choice(False, None, tier="human"),
]


def test_a_model_policy_gets_its_section_and_risk_coverage_chart(tmp_path: Path) -> None:
    rows = [row("rules"), row("hybrid", success=False, choices=MODEL_CHOICES)]

    written = write_report(evaluation(rows), tmp_path)

    chart = tmp_path / "risk_coverage.png"
    assert chart in written
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text()
    assert "## Model decisions" in report
    assert "acceptable for the scenario's right outcome" in report
    # 4 decisions, 2 right; rules right on 2; 1 of the 2 where rules was wrong; 1 cloud, 1 human
    assert "| hybrid | 4 | 50% | 50% | 50% of 2 | 25% | 25% |" in report
    assert "| rules | 4 |" not in report  # the model-free policy has no row there
    section = report[report.index("## Model decisions") : report.index("## Per fault")]
    assert "![risk_coverage](risk_coverage.png)" in section


def test_no_model_policy_means_no_section_and_no_chart(tmp_path: Path) -> None:
    written = write_report(evaluation([row("rules"), row("noop", success=False)]), tmp_path)

    assert not (tmp_path / "risk_coverage.png").exists()
    assert all(p.name != "risk_coverage.png" for p in written)
    report = (tmp_path / "report.md").read_text()
    assert "Model decisions" not in report and "risk_coverage" not in report
    assert (tmp_path / "success_ttm.png").exists()  # the other charts are still written


def test_every_model_policy_gets_a_row(tmp_path: Path) -> None:
    rows = [
        row("local", choices=[choice(True, 0.7)]),
        row("cloud", choices=[choice(False, 0.4, tier="cloud", cloud=True, rules_right=False)]),
    ]

    write_report(evaluation(rows), tmp_path)

    report = (tmp_path / "report.md").read_text()
    assert "| local | 1 | 100% | 100% | n/a of 0 | 0% | 0% |" in report
    assert "| cloud | 1 | 0% | 0% | 0% of 1 | 100% | 0% |" in report
    assert (tmp_path / "risk_coverage.png").exists()
