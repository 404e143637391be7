"""Docs that state facts about the code must match it."""

from __future__ import annotations

import re
from pathlib import Path

from testbed.timing import timing_table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_timing_table_in_docs_matches_the_code() -> None:
    text = (ROOT / "docs" / "testbed.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- timing-table[^\n]*-->\n(.*?)\n<!-- /timing-table -->", text, re.S)
    assert match, "docs/testbed.md lost its timing table markers"
    assert match.group(1).strip() == timing_table_markdown().strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme
    assert [
        line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ] == ["make test"]


def test_readme_lists_every_testbed_command() -> None:
    from testbed.cli import testbed_group

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in testbed_group.commands:
        assert f"aiops testbed {name}" in readme


def test_fault_catalogue_in_docs_matches_the_library() -> None:
    from testbed.faults.docs import catalogue_markdown

    text = (ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- fault-catalogue[^\n]*-->\n(.*?)\n<!-- /fault-catalogue -->", text, re.S
    )
    assert match, "docs/faults.md lost its catalogue markers"
    assert match.group(1).strip() == catalogue_markdown().strip()


def test_forecasting_docs_list_every_watched_symptom() -> None:
    from forecasting.monitor import SYMPTOMS

    text = (ROOT / "docs" / "forecasting.md").read_text(encoding="utf-8")
    for key in SYMPTOMS:
        assert f"`{key}`" in text, f"docs/forecasting.md does not describe {key}"


def test_the_agents_doc_names_every_model_setting() -> None:
    from controlplane.settings import Settings

    text = (ROOT / "docs" / "agents.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        if name.startswith("llm_"):
            assert f"AIOPS_{name.upper()}" in text, name


def test_the_api_doc_lists_every_route(tmp_path: Path) -> None:
    from api import create_app
    from controlplane.settings import Settings
    from controlplane.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        document = create_app(Settings(data_dir=tmp_path), store=store).openapi()
    finally:
        store.close()
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for path, operations in document["paths"].items():
        for method in operations:
            # documented as "GET /incidents/{id}" or as a sibling ("…/resolve`, `/reopen")
            route = re.sub(r"\{[a-z_]+\}", "{id}", path)
            last = "/" + route.rsplit("/", 1)[1]
            assert f"{method.upper()} {route}" in text or f"`{last}`" in text, (method, path)


def test_the_api_doc_names_every_operator_setting() -> None:
    from controlplane.settings import Settings

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in ("notify_webhook_url", "console_url"):
        assert name in Settings.model_fields and f"AIOPS_{name.upper()}" in text, name
