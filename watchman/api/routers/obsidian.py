"""The Obsidian vault sync domain's endpoints: sync a vault now (a command), its status and its history."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import resolve
from schemas.events import command_envelope
from schemas.events.obsidian import SyncObsidianVault
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["obsidian"])
VAULT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(
        None, description="the host that keeps the vault (default: this process's host)", max_length=255
    )
    idempotency_key: str | None = Field(
        None,
        description="the same key gives the same command id: a retried request is one command",
        max_length=200,
    )
    reason: str = Field("", max_length=500)


class SyncAccepted(BaseModel):
    command_id: str
    type: str
    host: str
    vault_id: str
    status_url: str


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vault_id: str = Field("", max_length=100, pattern=r"^$|" + VAULT_ID, description="'' = every vault")
    days: int = Field(7, ge=1, le=36_500, description="look back this many days")
    limit: int = Field(1000, ge=1, le=10_000)


class History(BaseModel):
    events: Rows
    notes_added_per_day: Rows


@router.post(
    "/admin/obsidian/sync/{vault_id}",
    response_model=SyncAccepted,
    status_code=202,
    responses={400: {"model": Problem}},
)
def sync(
    vault_id: Annotated[str, Path(pattern=VAULT_ID, description="the vault's name ([[obsidian.vaults]])")],
    caller: Caller,
    backend: CurrentBackend,
    body: SyncRequest | None = None,
) -> SyncAccepted:
    """Sync a vault now (commit, pull, push, media): publishes a SyncObsidianVault command for this host;
    poll its status_url. An unknown vault is the command's `rejected` outcome."""
    body = body or SyncRequest()
    now = datetime.now(UTC)
    host = body.host or backend.host
    if backend.deployment == "embedded" and host != backend.host:
        raise HTTPException(400, f"this embedded daemon keeps {backend.host!r}'s vaults only, not {host!r}'s")
    payload = SyncObsidianVault(issued_by=caller, reason=body.reason, vault=vault_id)
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return SyncAccepted(
        command_id=env.id,
        type=env.type,
        host=host,
        vault_id=vault_id,
        status_url=f"/admin/commands/{env.id}",
    )


@router.get("/admin/obsidian/status", response_model=Rows, responses={400: {"model": Problem}})
def status(caller: Caller, backend: CurrentBackend) -> Rows:
    """Every vault: last sync, sync status, open conflicts, notes, files and size."""
    cypher, params = resolve("obsidian-last-sync", {}, datetime.now(UTC))
    return run_cypher(backend, cypher, params)


@router.get("/admin/obsidian/history", response_model=History, responses={400: {"model": Problem}})
def history(caller: Caller, q: Annotated[HistoryQuery, Query()], backend: CurrentBackend) -> History:
    """Sync events (newest first) and notes added per day, over the last `days`, for one vault or all."""
    if q.vault_id and not q.vault_id.strip():
        raise HTTPException(400, "vault_id is empty")
    now = datetime.now(UTC)
    params: dict[str, str | int] = {"vault": q.vault_id, "days": q.days, "limit": q.limit}
    cypher, p = resolve("obsidian-sync-history", params, now)
    events = run_cypher(backend, cypher, p)
    cypher, p = resolve("obsidian-notes-added", {"vault": q.vault_id, "days": q.days}, now)
    return History(events=events, notes_added_per_day=run_cypher(backend, cypher, p))
