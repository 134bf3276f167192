"""The backups processor: each stage the executor observed decides its one domain event, with an id from
the observation's (the same observation twice decides the same event)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processors.backups import decide_activity
from processors.tables import MemoryTable
from schemas.envelope import Envelope, event_id
from schemas.events.backups import BackupActivityObserved, Stage

T = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
EXPECTED: dict[str, str] = {
    "started": "BackupStarted",
    "completed": "BackupCompleted",
    "failed": "BackupFailed",
    "verified": "BackupVerified",
    "verification_failed": "BackupVerificationFailed",
    "restored": "BackupRestored",
    "pruned": "BackupPruned",
}


def raw(stage: Stage, **fields: object) -> tuple[Envelope, BackupActivityObserved]:
    obs = BackupActivityObserved(stage=stage, ts=T, job="etc", backup_id="etc-20261204T020000Z-0a1b2c3d",
                                 kind="paths", storage="file:///srv", command_id="c1", **fields)  # fmt: skip
    env = Envelope(
        id=event_id("test", stage), type=obs.TYPE, schema_version=1, host="h1", source="test", ts=T,
        observed_at=T, subject="etc", payload=obs.model_dump(mode="json"),
    )  # fmt: skip
    return env, obs


@pytest.mark.parametrize("stage", list(EXPECTED))
def test_each_stage_decides_its_event(stage: Stage) -> None:
    env, obs = raw(stage, error="disk full" if "failed" in stage else "", size=10, files=2, bytes=5)
    (out,) = decide_activity(env, obs, MemoryTable())
    assert out.type == EXPECTED[stage]
    assert out.subject == "etc/etc-20261204T020000Z-0a1b2c3d" and out.causation_id == env.id
    assert out.correlation_id == "c1"
    assert [e.id for e in decide_activity(env, obs, MemoryTable())] == [out.id]


def test_completed_carries_the_figures() -> None:
    env, obs = raw("completed", size=1234, files=3, bytes=999, checksum="sha256:ab", duration_s=1.5)
    (out,) = decide_activity(env, obs, MemoryTable())
    assert {k: out.payload[k] for k in ("size", "files", "bytes", "checksum", "duration_s")} == {
        "size": 1234, "files": 3, "bytes": 999, "checksum": "sha256:ab", "duration_s": 1.5,
    }  # fmt: skip
