"""``aiops testbed`` subcommands that return at once."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from controlplane.cli import main


def test_apps_lists_the_default_application() -> None:
    result = CliRunner().invoke(main, ["testbed", "apps"])
    assert result.exit_code == 0, result.output
    assert "hotel-reservation: 12 services, entry frontend" in result.output


def test_timing_prints_the_table() -> None:
    result = CliRunner().invoke(main, ["testbed", "timing"])
    assert result.exit_code == 0
    assert "| `backoff_max_s` | 300 |" in result.output


def test_check_accepts_a_valid_file_and_names_a_cycle(tmp_path: Path) -> None:
    good = CliRunner().invoke(main, ["testbed", "check", "hotel-reservation"])
    assert good.exit_code == 0 and "frontend ->" in good.output
    bad = tmp_path / "cyclic.yaml"
    bad.write_text(
        "name: c\nnamespace: c\nentry: a\nservices:\n"
        "  - {name: a, image: 'x/a:1', calls: [{service: b}]}\n"
        "  - {name: b, image: 'x/b:1', calls: [{service: a}]}\n"
    )
    result = CliRunner().invoke(main, ["testbed", "check", str(bad)])
    assert result.exit_code != 0
    assert "cycle: a -> b -> a" in result.output


def test_serve_rejects_bad_options_before_starting() -> None:
    result = CliRunner().invoke(main, ["testbed", "serve", "--load", "wobble:3", "--port", "0"])
    assert result.exit_code != 0
    assert "wobble" in result.output
    result = CliRunner().invoke(main, ["testbed", "serve", "--timing", "nonsense=3", "--port", "0"])
    assert result.exit_code != 0
    assert "unknown timing setting" in result.output


def test_serve_rejects_an_unknown_noise_kind_naming_the_valid_ones() -> None:
    result = CliRunner().invoke(main, ["testbed", "serve", "--noise", "logs,gremlins"])
    assert result.exit_code != 0
    assert "'gremlins'" in result.output
    assert "deploys, logs, cron, maintenance, drift" in result.output
