"""Operating a process: liveness (no token) and its Prometheus metrics (admin or metrics token)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from watchman.api.auth import MetricsReader
from watchman.api.base import VERSION, CurrentBackend, Problem

router = APIRouter(tags=["operate"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    role: str
    host: str
    deployment: str
    version: str
    detail: dict[str, Any] = Field(default_factory=dict)


@router.get("/health", response_model=Health)
def health(backend: CurrentBackend) -> Health:
    """Liveness and the basics; the only endpoint without a token (for health checks)."""
    detail = backend.health()
    state: Literal["ok", "degraded"] = "degraded" if detail.get("degraded") else "ok"
    return Health(
        status=state,
        role=backend.role,
        host=backend.host,
        deployment=backend.deployment,
        version=VERSION,
        detail=detail,
    )


@router.get(
    "/admin/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "metrics"},
        401: {"content": {"application/json": {"schema": Problem.model_json_schema()}}},
    },
)
def metrics(reader: MetricsReader, backend: CurrentBackend) -> Response:
    """Prometheus metrics of this process (text exposition format). The metrics token
    (<data_dir>/metrics.token) is enough here, and only here."""
    return Response(backend.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")
