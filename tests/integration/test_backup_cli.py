"""`watchman backup` without a running daemon: the CLI backs up, lists, verifies, restores and prunes
itself (a real directory target, a real age key file), and appends what it did to the event log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest

from schemas.events.backups import RAW_BACKUPS
from watchman.bus.sqlite_log import SqliteLog

pytestmark = pytest.mark.timeout(180)


def watchman(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WATCHMAN_API_LISTEN": "127.0.0.1:0"}
    return subprocess.run(
        [sys.executable, "-m", "watchman", "--config", str(cfg), "backup", *args],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def test_run_list_verify_restore_prune(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "b.bin").write_bytes(os.urandom(10_000))
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    cfg = tmp_path / "watchman.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhost = "h1"\n\n'
        "[backups.jobs.docs]\n"
        f'paths = ["{src}"]\n'
        f'target = "file://{tmp_path / "store"}"\n'
        f'recipients = ["{ident.to_public()}"]\n'
        f'identity_file = "{key}"\n'
        "keep = { last = 1 }\n"
    )
    first = watchman(cfg, "run", "docs")
    assert first.returncode == 0, first.stderr
    backup_id = first.stdout.split(":")[0].strip()
    assert backup_id.startswith("docs-")
    assert watchman(cfg, "run", "docs").returncode == 0
    listed = watchman(cfg, "list", "docs")
    ids = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert len(ids) == 2 and ids[0] == backup_id

    verified = watchman(cfg, "verify", backup_id)
    assert verified.returncode == 0 and "2 files" in verified.stdout, verified.stderr

    dest = tmp_path / "restored"
    restored = watchman(cfg, "restore", backup_id, "--to", str(dest))
    assert restored.returncode == 0, restored.stderr
    assert (dest / str(src).lstrip("/") / "a.txt").read_text() == "alpha\n"
    refused = watchman(cfg, "restore", backup_id, "--in-place")
    assert refused.returncode == 2 and f"restore {backup_id} in place" in refused.stderr

    dry = watchman(cfg, "prune", "docs", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = [line.split("\t") for line in dry.stdout.splitlines()[1:]]
    assert [(v.strip(), i, why) for v, i, _t, why in lines] == [
        ("keep", ids[1], "last snapshot"),
        ("remove", ids[0], "no keep rule matches"),
    ]
    assert watchman(cfg, "prune", "docs").returncode == 0
    assert [line.split("\t")[0] for line in watchman(cfg, "list", "docs").stdout.splitlines()] == [ids[1]]

    log = SqliteLog(tmp_path / "data" / "log.sqlite")
    try:
        stages = [r.value for r in log.read(RAW_BACKUPS.name, 0, 0, 100)]
    finally:
        log.close()
    text = b"\n".join(stages).decode()
    for stage in ("started", "completed", "verified", "restored", "pruned"):
        assert f'"stage":"{stage}"' in text
