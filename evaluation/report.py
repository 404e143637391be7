"""The evaluation report: Markdown with PNG charts (matplotlib, headless).

Charts: mitigation success and median time to mitigate per policy; cost (replica-hours per
episode) against success; escalation rate; success per fault (or control) for each policy; and,
when a model-based policy ran, the risk-coverage of its decisions (``risk_coverage.png``, with
the section "Model decisions").
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .harness import Evaluation

__all__ = ["write_report"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _charts(evaluation: Evaluation, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = list(evaluation.summary)
    if not policies:
        return []
    summary = evaluation.summary
    paths = []

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.bar(policies, [100 * (summary[p]["mitigation_success"] or 0) for p in policies])
    left.set_ylabel("right outcome (%)")
    left.set_ylim(0, 100)
    left.set_title("Mitigation success")
    right.bar(policies, [summary[p]["median_ttm_s"] or 0 for p in policies], color="tab:orange")
    right.set_ylabel("seconds (virtual)")
    right.set_title("Median time to mitigate")
    fig.tight_layout()
    paths.append(out / "success_ttm.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for p in policies:
        ax.scatter(summary[p]["replica_hours"] or 0, 100 * (summary[p]["mitigation_success"] or 0))
        ax.annotate(
            p, (summary[p]["replica_hours"] or 0, 100 * (summary[p]["mitigation_success"] or 0))
        )
    ax.set_xlabel("replica-hours per episode")
    ax.set_ylabel("right outcome (%)")
    ax.set_title("Cost against success")
    fig.tight_layout()
    paths.append(out / "cost_success.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(
        policies, [100 * (summary[p]["escalation_rate"] or 0) for p in policies], color="tab:red"
    )
    ax.set_ylabel("episodes escalated (%)")
    ax.set_title("Escalation rate")
    fig.tight_layout()
    paths.append(out / "escalation.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    table = _per_fault(evaluation.rows)
    faults = sorted(table)
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(faults) + 1.5))
    height = 0.8 / len(policies)
    for i, p in enumerate(policies):
        ax.barh(
            [j + i * height for j in range(len(faults))],
            [100 * table[f].get(p, (0, 1))[0] / max(table[f].get(p, (0, 1))[1], 1) for f in faults],
            height=height,
            label=p,
        )
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(faults))], faults)
    ax.set_xlabel("right outcome (%)")
    ax.set_title("Per fault")
    ax.legend(loc="lower right")
    fig.tight_layout()
    paths.append(out / "per_fault.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _model_policies(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The policies whose decisions a model made (their summary has ``decisions``)."""
    return [p for p, s in summary.items() if s.get("decisions")]


def _risk_coverage_chart(summary: dict[str, dict[str, Any]], out: Path) -> Path | None:
    """One risk-coverage line per model policy, the rules policy's accuracy on the same cases
    dashed; ``None`` (nothing written) when no model policy ran."""
    models = _model_policies(summary)
    if not models:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for p in models:
        curve = summary[p].get("risk_coverage") or []
        (line,) = ax.plot(
            [100 * c["coverage"] for c in curve],
            [100 * c["accuracy"] for c in curve],
            marker="o",
            label=p,
        )
        rules = summary[p].get("rules_choice_acc")
        if rules is not None:
            ax.axhline(
                100 * rules, linestyle="--", color=line.get_color(), label=f"rules on {p}'s cases"
            )
    ax.set_xlabel("decisions kept, most confident first (%)")
    ax.set_ylabel("kept decisions right (%)")
    ax.set_xlim(0, 102)
    ax.set_ylim(0, 105)
    ax.set_title("Risk against coverage")
    ax.legend(loc="best")
    fig.tight_layout()
    path = out / "risk_coverage.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _model_section(summary: dict[str, dict[str, Any]], chart: Path | None) -> list[str]:
    """The "Model decisions" section (no lines when no model policy ran)."""
    models = _model_policies(summary)
    if not models:
        return []
    lines = [
        "## Model decisions",
        "",
        "A decision is right when the chosen action's kinds are acceptable for the scenario's "
        "right outcome (`mitigate`: all among the acceptable kinds; `scale_before`: scale-outs; "
        "`escalate`: an escalation alone; `nothing`, `undo_within`: no action, a `noop` is none). "
        "The rules policy's choice on the very same cases is judged alike.",
        "",
        "| policy | decisions | choice accuracy | rules' accuracy on the same cases | accuracy "
        "where rules was wrong | asked the cloud tier | sent to a person |",
        "|---" * 7 + "|",
    ]
    for p in models:
        s = summary[p]
        lines.append(
            f"| {p} | {s['decisions']} | {_pct(s['choice_acc'])} | "
            f"{_pct(s['rules_choice_acc'])} | "
            f"{_pct(s['acc_where_rules_wrong'])} of {s['cases_rules_wrong']} | "
            f"{_pct(s['cloud_rate'])} | {_pct(s['human_rate'])} |"
        )
    if chart is not None:
        lines += [
            "",
            "Risk against coverage: the decisions kept, most confident first, as a share of all "
            "decisions (those sent to a person are never kept), against the share of them that "
            "were right; dashed, the rules policy on the same cases.",
            "",
            f"![{chart.stem}]({chart.name})",
        ]
    return [*lines, ""]


def _per_fault(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[int, int]]]:
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        cell = table[row["fault"]][row["policy"]]
        cell[0] += bool(row["success"])
        cell[1] += 1
    return {f: {p: (c[0], c[1]) for p, c in by.items()} for f, by in table.items()}


def write_report(evaluation: Evaluation, out: Path) -> list[Path]:
    """``report.md`` and its charts in ``out``; the paths written."""
    charts = _charts(evaluation, out)
    risk_chart = _risk_coverage_chart(evaluation.summary, out)
    lines = [
        f"# Evaluation: suite {evaluation.suite}",
        "",
        f"Seeds {', '.join(map(str, evaluation.seeds))}; {len(evaluation.rows)} episodes in "
        f"{evaluation.wall_s:.0f} s of wall time ({evaluation.jobs} process(es)). Settings: "
        + ", ".join(f"{k} {v}" for k, v in evaluation.settings.items())
        + ".",
        "",
        "| policy | right outcome | on faults | on controls | actions on controls | median TTM (s) "
        "| median TTD (s) | Acc@1 | Acc@3 | label | actions/episode | escalation | SLO-violation "
        "min | replica-hours | model calls | tokens | cost (USD) | deciding (real s) |",
        "|---" * 18 + "|",
    ]
    for policy, s in evaluation.summary.items():
        lines.append(
            f"| {policy} | {_pct(s['mitigation_success'])} | {_pct(s['fault_success'])} | "
            f"{_pct(s['control_success'])} | {s['false_positive_actions']} | "
            f"{_num(s['median_ttm_s'])} | {_num(s['median_ttd_s'])} | "
            f"{_pct(s['localization_acc1'])} | {_pct(s['localization_acc3'])} | "
            f"{_pct(s['label_acc'])} | {_num(s['actions_per_episode'], '{:.2f}')} | "
            f"{_pct(s['escalation_rate'])} | {_num(s['slo_violation_min'], '{:.1f}')} | "
            f"{_num(s['replica_hours'], '{:.1f}')} | {s['model_calls']} | {s['tokens']} | "
            f"{s['cost_usd']:.4f} | {s['decide_real_s']:.1f} |"
        )
    for policy, why in evaluation.not_run.items():
        lines.append(f"| {policy} | {why} |" + " |" * 16)
    lines += ["", *[f"![{p.stem}]({p.name})" for p in charts], ""]
    lines += _model_section(evaluation.summary, risk_chart)
    table = _per_fault(evaluation.rows)
    policies = list(evaluation.summary)
    lines += [
        "## Per fault",
        "",
        "| fault | " + " | ".join(policies) + " |",
        "|---" * (len(policies) + 1) + "|",
    ]
    for fault in sorted(table):
        cells = [
            f"{table[fault][p][0]}/{table[fault][p][1]}" if p in table[fault] else "-"
            for p in policies
        ]
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    failures = [r for r in evaluation.rows if not r["success"]]
    lines += ["", "## Episodes without the right outcome", ""]
    if not failures:
        lines.append("None.")
    for row in failures:
        actions = "; ".join(row.get("action_list", [])) or "no action"
        lines.append(
            f"- `{row['policy']}` {row['scenario']} (seed {row['seed']}): {row['reason']} "
            f"— {actions}"
        )
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [report, *charts, *([risk_chart] if risk_chart is not None else [])]
