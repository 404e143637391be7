"""The fault catalogue as Markdown (``docs/faults.md`` embeds it; a test keeps them equal)."""

from __future__ import annotations

from .library import FAULTS


def catalogue_markdown() -> str:
    lines = [
        "| fault | label (system level / fault type) | target | root cause | injected with |"
        " mitigations |",
        "|---|---|---|---|---|---|",
    ]
    for f in FAULTS.values():
        lines.append(
            f"| `{f.name}` | {f.system_level} / {f.fault_type} | {f.target} | {f.root} "
            f"| {f.injection} | {', '.join(f.mitigations)} |"
        )
    for f in FAULTS.values():
        s = f.strength
        lines += [
            "",
            f"### `{f.name}`: {f.title}",
            "",
            f"- **Label**: {f.system_level} / {f.fault_type}. **Root cause**: the {f.root}"
            f" ({'the targeted ' + f.target if f.target != 'app' else 'the application'}).",
            f"- **What it does**: {f.does}",
            f"- **Strength**: default {s.default:g} {s.unit} ({s.meaning}; "
            f"{s.minimum:g} to {s.maximum:g}).",
            f"- **Symptoms** (within {f.symptom_within_s:g} s): " + "; ".join(f.symptoms) + ".",
            f"- **Mitigations**: {', '.join(f.mitigations)}. {f.mitigation_notes}",
        ]
        if f.self_healing:
            lines.append("- **Heals itself**: the right outcome is to do nothing.")
    return "\n".join(lines)
