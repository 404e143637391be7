"""The import rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
import sys
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
KERNEL_ROOT = ROOT / "controlplane"
KERNEL = sorted(
    [
        *(
            KERNEL_ROOT / name
            for name in (
                "settings.py",
                "exceptions.py",
                "clock.py",
                "domain.py",
                "topology.py",
                "__init__.py",
            )
        ),
        *(KERNEL_ROOT / "store").rglob("*.py"),
        *(KERNEL_ROOT / "correlation").rglob("*.py"),
    ]
)
# What the kernel may import besides the standard library and itself.
KERNEL_THIRD_PARTY = {"pydantic", "pydantic_settings", "sqlalchemy", "alembic"}


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


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``a.b`` for ``from a.b import c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _kernel_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", KERNEL, ids=_kernel_id)
def test_kernel_imports_no_other_package(path: Path) -> None:
    assert imported_packages(path) <= {"controlplane"}


@pytest.mark.parametrize("path", KERNEL, ids=_kernel_id)
def test_kernel_imports_only_the_kernel_and_its_libraries(path: Path) -> None:
    kernel = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in KERNEL}
    kernel |= {name.removesuffix(".__init__") for name in kernel}
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top == "controlplane":
            assert module in kernel, f"{module} is not a kernel module (the top floor?)"
        else:
            assert top in sys.stdlib_module_names or top in KERNEL_THIRD_PARTY, module


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from controlplane.domain import SLO\nimport testbed.cluster\n")
    assert imported_packages(bad) == {"controlplane", "testbed"}
    assert imported_modules(bad) == {"controlplane.domain", "testbed.cluster"}


AGENTS = sorted((ROOT / "agents").rglob("*.py"))


@pytest.mark.parametrize("path", AGENTS, ids=str)
def test_agents_never_import_the_testbed_or_the_top(path: Path) -> None:
    assert imported_packages(path) <= {
        "controlplane",
        "telemetry",
        "forecasting",
        "actions",
        "agents",
    }
    assert not {"controlplane.loop", "controlplane.runtime", "controlplane.cli"} & _modules(path)


@pytest.mark.parametrize("path", AGENTS, ids=str)
def test_agents_never_reach_the_ground_truth(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for forbidden in ("chaos-mesh.org", "/testbed/", "truth_token", "TESTBED_TRUTH"):
        assert forbidden not in text, f"{path} names {forbidden}"


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found
