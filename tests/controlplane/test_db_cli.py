"""``aiops db upgrade`` and ``aiops db status``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from controlplane.cli import main
from controlplane.store import current_revision, head_revision, make_engine

from ..databases import Database


def test_upgrade_then_status(database: Database) -> None:
    runner = CliRunner()
    url = database.full_url
    before = runner.invoke(main, ["db", "status", "--url", url])
    assert before.exit_code == 0, before.output
    assert "revision none" in before.output and "needs 'aiops db upgrade'" in before.output
    first = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to {head_revision()}" in first.output
    second = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert "already at the newest revision" in second.output
    after = runner.invoke(main, ["db", "status", "--url", url])
    assert "(up to date)" in after.output
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_upgrade_reads_the_url_from_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "state" / "aiops.db"
    monkeypatch.setenv("AIOPS_DATABASE_URL", f"sqlite:///{path}")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "synchronous=FULL" in result.output and "journal_mode=WAL" in result.output
    assert path.is_file()


def test_unreachable_database_is_a_clean_error() -> None:
    url = "postgresql://aiops:hunter2@127.0.0.1:1/none?connect_timeout=2"
    result = CliRunner().invoke(main, ["db", "upgrade", "--url", url])
    assert result.exit_code == 1
    assert "cannot reach database" in result.output and "hunter2" not in result.output
    assert "Traceback" not in result.output
