"""The backups domain's endpoints. Write endpoints publish a command for the host that runs the job and
answer 202 with the command's status URL (/admin/commands/{id}); restoring in place needs its phrase."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from projections.catalog import resolve
from schemas.events import CommandPayload, command_envelope
from schemas.events.backups import (
    BACKUP_ID,
    JOB_NAME,
    PruneBackups,
    RestoreBackup,
    TriggerBackup,
    VerifyBackup,
    in_place_phrase,
)
from watchman.api.auth import Caller
from watchman.api.base import Backend, CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["backups"])

BackupId = Annotated[str, Path(pattern=BACKUP_ID, description="a backup id, as /admin/backup/list shows")]


class Accepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, max_length=255, description="the host whose job it is (default: this one)")
    idempotency_key: str | None = Field(
        None, max_length=200, description="the same key gives the same command id: a retry is one command"
    )
    reason: str = Field("", max_length=500)


class TriggerRequest(_Request):
    job: str = Field(pattern=JOB_NAME, description="the job's name ([backups.jobs.NAME])")


class RestoreRequest(_Request):
    target_dir: str = Field(
        "", max_length=4096, description="restore under this directory (must not hold the files)"
    )
    in_place: StrictBool = Field(False, description="restore over the live paths (needs confirm)")
    confirm: str = Field("", max_length=200, description='for in_place: "restore <backup_id> in place"')


class PruneRequest(_Request):
    job: str = Field(pattern=JOB_NAME)
    dry_run: StrictBool = Field(True, description="only say what would be removed, and why (the default)")


def _publish(backend: Backend, payload: CommandPayload, body: _Request) -> Accepted:
    now = datetime.now(UTC)
    host = body.host or backend.host
    if backend.deployment == "embedded" and host != backend.host:
        raise HTTPException(400, f"this embedded daemon runs {backend.host!r}'s jobs only, not {host!r}")
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return Accepted(command_id=env.id, type=env.type, host=host, status_url=f"/admin/commands/{env.id}")


def _job_of(backup_id: str) -> str:
    return backup_id.rsplit("-", 2)[0]


@router.post("/admin/backup/trigger", response_model=Accepted, status_code=202)
def trigger(caller: Caller, body: TriggerRequest, backend: CurrentBackend) -> Accepted:
    """Run a backup job now: publishes TriggerBackup; poll its status_url."""
    return _publish(backend, TriggerBackup(issued_by=caller, reason=body.reason, job=body.job), body)


@router.get("/admin/backup/list", response_model=Rows, responses={400: {"model": Problem}})
def backup_list(
    caller: Caller,
    backend: CurrentBackend,
    type: Annotated[str, Query(max_length=40, pattern=r"^[a-z-]*$", description="a kind ('' = any)")] = "",
    days: Annotated[int, Query(ge=1, le=36_500)] = 7,
) -> Rows:
    """Backups (every run, with status, size and verification) of the last `days`, newest first."""
    cypher, params = resolve("backups-last-week", {"days": days, "kind": type or "any"}, datetime.now(UTC))
    return run_cypher(backend, cypher, params)


@router.post("/admin/backup/verify/{backup_id}", response_model=Accepted, status_code=202)
def verify(
    caller: Caller, backup_id: BackupId, backend: CurrentBackend, body: _Request | None = None
) -> Accepted:
    """Verify a backup: the stored object's checksum, then a restore dry-run against its manifest."""
    body = body or _Request()
    cmd = VerifyBackup(issued_by=caller, reason=body.reason, job=_job_of(backup_id), backup_id=backup_id)
    return _publish(backend, cmd, body)


@router.post("/admin/backup/test-recovery/{backup_id}", response_model=Accepted, status_code=202)
def test_recovery(
    caller: Caller, backup_id: BackupId, backend: CurrentBackend, body: _Request | None = None
) -> Accepted:
    """A recovery test: a verify whose success records the RecoveryPoint as tested (tested, test_date)."""
    body = body or _Request()
    cmd = VerifyBackup(
        issued_by=caller, reason=body.reason, job=_job_of(backup_id), backup_id=backup_id, recovery_test=True
    )
    return _publish(backend, cmd, body)


@router.post(
    "/admin/backup/restore/{backup_id}",
    response_model=Accepted,
    status_code=202,
    responses={400: {"model": Problem}},
)
def restore(caller: Caller, backup_id: BackupId, body: RestoreRequest, backend: CurrentBackend) -> Accepted:
    """Restore a backup under target_dir, or in place with confirm = "restore <backup_id> in place"."""
    if body.in_place and body.confirm != in_place_phrase(backup_id):
        raise HTTPException(400, f"an in-place restore needs confirm = {in_place_phrase(backup_id)!r}")
    if not body.in_place and not body.target_dir:
        raise HTTPException(400, "give target_dir, or in_place with its confirmation")
    cmd = RestoreBackup(
        issued_by=caller, reason=body.reason, job=_job_of(backup_id), backup_id=backup_id,
        target_dir=body.target_dir, in_place=body.in_place, confirm=body.confirm,
    )  # fmt: skip
    return _publish(backend, cmd, body)


@router.post("/admin/backup/prune", response_model=Accepted, status_code=202)
def prune(caller: Caller, body: PruneRequest, backend: CurrentBackend) -> Accepted:
    """Apply the job's keep rules (dry_run by default: the outcome's detail counts kept and removed)."""
    return _publish(
        backend, PruneBackups(issued_by=caller, reason=body.reason, job=body.job, dry_run=body.dry_run), body
    )
