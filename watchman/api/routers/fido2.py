"""The FIDO2 domain's endpoints (the seed's /admin/security/*). Encrypt and decrypt publish commands for
the host that holds the key and answer 202 with the command's status URL: a decryption's status stays
`pending` while the executor waits (up to `timeout_seconds`) for the key's touch."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from projections.catalog import resolve
from schemas.events import CommandPayload, command_envelope
from schemas.events.fido2 import DecryptData, EncryptData, LockSecrets, UnlockSecrets, remove_phrase
from watchman.api.auth import Caller
from watchman.api.base import Backend, CurrentBackend, Problem, Rows, run_cypher

router = APIRouter(tags=["fido2"])


class Accepted(BaseModel):
    command_id: str
    type: str
    host: str
    status_url: str
    detail: str = ""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, max_length=255, description="the host with the key (default: this one)")
    idempotency_key: str | None = Field(None, max_length=200, description="the same key: the same command")
    reason: str = Field("", max_length=500)


class EncryptRequest(_Request):
    file_path: str = Field(min_length=1, max_length=4096, description="the file to encrypt (on that host)")
    label: str = Field("", max_length=200)
    remove_plaintext: StrictBool = False
    confirm: str = Field("", max_length=4300, description='for remove_plaintext: "remove <file_path>"')


class DecryptRequest(_Request):
    file_path: str = Field(min_length=1, max_length=4096, description="the .age file (its header beside it)")
    output_path: str = Field(min_length=1, max_length=4096, description="where the plaintext goes (new)")
    timeout_seconds: float = Field(30.0, gt=0, le=300, description="how long to wait for the touch")


def _publish(backend: Backend, payload: CommandPayload, body: _Request, detail: str = "") -> Accepted:
    now = datetime.now(UTC)
    host = body.host or backend.host
    if backend.deployment == "embedded" and host != backend.host:
        raise HTTPException(400, f"this embedded daemon acts on {backend.host!r} only, not {host!r}")
    key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
    env = command_envelope(payload, host=host, source="watchman.api", issued_at=now, dedup_key=key)
    backend.publish(env)
    return Accepted(
        command_id=env.id, type=env.type, host=host, status_url=f"/admin/commands/{env.id}", detail=detail
    )


@router.post("/admin/security/encrypt", response_model=Accepted, status_code=202,
             responses={400: {"model": Problem}})  # fmt: skip
def encrypt(caller: Caller, body: EncryptRequest, backend: CurrentBackend) -> Accepted:
    """Encrypt a file to every enrolled FIDO2 key and the recovery key (no touch needed)."""
    if body.remove_plaintext and body.confirm != remove_phrase(body.file_path):
        raise HTTPException(400, f"removing the plaintext needs confirm = {remove_phrase(body.file_path)!r}")
    cmd = EncryptData(issued_by=caller, reason=body.reason, file_path=body.file_path, label=body.label,
                      remove_plaintext=body.remove_plaintext, confirm=body.confirm)  # fmt: skip
    return _publish(backend, cmd, body)


@router.post("/admin/security/decrypt", response_model=Accepted, status_code=202)
def decrypt(caller: Caller, body: DecryptRequest, backend: CurrentBackend) -> Accepted:
    """Decrypt a file: the key must be touched within timeout_seconds (poll status_url for the outcome)."""
    cmd = DecryptData(issued_by=caller, reason=body.reason, file_path=body.file_path,
                      output_path=body.output_path, timeout_seconds=body.timeout_seconds)  # fmt: skip
    detail = f"touch the FIDO2 key on {body.host or backend.host} within {body.timeout_seconds:g} s"
    return _publish(backend, cmd, body, detail)


@router.get("/admin/security/encrypted", response_model=Rows, responses={400: {"model": Problem}})
def encrypted(
    caller: Caller,
    backend: CurrentBackend,
    type: Annotated[
        str, Query(pattern=r"^(any|file|secret|backup)$", description="file, secret, backup or any")
    ] = "any",
) -> Rows:
    """Everything encrypted to the FIDO2 keys (files, secrets, backup jobs) and the keys that open it."""
    cypher, params = resolve("encrypted-secrets", {"type": type}, datetime.now(UTC))
    return run_cypher(backend, cypher, params)


class UnlockRequest(_Request):
    timeout_seconds: float = Field(30.0, gt=0, le=300, description="how long to wait for the touch")


@router.post("/admin/security/unlock", response_model=Accepted, status_code=202)
def unlock(caller: Caller, body: UnlockRequest, backend: CurrentBackend) -> Accepted:
    """Unlock the daemon's FIDO2 secrets store until it stops: touch the key within timeout_seconds."""
    cmd = UnlockSecrets(issued_by=caller, reason=body.reason, timeout_seconds=body.timeout_seconds)
    return _publish(backend, cmd, body, f"touch the FIDO2 key on {body.host or backend.host}")


@router.post("/admin/security/lock", response_model=Accepted, status_code=202)
def lock(caller: Caller, backend: CurrentBackend, body: _Request | None = None) -> Accepted:
    """Lock the daemon's FIDO2 secrets store again (reading needs a touch)."""
    body = body or _Request()
    return _publish(backend, LockSecrets(issued_by=caller, reason=body.reason), body)
