"""The retention CLI without a running daemon: the policies and the preview answer from the settings and
the graph itself; a purge (a command the daemon carries out) says so instead of a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from watchman.cli import app


def test_without_a_daemon(tmp_path: Path) -> None:
    config = tmp_path / "watchman.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nhost = "h"\n')
    runner = CliRunner()
    assert runner.invoke(app, ["-c", str(config), "run", "--once"]).exit_code == 0  # an (empty) graph
    got = runner.invoke(app, ["-c", str(config), "retention", "policies"])
    assert got.exit_code == 0, got.output
    assert "LogEvent" in {p["policy"] for p in json.loads(got.stdout)["policies"]}
    got = runner.invoke(app, ["-c", str(config), "retention", "preview", "--policy", "LogEvent"])
    assert got.exit_code == 0, got.output
    assert [p["policy"] for p in json.loads(got.stdout)["policies"]] == ["LogEvent"]
    got = runner.invoke(app, ["-c", str(config), "retention", "preview", "--policy", "nope"])
    assert got.exit_code == 2 and "no enabled retention policy 'nope'" in got.stderr
    got = runner.invoke(app, ["-c", str(config), "retention", "purge", "--confirm", "purge"])
    assert got.exit_code == 1 and "no running daemon" in got.stderr
    assert "Traceback" not in got.output
