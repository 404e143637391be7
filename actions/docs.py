"""The catalogue table of ``docs/actions.md``, generated from the specs (tests keep them equal)."""

from __future__ import annotations

from .catalogue import CATALOGUE
from .guardrails import GuardrailConfig

__all__ = ["catalogue_markdown"]


def catalogue_markdown() -> str:
    approval = GuardrailConfig().approval
    rows = [
        "| action | target | parameters | preconditions | inverse | risk | default approval |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, spec in CATALOGUE.items():
        targets = ", ".join(sorted(t.value for t in spec.target_kinds))
        parameters = ", ".join(f"`{p}`" for p in spec.parameters) or "—"
        preconditions = "; ".join(spec.preconditions) or "—"
        if not spec.changes_cluster:
            gate = "none (no cluster call)"
        elif approval.needs_person(kind):
            gate = "needs approval"
        else:
            gate = "unattended"
        rows.append(
            f"| `{kind.value}` | {targets} | {parameters} | {preconditions} | "
            f"{spec.inverse_doc} | {spec.risk.value} | {gate} |"
        )
    return "\n".join(rows) + "\n"
