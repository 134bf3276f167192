"""The backup gauges (last success, bytes, duration per job) survive a restart: a backup made by the CLI
(a real directory target, a real age key), then a fresh daemon reports it before any new run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyrage
import pytest

from schemas.events.backups import EVENTS_BACKUPS, RAW_BACKUPS, BackupActivityObserved
from watchman import metrics
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.executors.backups import LAST_BYTES, LAST_SECONDS, LAST_SUCCESS, restore_metrics

pytestmark = pytest.mark.timeout(180)


def test_a_restarted_daemon_reports_the_last_backup(tmp_path: Path) -> None:
    from watchman.daemon import Daemon
    from watchman.settings import load

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n" * 100)
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    cfg = tmp_path / "watchman.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhost = "h1"\napi_listen = ""\n'
        "[packages]\napt = []\ndpkg = []\ndnf_rpm = []\ndnf = []\ndnf5 = []\nbrew = []\n"
        "dpkg_status = []\nrpmdb = []\n"
        "[backups.jobs.docs]\n"
        f'paths = ["{src}"]\ntarget = "file://{tmp_path / "store"}"\n'
        f'recipients = ["{ident.to_public()}"]\nidentity_file = "{key}"\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "watchman", "--config", str(cfg), "backup", "run", "docs"],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    log = SqliteLog(tmp_path / "data" / "log.sqlite")
    try:
        payloads = [orjson.loads(r.value)["payload"] for r in log.read(RAW_BACKUPS.name, 0, 0, 100)]
    finally:
        log.close()
    completed = [BackupActivityObserved.model_validate(p) for p in payloads if p["stage"] == "completed"]
    assert len(completed) == 1
    done = completed[0]

    # This test process never ran a backup: the gauges are what the daemon restores at start.
    for gauge in (LAST_SUCCESS, LAST_BYTES, LAST_SECONDS):
        gauge.clear()
    labels = {"backup_job": "docs", "kind": "paths"}
    assert metrics.REGISTRY.get_sample_value("watchman_backup_last_success_timestamp_seconds", labels) is None

    daemon = Daemon(load(cfg))
    try:
        sample = metrics.REGISTRY.get_sample_value
        assert sample("watchman_backup_last_success_timestamp_seconds", labels) == done.ts.timestamp()
        assert sample("watchman_backup_last_stored_bytes", labels) == done.size > 0
        assert sample("watchman_backup_last_duration_seconds", labels) == done.duration_s
        # The daemon turns the raw record into BackupCompleted (kept for ever; the raw topic is not).
        daemon.run(once=True)
    finally:
        daemon.close()
    log = SqliteLog(tmp_path / "data" / "log.sqlite")
    only_events = SqliteLog(tmp_path / "events-only.sqlite")
    try:
        only_events.ensure_topics([EVENTS_BACKUPS])
        events = log.read(EVENTS_BACKUPS.name, 0, 0, 100)
        assert "BackupCompleted" in {r.headers.get("type") for r in events}
        only_events.append(EVENTS_BACKUPS.name, [Record(r.key, r.value, r.headers) for r in events])
        for gauge in (LAST_SUCCESS, LAST_BYTES, LAST_SECONDS):
            gauge.clear()
        assert restore_metrics(only_events, "h1") == 1
        assert restore_metrics(only_events, "another-host") == 0  # only its own host's jobs
    finally:
        only_events.close()
        log.close()
    assert metrics.REGISTRY.get_sample_value("watchman_backup_last_stored_bytes", labels) == done.size
    assert (
        metrics.REGISTRY.get_sample_value("watchman_backup_last_success_timestamp_seconds", labels)
        == done.ts.timestamp()
    )
