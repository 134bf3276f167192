"""Restoring the event log brings the graph back by replay: under a directory (a ready data directory:
log + graph) and in place (the daemon stopped; the live log kept aside, the graph rebuilt and swapped),
with the real CLI, a real age key and a directory target."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest

from schemas.events.backups import in_place_phrase
from tests.support.instance import Instance
from watchman.wiring import open_graph

pytestmark = pytest.mark.timeout(240)


def events(graph_dir: Path) -> int:
    """The graph's events but the backups' own (the backup and restore runs add theirs to the log)."""
    store = open_graph(f"ladybug://{graph_dir}")
    try:
        cypher = "MATCH (e:Event) WHERE NOT e.type STARTS WITH 'Backup' RETURN count(e)"
        return int(store.query(cypher, {}, read_only=True).rows[0][0])
    finally:
        store.close()


def dpkg(n: int, start: int = 0) -> str:
    return "".join(
        f"2026-11-0{1 + i % 9} 10:00:{i % 60:02d} install pkg{i}:amd64 <none> 1.{i}-1\n"
        for i in range(start, start + n)
    )


def test_restore_the_event_log_to_a_directory_and_in_place_with_its_graph(tmp_path: Path) -> None:
    inst = Instance(tmp_path)
    inst.write_config()
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    inst.apt_log.write_text("")
    inst.dpkg_log.write_text(dpkg(30))
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    with inst.config.open("a") as f:
        f.write(
            '[backups.jobs.log]\nkind = "eventlog"\n'
            f'target = "file://{tmp_path / "store"}"\n'
            f'recipients = ["{ident.to_public()}"]\nidentity_file = "{key}"\n'
        )
    inst.cli("run", "--once")
    live_graph = inst.data_dir / "graph"
    at_backup = events(live_graph)
    assert at_backup >= 30
    backup_id = inst.cli("backup", "run", "log").stdout.split(":")[0].strip()
    assert backup_id.startswith("log-")

    # The world moves on after the backup.
    with inst.dpkg_log.open("a") as f:
        f.write(dpkg(20, start=30))
    inst.cli("run", "--once")
    later = events(live_graph)
    assert later > at_backup

    dest = tmp_path / "restored"
    done = inst.cli("backup", "restore", backup_id, "--to", str(dest))
    assert "graph rebuilt by replay of" in done.stdout, done.stdout
    assert (dest / "watchman" / "log.sqlite").is_file()
    assert events(dest / "watchman" / "graph") == at_backup

    refused = inst.cli("backup", "restore", backup_id, "--in-place", check=False)
    assert refused.returncode == 2 and in_place_phrase(backup_id) in refused.stderr
    assert events(live_graph) == later  # nothing changed

    placed = inst.cli("backup", "restore", backup_id, "--in-place", "--confirm", in_place_phrase(backup_id))
    assert "graph rebuilt by replay of" in placed.stdout, placed.stdout
    assert (inst.data_dir / f"log.sqlite.before-{backup_id}").is_file()
    assert events(live_graph) == at_backup
    assert (inst.data_dir / "graph.previous").is_dir()  # the graph before the restore, kept

    # The restored log holds the sources' cursors of its time: the next run reads the rest again.
    inst.cli("run", "--once")
    assert events(live_graph) == later
