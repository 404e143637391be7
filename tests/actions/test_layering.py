"""actions/ imports the control-plane kernel and its few libraries, nothing above it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = {"controlplane", "controlplane.settings", "controlplane.exceptions", "controlplane.clock"}
KERNEL |= {
    "controlplane.domain",
    "controlplane.store",
    "controlplane.topology",
    "controlplane.correlation",
}
LIBRARIES = {"kubernetes", "pydantic", "yaml", "urllib3"}  # urllib3: the client's transport


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(item, ast.Import):
            found |= {alias.name for alias in item.names}
        elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
            found.add(item.module)
    return found


def allowed(name: str) -> bool:
    top = name.split(".")[0]
    if top == "controlplane":
        return name in KERNEL or any(name.startswith(f"{k}.") for k in KERNEL - {"controlplane"})
    return top == "actions" or top in LIBRARIES or top in sys.stdlib_module_names


def offending(path: Path) -> set[str]:
    return {name for name in imports(path) if not allowed(name)}


@pytest.mark.parametrize("path", sorted((ROOT / "actions").rglob("*.py")), ids=str)
def test_actions_import_only_the_kernel_and_their_libraries(path: Path) -> None:
    assert offending(path) == set()


def test_the_rule_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import httpx\nfrom controlplane.cli import main\nfrom telemetry import x\nimport json\n"
    )
    assert offending(bad) == {"httpx", "controlplane.cli", "telemetry"}
