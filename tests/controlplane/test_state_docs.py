"""docs/state.md states the two state machines; they must match the code."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

import pytest

from controlplane.domain import INCIDENT_TRANSITIONS
from controlplane.store import ACTION_TRANSITIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "state.md"


def transitions_markdown(transitions: Mapping[StrEnum, frozenset[StrEnum]]) -> str:
    order = list(transitions)
    lines = ["| from | may move to |", "|---|---|"]
    for state, targets in transitions.items():
        names = ", ".join(f"`{t}`" for t in sorted(targets, key=order.index)) or "(final)"
        lines.append(f"| `{state}` | {names} |")
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("marker", "transitions"),
    [("incident-transitions", INCIDENT_TRANSITIONS), ("action-transitions", ACTION_TRANSITIONS)],
)
def test_state_machine_tables_match_the_code(
    marker: str, transitions: Mapping[StrEnum, frozenset[StrEnum]]
) -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker}[^\n]*-->\n(.*?)\n<!-- /{marker} -->", text, re.S)
    assert match, f"docs/state.md lost its {marker} markers"
    assert match.group(1).strip() == transitions_markdown(transitions)
