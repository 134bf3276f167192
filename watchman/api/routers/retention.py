"""The retention domain's endpoints: the policies, a preview that explains (computed afresh from the
graph, read-only), and the write endpoints (purge, exempt, restore), which publish commands and answer
202 with the command's status URL. A purge needs confirm = "purge"; a restore confirm = "restore"."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from schemas.events import CommandPayload, command_envelope
from schemas.events.retention import (
    PURGE_CONFIRM,
    RESTORE_CONFIRM,
    ApplyRetention,
    ExemptRecords,
    RestoreArchive,
)
from watchman.api.auth import Caller
from watchman.api.base import Backend, CurrentBackend, Problem

router = APIRouter(tags=["retention"])


class Accepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=500)


class PurgeRequest(_Request):
    policy: str = Field("", max_length=64, description="one policy ('' = all)")
    dry_run: StrictBool = False
    confirm: str = Field("", max_length=40, description=f'"{PURGE_CONFIRM}" (unless dry_run)')


class ExemptRequest(_Request):
    label: str = Field("", max_length=64)
    key: str = Field("", max_length=512)
    tag: str = Field("", max_length=64)
    from_ts: datetime | None = None
    to_ts: datetime | None = None
    exemption_reason: str = Field(min_length=1, max_length=500)


class RestoreRequest(_Request):
    archive: str = Field(min_length=1, max_length=300)
    confirm: str = Field("", max_length=40, description=f'"{RESTORE_CONFIRM}"')


def _publish(backend: Backend, payload: CommandPayload, body: _Request) -> Accepted:
    now = datetime.now(UTC)
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=backend.host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return Accepted(
        command_id=env.id, type=env.type, host=backend.host, status_url=f"/admin/commands/{env.id}"
    )


def _settings(backend: Backend) -> Any:
    from watchman.domains.retention import RetentionSettings

    settings = getattr(getattr(backend, "settings", None), "retention", None)
    if not isinstance(settings, RetentionSettings):
        raise HTTPException(503, "this process has no retention settings: ask the embedded daemon")
    return settings


@router.get("/admin/retention/policies")
def policies(caller: Caller, backend: CurrentBackend) -> dict[str, Any]:
    """The policies as configured (defaults filled in), the schedule and the exemptions of watchman.toml."""
    from watchman.retention import engine

    return engine.describe(_settings(backend))


@router.get("/admin/retention/preview", responses={400: {"model": Problem}})
def preview(
    caller: Caller,
    backend: CurrentBackend,
    policy: str = Query("", max_length=64),
    dry_run: bool = Query(True, description="always a preview: nothing is removed here"),
) -> dict[str, Any]:
    """Per policy: the records and bytes it would remove, the oldest and newest, and the records kept by
    each rule (restic's forget --dry-run reasons)."""
    from watchman.retention import engine

    s = _settings(backend)

    def query(cypher: str, params: Any) -> list[dict[str, Any]]:
        return backend.query(cypher, params, read_only=True).dicts()

    now = datetime.now(UTC)
    try:
        exempt = engine.exemptions(query, s)
        plans = [engine.plan(query, s, n, p, now, exempt).as_dict() for n, p in engine.policies(s, policy)]
    except engine.RetentionError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"now": now.isoformat(), "policies": plans}


@router.post("/admin/retention/purge", response_model=Accepted, status_code=202)
def purge(caller: Caller, body: PurgeRequest, backend: CurrentBackend) -> Accepted:
    """Apply the policies now (ApplyRetention); without dry_run it needs confirm = "purge"."""
    if not body.dry_run and body.confirm != PURGE_CONFIRM:
        raise HTTPException(400, f'a purge removes records: confirm with "{PURGE_CONFIRM}"')
    payload = ApplyRetention(
        issued_by=caller, reason=body.reason, policy=body.policy, dry_run=body.dry_run, confirm=body.confirm
    )
    return _publish(backend, payload, body)


@router.post("/admin/retention/exempt", response_model=Accepted, status_code=202)
def exempt(caller: Caller, body: ExemptRequest, backend: CurrentBackend) -> Accepted:
    """Exempt a record (label + key), tag a record (+ tag) or a date range (from_ts + to_ts), with reason."""
    payload = ExemptRecords(
        issued_by=caller,
        reason=body.reason,
        label=body.label,
        key=body.key,
        tag=body.tag,
        from_ts=body.from_ts,
        to_ts=body.to_ts,
        exemption_reason=body.exemption_reason,
    )
    return _publish(backend, payload, body)


@router.post("/admin/retention/restore", response_model=Accepted, status_code=202)
def restore(caller: Caller, body: RestoreRequest, backend: CurrentBackend) -> Accepted:
    """Bring an archive's records back (RestoreArchive); needs confirm = "restore"."""
    if body.confirm != RESTORE_CONFIRM:
        raise HTTPException(400, f'a restore writes records back: confirm with "{RESTORE_CONFIRM}"')
    return _publish(
        backend,
        RestoreArchive(issued_by=caller, reason=body.reason, archive=body.archive, confirm=body.confirm),
        body,
    )
