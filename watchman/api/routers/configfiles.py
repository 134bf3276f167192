"""Config files: the tracked files, a file's history and diff, what is invalid or drifted (reads), and
validate, rollback, apply and pin-baseline (commands for the host that keeps the files)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from projections.catalog import resolve
from schemas.events import command_envelope
from schemas.events.commands import CommandPayload
from schemas.events.configfiles import ApplyDesiredConfig, PinConfigBaseline, RollbackConfig, ValidateConfig
from watchman.api.auth import Caller
from watchman.api.base import Backend, CurrentBackend, Problem, Rows, Unsupported, run_cypher

router = APIRouter(tags=["config"])

_PathParam = Annotated[
    str, Query(min_length=2, max_length=4096, pattern=r"^/", description="the file's path")
]


class CommandAccepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=500)


class ValidateRequest(_Body):
    paths: list[Annotated[str, Field(min_length=2, max_length=4096, pattern=r"^/")]] = Field(
        default_factory=list, max_length=100, description="files to check (empty: every tracked file)"
    )


class RollbackRequest(_Body):
    path: str = Field(min_length=2, max_length=4096, pattern=r"^/")
    rev: str = Field(
        min_length=4,
        max_length=64,
        pattern=r"^[0-9a-fA-F]+$|^HEAD(~[0-9]{1,4})?$",
        description="a versions-repo commit (from /admin/config/history), or HEAD~N",
    )
    confirm: Literal[True] = Field(description="must be true: the file is rewritten and its service reloaded")


class ApplyRequest(_Body):
    path: str = Field(min_length=2, max_length=4096, pattern=r"^/")
    confirm: Literal[True] = Field(description="must be true: the file is rewritten to its desired state")


class Diff(BaseModel):
    path: str
    from_rev: str | None
    to: str
    diff: str


def _publish(backend: Backend, payload: CommandPayload, key: str | None) -> CommandAccepted:
    now = datetime.now(UTC)
    dedup = key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=backend.host, source="watchman.api", issued_at=now, dedup_key=dedup)
    backend.publish(env)
    return CommandAccepted(
        command_id=env.id, type=env.type, host=backend.host, status_url=f"/admin/commands/{env.id}"
    )


def _named(backend: Backend, name: str, params: dict[str, Any]) -> Rows:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return run_cypher(backend, cypher, p)


@router.get("/admin/config/files", response_model=Rows)
def files(
    caller: Caller,
    backend: CurrentBackend,
    app: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Rows:
    """The tracked config files with their hash, owner, mode, application, validity and drift."""
    where = "c.state = $present" + (" AND c.app = $app" if app is not None else "")
    cypher = (
        f"MATCH (c:ConfigFile) WHERE {where} "
        "RETURN c.path AS path, c.app AS app, c.owner AS owner, c.group_name AS `group`, c.mode AS mode, "
        "c.sha256 AS sha256, c.size AS size, c.secret AS secret, c.valid AS valid, c.drifted AS drifted, "
        "c.package AS package, c.last_changed AS last_changed ORDER BY path LIMIT $limit"
    )
    params: dict[str, Any] = {"present": "present", "limit": limit}
    if app is not None:
        params["app"] = app
    return run_cypher(backend, cypher, params)


@router.get("/admin/config/history", response_model=Rows)
def history(caller: Caller, backend: CurrentBackend, path: _PathParam) -> Rows:
    """Every recorded version of one file, newest first (hash, diff stats, commit, cause)."""
    return _named(backend, "config-history", {"path": path})


@router.get("/admin/config/invalid", response_model=Rows)
def invalid(caller: Caller, backend: CurrentBackend) -> Rows:
    """The files whose last check refused them, with the checker's message."""
    return _named(backend, "configs-invalid", {})


@router.get("/admin/config/drift", response_model=Rows)
def drift(caller: Caller, backend: CurrentBackend) -> Rows:
    """The files that differ from their desired state, with the last drift event's summary."""
    cypher = (
        "MATCH (e:Event)-[:ACTED_ON]->(c:ConfigFile) WHERE c.drifted = $yes AND e.type = $drifted "
        "RETURN c.path AS path, c.desired_from AS desired_from, max(e.ts) AS since ORDER BY path"
    )
    return run_cypher(backend, cypher, {"yes": True, "drifted": "ConfigDrifted"})


@router.get("/admin/config/diff", response_model=Diff, responses={404: {"model": Problem}})
def diff(
    caller: Caller,
    backend: CurrentBackend,
    path: _PathParam,
    rev: Annotated[
        str | None, Query(max_length=64, pattern=r"^[0-9a-fA-F]{4,64}$|^HEAD(~[0-9]{1,4})?$")
    ] = None,
) -> Diff:
    """The diff of a file: from `rev` to the file now, or (no rev) the change its last version made.
    Served by the process that keeps the versions repository (the embedded daemon)."""
    settings = getattr(backend, "settings", None)
    if settings is None:
        raise Unsupported(
            "the versions repository is on the producing host: run `watchman config diff` there"
        )
    from watchman.domains.configfiles import DiffUnavailable, file_diff

    try:
        from_rev, to, text = file_diff(settings, path, rev)
    except DiffUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    return Diff(path=path, from_rev=from_rev, to=to, diff=text)


@router.post("/admin/config/validate", response_model=CommandAccepted, status_code=202)
def validate(caller: Caller, backend: CurrentBackend, body: ValidateRequest | None = None) -> CommandAccepted:
    """Run the application checkers now (ValidateConfig); the results become ConfigValidated/ConfigInvalid."""
    body = body or ValidateRequest()
    payload = ValidateConfig(issued_by=caller, reason=body.reason, paths=tuple(body.paths))
    return _publish(backend, payload, body.idempotency_key)


@router.post("/admin/config/rollback", response_model=CommandAccepted, status_code=202)
def rollback(caller: Caller, body: RollbackRequest, backend: CurrentBackend) -> CommandAccepted:
    """Put back a recorded version (needs {"confirm": true}): validated, written atomically, the owning
    service reloaded and health-checked, reverted automatically when it is not healthy."""
    payload = RollbackConfig(issued_by=caller, reason=body.reason, path=body.path, rev=body.rev, confirm=True)
    return _publish(backend, payload, body.idempotency_key)


@router.post("/admin/config/apply", response_model=CommandAccepted, status_code=202)
def apply(caller: Caller, body: ApplyRequest, backend: CurrentBackend) -> CommandAccepted:
    """Resolve drift by writing the desired state (needs {"confirm": true}; same safety as a rollback)."""
    payload = ApplyDesiredConfig(issued_by=caller, reason=body.reason, path=body.path, confirm=True)
    return _publish(backend, payload, body.idempotency_key)


@router.post("/admin/config/baseline", response_model=CommandAccepted, status_code=202)
def baseline(caller: Caller, backend: CurrentBackend, body: _Body | None = None) -> CommandAccepted:
    """Pin the files as they are now as the desired state (drift is then measured against it)."""
    body = body or _Body()
    return _publish(backend, PinConfigBaseline(issued_by=caller, reason=body.reason), body.idempotency_key)
