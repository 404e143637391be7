"""docs/analysis.md's table of causes matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from agents.analysis import LABELS, Cause

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def test_every_cause_is_documented_with_its_label() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- causes[^\n]*-->\n(.*?)\n<!-- /causes -->", text, re.S)
    assert match, "docs/analysis.md lost its causes markers"
    rows = {}
    for line in match.group(1).splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1]
    assert set(rows) == {c.value for c in Cause}
    for cause, label in LABELS.items():
        assert rows[cause.value] == f"{label.system_level.value} / {label.fault_type.value}"
