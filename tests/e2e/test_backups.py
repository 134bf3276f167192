"""Backups end to end on the embedded pipeline: a command on the log -> the executor backs up to a real
target (a directory; SeaweedFS's S3 for one job) -> observations -> domain events -> the graph, answered
by the named queries; verify, restore, prune; the event log backing up itself; a failing job; a known
secret never reaching the log, the graph or a log file; and the scheduler's catch-up after downtime."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage
import pytest

from projections.catalog import resolve
from projections.stores.ladybug import LadybugStore
from schemas.events import CommandPayload, command_envelope
from schemas.events.backups import PruneBackups, RestoreBackup, TriggerBackup, VerifyBackup, in_place_phrase
from schemas.events.commands import COMMANDS
from tests.support.s3 import ACCESS_KEY, BUCKET, ENDPOINT, SECRET_KEY, fresh_prefix
from watchman.bus.sqlite_log import SqliteLog
from watchman.domains.backups import BackupJobSettings, BackupSettings, KeepSettings
from watchman.pipeline import EmbeddedPipeline, envelope_record
from watchman.scheduler import ScheduleSource
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.wiring import build_sources, executor_options

pytestmark = pytest.mark.timeout(300)

HOST = "h1"
PASSPHRASE = "tr0ub4dor-and-3-more-words"  # a known secret: searched for in everything afterwards


@dataclass
class World:
    root: Path
    src: Path
    store: Path
    settings: Settings
    log: SqliteLog
    graph: LadybugStore
    pipeline: EmbeddedPipeline
    clock: list[datetime]

    def command(self, payload: CommandPayload, key: str) -> str:
        env = command_envelope(payload, host=HOST, source="test", issued_at=self.clock[0], dedup_key=key)
        with self.log.transaction():
            self.log.append(COMMANDS.name, [envelope_record(env)])
        self.pipeline.drain()
        return env.id

    def ask(self, name: str, **params: Any) -> list[dict[str, Any]]:
        cypher, values = resolve(name, params, self.clock[0] + timedelta(minutes=1))
        return self.graph.query(cypher, values).dicts()

    def status(self, command_id: str) -> tuple[str, str]:
        row = self.ask("command-status", id=command_id)[0]
        return row["status"], row["detail"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("backups-e2e")
    src = root / "src"
    (src / "conf.d").mkdir(parents=True)
    (src / "app.conf").write_text("listen = 127.0.0.1\n")
    (src / "conf.d" / "extra.conf").write_bytes(os.urandom(50_000))
    ident = pyrage.x25519.Identity.generate()
    keyfile = root / "backup.key"
    keyfile.write_text(f"{ident}\n")
    keyfile.chmod(0o600)
    data_dir = root / "data"
    (data_dir / "secrets").mkdir(parents=True, mode=0o700)
    secret = data_dir / "secrets" / "backup.passphrase"
    secret.write_text(PASSPHRASE)
    secret.chmod(0o600)
    store = root / "store"
    s3_url = f"s3://{BUCKET}/{fresh_prefix()}?endpoint={ENDPOINT}&create_bucket=1&access_key=secret:s3.access&secret_key=secret:s3.secret"
    for name, value in (("s3.access", ACCESS_KEY), ("s3.secret", SECRET_KEY)):
        (data_dir / "secrets" / name).write_text(value)
        (data_dir / "secrets" / name).chmod(0o600)
    jobs = {
        "conf": BackupJobSettings(
            kind="paths", paths=(src,), exclude=("*.swp",), target=f"file://{store}",
            recipients=(str(ident.to_public()),), identity_file=keyfile, keep=KeepSettings(last=2),
        ),
        "log": BackupJobSettings(kind="eventlog", target=s3_url, passphrase="secret:backup.passphrase"),
        "broken": BackupJobSettings(
            kind="paths", paths=(src,), target="file:///proc/no-such-dir",
            recipients=(str(ident.to_public()),),
        ),
    }  # fmt: skip
    settings = Settings(data_dir=data_dir, host=HOST, backups=BackupSettings(jobs=jobs))
    log = SqliteLog(data_dir / "log.sqlite")
    graph = LadybugStore(data_dir / "graph")
    clock = [datetime(2026, 12, 1, 2, 0, tzinfo=UTC)]
    pipeline = EmbeddedPipeline(log, graph, build_sources(settings, CursorStore(log)), host=HOST,
                                clock=lambda: clock[0])  # fmt: skip
    pipeline.commands.ctx.options = executor_options(settings)
    pipeline.commands.ctx.now = lambda: clock[0]
    yield World(root, src, store, settings, log, graph, pipeline, clock)
    pipeline.close()
    graph.close()
    log.close()


def test_a_backup_command_ends_as_a_recovery_point_in_the_graph(world: World) -> None:
    cid = world.command(TriggerBackup(issued_by="test", job="conf"), "b1")
    status, detail = world.status(cid)
    assert status == "succeeded", detail
    rows = world.ask("backups-last-week", days=7)
    assert len(rows) == 1
    row = rows[0]
    assert row["job"] == "conf" and row["status"] == "completed" and row["files"] == 2
    assert row["verified"] == "ok"  # verified right after writing
    assert world.ask("last-backup", kind="paths")[0]["backups"] == 1
    total = world.ask("backups-total-size")
    assert total[0]["stored_bytes"] > 0 and total[0]["source_bytes"] >= 50_000
    stored = world.graph.query(
        "MATCH (j:BackupJob)-[:STORED_IN]->(s:StorageLocation) RETURN j.name AS job, s.url AS url"
    ).dicts()
    assert {"job": "conf", "url": f"file://{world.store}"} in stored


def test_the_same_command_again_does_not_write_a_second_backup(world: World) -> None:
    before = sorted(p.name for p in (world.store / "conf").iterdir())
    # the runner's position was committed, so re-appending the same command is a redelivery
    world.command(TriggerBackup(issued_by="test", job="conf"), "b1")
    assert sorted(p.name for p in (world.store / "conf").iterdir()) == before
    assert len(world.ask("backups-last-week", days=7)) == 1


def test_verify_restore_and_in_place_confirmation(world: World) -> None:
    bid = world.ask("backups-last-week", days=7)[0]["id"]
    cid = world.command(VerifyBackup(issued_by="test", job="conf", backup_id=bid, recovery_test=True), "v1")
    assert world.status(cid)[0] == "succeeded"
    rp = world.graph.query("MATCH (r:RecoveryPoint) WHERE r.id = $id RETURN r.tested AS t, r.test_date AS d",
                           {"id": bid}).dicts()[0]  # fmt: skip
    assert rp["t"] is True and rp["d"] is not None
    dest = world.root / "restored"
    cid = world.command(
        RestoreBackup(issued_by="test", job="conf", backup_id=bid, target_dir=str(dest)), "r1"
    )
    assert world.status(cid)[0] == "succeeded", world.status(cid)
    arc = str(world.src).lstrip("/")
    assert (dest / arc / "app.conf").read_text() == "listen = 127.0.0.1\n"
    cid = world.command(RestoreBackup(issued_by="test", job="conf", backup_id=bid, in_place=True,
                                      confirm="yes"), "r2")  # fmt: skip
    status, detail = world.status(cid)
    assert status == "rejected" and in_place_phrase(bid) in detail
    # with the phrase, in place: a changed file is put back
    (world.src / "app.conf").write_text("changed\n")
    cid = world.command(RestoreBackup(issued_by="test", job="conf", backup_id=bid, in_place=True,
                                      confirm=in_place_phrase(bid)), "r3")  # fmt: skip
    assert world.status(cid)[0] == "succeeded", world.status(cid)
    assert (world.src / "app.conf").read_text() == "listen = 127.0.0.1\n"


def test_prune_keeps_by_the_rules_and_says_so(world: World) -> None:
    for i in (2, 3):
        world.clock[0] += timedelta(days=1)
        assert (
            world.status(world.command(TriggerBackup(issued_by="test", job="conf"), f"b{i}"))[0]
            == "succeeded"
        )
    cid = world.command(PruneBackups(issued_by="test", job="conf", dry_run=True), "p0")
    assert world.status(cid) == ("succeeded", "kept 2, would remove 1")
    cid = world.command(PruneBackups(issued_by="test", job="conf"), "p1")
    assert world.status(cid) == ("succeeded", "kept 2, removed 1")
    points = world.graph.query("MATCH (r:RecoveryPoint) WHERE r.job = $j RETURN r.status AS s ORDER BY r.id",
                               {"j": "conf"}).dicts()  # fmt: skip
    assert [p["s"] for p in points] == ["pruned", "completed", "completed"]
    assert len(list((world.store / "conf").iterdir())) == 2


def test_the_event_log_backs_itself_up_to_s3_under_a_passphrase(world: World) -> None:
    cid = world.command(TriggerBackup(issued_by="test", job="log"), "l1")
    status, detail = world.status(cid)
    assert status == "succeeded", detail
    rows = world.ask("last-backup", kind="eventlog")
    assert rows and rows[0]["job"] == "log"
    db = world.graph.query(
        "MATCH (j:BackupJob)-[:BACKED_UP]->(d:Database) RETURN d.name AS name, d.engine AS engine"
    ).dicts()
    assert db == [{"name": "watchman-eventlog", "engine": "sqlite"}]
    point = world.graph.query("MATCH (r:RecoveryPoint) WHERE r.job = $j RETURN r.verified AS v", {"j": "log"})
    assert point.dicts()[0]["v"] == "ok"  # including SQLite's integrity check of the restored copy


def test_a_failing_job_is_a_failed_backup_and_an_answer(world: World) -> None:
    cid = world.command(TriggerBackup(issued_by="test", job="broken"), "x1")
    status, detail = world.status(cid)
    assert status == "failed" and "backup" in detail
    failed = world.ask("backups-failed", days=30)
    assert [r["job"] for r in failed] == ["broken"] and failed[0]["failure"] == "BackupFailed"


def test_no_secret_reaches_the_log_the_graph_or_a_log_file(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [PASSPHRASE, os.environ.get("WATCHMAN_TEST_S3_SECRET_KEY", "watchman-test-secret-key")]
    raw = (world.settings.data_dir / "log.sqlite").read_bytes()
    for name in os.listdir(world.settings.data_dir):
        if name.startswith("log.sqlite"):
            raw += (world.settings.data_dir / name).read_bytes()
    dump = str(world.graph.query("MATCH (n) RETURN n").rows)
    for s in secrets:
        assert s.encode() not in raw
        assert s not in dump
        assert s not in caplog.text
    for path in world.root.rglob("*.log"):
        assert not any(s in path.read_text(errors="replace") for s in secrets)
    logging.getLogger(__name__).info("checked %d secrets", len(secrets))


def test_scheduler_catch_up_runs_a_missed_slot_once(world: World) -> None:
    """The host was down across two 02:00 slots: at start the job runs once; a restart (a new source from
    the saved cursor) at the same moment issues nothing more."""
    conf = world.settings.backups.jobs["conf"].model_copy(update={"schedule": "0 2 * * *"})
    jobs_settings = world.settings.model_copy(update={"backups": BackupSettings(jobs={"conf": conf})})
    cursors = CursorStore(world.log)
    now = [datetime(2026, 12, 10, 1, 0, tzinfo=UTC)]

    def sources() -> list[ScheduleSource]:
        built = build_sources(jobs_settings, cursors)
        # The backups' scheduler (retention has its own ScheduleSource, on by default).
        sched = [s for s in built if isinstance(s, ScheduleSource) and s.scheduler == "backups"]
        assert len(sched) == 1
        sched[0].clock = lambda: now[0]
        return sched

    def run(srcs: list[ScheduleSource]) -> int:
        p = EmbeddedPipeline(world.log, world.graph, srcs, host=HOST, clock=lambda: now[0])
        p.commands.ctx.options = executor_options(jobs_settings)
        p.commands.ctx.now = lambda: now[0]
        n = p.drain().executed
        p.close()
        return n

    before = len(world.ask("backups-last-week", days=30))
    assert run(sources()) == 0  # first sight: the schedule starts now
    now[0] = datetime(2026, 12, 12, 9, 30, tzinfo=UTC)  # down over the 10th's, 11th's and 12th's 02:00
    assert run(sources()) == 1
    assert run(sources()) == 0  # restarted at the same moment: the slot is in the log already
    world.clock[0] = now[0]
    rows = world.ask("backups-last-week", days=30)
    assert len(rows) == before + 1
    job = world.graph.query("MATCH (s:ScheduledJob) RETURN s.name AS name, s.missed AS missed, "
                            "s.last_slot AS slot").dicts()  # fmt: skip
    assert job == [{"name": "conf", "missed": 2, "slot": datetime(2026, 12, 12, 2, 0)}]
