"""CI runners: the runners of the hosts, their jobs, and registering or removing one (as commands)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from projections.catalog import resolve
from schemas.events.runners import RegisterRunner, RemoveRunner
from watchman.api.auth import Caller
from watchman.api.base import CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["runners"])

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="a [[git_runners.providers]] name", max_length=64, pattern=_NAME)
    name: str = Field(description="the new runner's name", max_length=64, pattern=_NAME)
    labels: list[Annotated[str, Field(max_length=64, pattern=_NAME)]] = Field(
        default_factory=list, max_length=20
    )
    ephemeral: StrictBool = Field(False, description="GitHub: a just-in-time runner that takes one job")
    host: str | None = Field(None, description="the host to register on (default: this one)", max_length=255)
    idempotency_key: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=500)


class RemoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(max_length=64, pattern=_NAME)
    name: str = Field(max_length=64, pattern=_NAME)
    confirm: Literal[True] = Field(description="must be true: the runner is unregistered from its provider")
    host: str | None = Field(None, max_length=255)
    idempotency_key: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=500)


class CommandAccepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str


@router.get("/admin/runners", response_model=Rows, responses={400: {"model": Problem}})
def runners(caller: Caller, backend: CurrentBackend) -> Rows:
    """Every CI runner known: provider, repository, status (online, busy, offline, removed), version,
    registration time, last job and jobs completed."""
    cypher, params = resolve("runners", {}, datetime.now(UTC))
    return run_cypher(backend, cypher, params)


@router.get("/admin/runners/jobs", response_model=Rows, responses={400: {"model": Problem}})
def jobs(
    caller: Caller,
    backend: CurrentBackend,
    days: Annotated[int, Query(ge=0, le=100_000, description="look back this many days")] = 7,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Rows:
    """The CI jobs of the last `days` days, newest first."""
    cypher, params = resolve("ci-jobs", {"days": days, "limit": limit}, datetime.now(UTC))
    return run_cypher(backend, cypher, params)


def _publish(
    backend: CurrentBackend, payload: RegisterRunner | RemoveRunner, host: str | None, key: str | None
) -> CommandAccepted:
    from schemas.events import command_envelope

    now = datetime.now(UTC)
    target = host or backend.host
    if backend.deployment == "embedded" and target != backend.host:
        raise HTTPException(400, f"this embedded daemon acts on {backend.host!r} only, not {target!r}")
    dedup = key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=target, source="watchman.api", issued_at=now, dedup_key=dedup)
    backend.publish(env)
    return CommandAccepted(
        command_id=env.id, type=env.type, host=target, status_url=f"/admin/commands/{env.id}"
    )


@router.post("/admin/runners/register", response_model=CommandAccepted, status_code=202)
def register(caller: Caller, body: RegisterRequest, backend: CurrentBackend) -> CommandAccepted:
    """Register a runner with a configured provider: publishes a RegisterRunner command for the host;
    poll its status_url. The provider's API token comes from the host's secrets, never from the request."""
    payload = RegisterRunner(
        issued_by=caller,
        reason=body.reason,
        provider=body.provider,
        name=body.name,
        labels=tuple(body.labels),
        ephemeral=body.ephemeral,
    )
    return _publish(backend, payload, body.host, body.idempotency_key)


@router.post("/admin/runners/remove", response_model=CommandAccepted, status_code=202)
def remove(caller: Caller, body: RemoveRequest, backend: CurrentBackend) -> CommandAccepted:
    """Unregister a runner (destructive: needs {"confirm": true}); a RemoveRunner command for the host."""
    payload = RemoveRunner(
        issued_by=caller, reason=body.reason, provider=body.provider, name=body.name, confirm=True
    )
    return _publish(backend, payload, body.host, body.idempotency_key)
