"""The import rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {
    "controlplane",
    "telemetry",
    "forecasting",
    "actions",
    "agents",
    "api",
    "evaluation",
    "testbed",
}
KERNEL = ["settings.py", "exceptions.py", "clock.py", "domain.py", "__init__.py"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("path", sorted((ROOT / "testbed").rglob("*.py")), ids=str)
def test_testbed_imports_nothing_from_the_control_plane(path: Path) -> None:
    assert imported_packages(path) <= {"testbed"}


@pytest.mark.parametrize("name", KERNEL)
def test_kernel_imports_no_other_package(name: str) -> None:
    assert imported_packages(ROOT / "controlplane" / name) <= {"controlplane"}


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from controlplane.domain import SLO\nimport testbed.cluster\n")
    assert imported_packages(bad) == {"controlplane", "testbed"}
