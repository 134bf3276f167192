"""Commands: endpoints that never act themselves but publish a command for the host that acts, and the
outcome of a command (the audit trail)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import resolve
from schemas.events import RebuildGraph, TriggerScan, command_envelope
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, run_cypher

router = APIRouter(tags=["commands"])


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scanners: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="source names (substrings) to scan; empty = all", max_length=50
    )
    host: str | None = Field(
        None, description="the host to scan (default: this process's host)", max_length=255
    )
    idempotency_key: str | None = Field(
        None,
        description="the same key gives the same command id: a retried request is one command",
        max_length=200,
    )
    reason: str = Field("", max_length=500)


class RebuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Literal[True] = Field(
        description="must be true: the graph is dropped and rebuilt from the event log (queries see the old "
        "graph until the new one is swapped in)"
    )
    idempotency_key: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=500)


class CommandAccepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str


class CommandState(BaseModel):
    command_id: str
    status: Literal["pending", "succeeded", "failed", "rejected"]
    type: str | None = None
    host: str | None = None
    detail: str | None = None
    issued_by: str | None = None
    finished_at: str | None = None


@router.post(
    "/admin/scan",
    response_model=CommandAccepted,
    status_code=202,
)
def scan(caller: Caller, backend: CurrentBackend, body: ScanRequest | None = None) -> CommandAccepted:
    """Trigger the periodic scanners now: publishes a TriggerScan command; poll its status_url."""
    body = body or ScanRequest()
    now = datetime.now(UTC)
    host = body.host or backend.host
    if backend.deployment == "embedded" and host != backend.host:
        raise HTTPException(400, f"this embedded daemon observes {backend.host!r} only, not {host!r}")
    payload = TriggerScan(issued_by=caller, reason=body.reason, scanners=tuple(body.scanners))
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return CommandAccepted(
        command_id=env.id, type=env.type, host=host, status_url=f"/admin/commands/{env.id}"
    )


@router.post("/admin/replay", response_model=CommandAccepted, status_code=202)
def replay(caller: Caller, body: RebuildRequest, backend: CurrentBackend) -> CommandAccepted:
    """Rebuild the graph from the event log (destructive: needs {"confirm": true}); a RebuildGraph
    command for the process that owns the graph (the embedded daemon)."""
    now = datetime.now(UTC)
    payload = RebuildGraph(issued_by=caller, reason=body.reason)
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=backend.host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return CommandAccepted(
        command_id=env.id, type=env.type, host=backend.host, status_url=f"/admin/commands/{env.id}"
    )


@router.get(
    "/admin/commands/{command_id}",
    response_model=CommandState,
    responses={404: {"model": Problem}},
)
def command(
    command_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="the id /admin/scan returned")],
    caller: Caller,
    backend: CurrentBackend,
) -> CommandState:
    """The outcome of a command: pending until its host has run it."""
    cypher, params = resolve("command-status", {"id": command_id}, datetime.now(UTC))
    rows = run_cypher(backend, cypher, params).rows
    if rows:
        row = rows[0]
        return CommandState(
            command_id=command_id,
            status=row["status"],
            type=row["type"],
            host=row["host"],
            detail=row["detail"],
            issued_by=row["issued_by"],
            finished_at=row["finished_at"],
        )
    if backend.issued(command_id):
        return CommandState(command_id=command_id, status="pending")
    raise HTTPException(404, f"no command {command_id}")
