"""The LadybugDB graph backed up under its writer: a running daemon copies its own graph between batches
(CHECKPOINT + copy under the store's lock), the copy opens and holds the live counts, a verify restores
and counts again, a restore gives a graph directory; the CLI without a daemon copies it itself; a copy
whose counts differ is rejected. Real daemon, real age key, directory target."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyrage
import pytest

from projections.stores.ladybug import LadybugStore
from tests.support.instance import Instance
from watchman.backups import graph as graph_backup

pytestmark = pytest.mark.timeout(240)


def dpkg(n: int) -> str:
    return "".join(f"2026-11-01 10:00:{i % 60:02d} install pkg{i}:amd64 <none> 1.{i}-1\n" for i in range(n))


def count(graph_dir: Path, cypher: str) -> int:
    store = LadybugStore(graph_dir)
    try:
        return int(store.query(cypher, {}, read_only=True).rows[0][0])
    finally:
        store.close()


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    inst = Instance(tmp_path)
    inst.write_config()
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    inst.apt_log.write_text("")
    inst.dpkg_log.write_text(dpkg(40))
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    with inst.config.open("a") as f:
        f.write(
            '[backups.jobs.graph]\nkind = "ladybug"\n'
            f'target = "file://{tmp_path / "store"}"\n'
            f'recipients = ["{ident.to_public()}"]\nidentity_file = "{key}"\n'
        )
    return inst


def test_the_running_daemon_backs_up_its_own_graph(inst: Instance, tmp_path: Path) -> None:
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 60
        while not (inst.data_dir / "api.url").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ran = inst.cli("backup", "run", "graph", check=False)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.startswith("succeeded: backup "), ran.stdout  # the daemon's executor ran it
        listed = inst.cli("backup", "list", "graph").stdout.splitlines()
        backup_id = listed[0].split("\t")[0]
        verified = inst.cli("backup", "verify", backup_id, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        dest = tmp_path / "restored"
        restored = inst.cli("backup", "restore", backup_id, "--to", str(dest), check=False)
        assert restored.returncode == 0, restored.stdout + restored.stderr
    finally:
        inst.stop(proc)
    copy = dest / "watchman" / "graph"
    counts = json.loads((dest / graph_backup.COUNTS_FILE).read_text())
    assert counts["Software"] >= 40
    assert graph_backup.counts_of(copy) == counts
    q = "MATCH (p:Software) RETURN count(p)"
    assert count(copy, q) == count(inst.data_dir / "graph", q)
    refused = inst.cli("backup", "restore", backup_id, "--in-place", "--confirm",
                       f"restore {backup_id} in place", check=False)  # fmt: skip
    assert refused.returncode != 0 and "not restored in place" in refused.stderr


def test_without_a_daemon_the_cli_copies_the_graph_and_a_wrong_count_is_rejected(
    inst: Instance, tmp_path: Path
) -> None:
    inst.cli("run", "--once")
    ran = inst.cli("backup", "run", "graph", check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    backup_id = ran.stdout.split(":")[0].strip()
    assert inst.cli("backup", "verify", backup_id, check=False).returncode == 0

    # A restored copy whose graph does not hold what the live one held is refused.
    dest = tmp_path / "restored"
    inst.cli("backup", "restore", backup_id, "--to", str(dest))
    assert graph_backup.check_restored(dest)["Software"] >= 40
    counts_file = dest / graph_backup.COUNTS_FILE
    counts = json.loads(counts_file.read_text())
    counts["Software"] += 1
    counts_file.write_text(json.dumps(counts))
    with pytest.raises(graph_backup.GraphCopyError, match="Software"):
        graph_backup.check_restored(dest)
    shutil.rmtree(dest)
