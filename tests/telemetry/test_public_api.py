"""The package's public names, and its import rule: telemetry imports only the kernel."""

from __future__ import annotations

import ast
from pathlib import Path

import telemetry
import telemetry.sources

ROOT = Path(__file__).resolve().parents[2]
KERNEL = {
    "controlplane.settings",
    "controlplane.exceptions",
    "controlplane.clock",
    "controlplane.domain",
}
PROJECT = {"controlplane", "forecasting", "actions", "agents", "api", "evaluation", "testbed"}


def test_every_public_name_exists() -> None:
    for package in (telemetry, telemetry.sources):
        assert len(set(package.__all__)) == len(package.__all__)
        for name in package.__all__:
            assert hasattr(package, name), f"{package.__name__}.{name}"


def test_telemetry_imports_only_the_kernel() -> None:
    for path in sorted((ROOT / "telemetry").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                if module.split(".")[0] in PROJECT:
                    assert module in KERNEL, f"{path.relative_to(ROOT)} imports {module}"
