"""The admin REST API (FastAPI): health, metrics, queries, package history and commands, over HTTP.

Every process serves it (the embedded daemon, and the distributed producer, worker and projector),
bound to 127.0.0.1 unless configured otherwise. Every endpoint but /health needs the bearer token
kept in a 0600 file beside the data (`watchman token rotate` replaces it; a running process picks
the new one up on the next request). Write endpoints never act themselves: they publish a command
onto the command topic and answer 202 with its id, whose outcome /admin/commands/{id} reports.
OpenAPI is served at /openapi.json, the interactive docs at /docs.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from watchman.api import limits
from watchman.api.auth import TokenFile
from watchman.api.base import VERSION, Backend, Problem, Unsupported
from watchman.api.routers import (
    backups,
    commands,
    configfiles,
    fido2,
    mcp,
    obsidian,
    operate,
    packages,
    query,
    resources,
    retention,
    runners,
    timetravel,
)
from watchman.api.server import ApiServer

__all__ = ["VERSION", "ApiServer", "Backend", "TokenFile", "Unsupported", "create_app"]

# One line per router: a domain with endpoints adds its APIRouter here.
ROUTERS = (
    operate.router,
    query.router,
    packages.router,
    commands.router,
    mcp.router,
    obsidian.router,
    resources.router,
    configfiles.router,
    backups.router,
    retention.router,
    runners.router,
    fido2.router,
    timetravel.router,
)


def create_app(
    backend: Backend,
    token: TokenFile,
    metrics_token: TokenFile | None = None,
    *,
    max_body: int = limits.DEFAULT_MAX_BODY,
) -> FastAPI:
    app = FastAPI(
        title="The Watchman admin API",
        version=VERSION,
        description=__doc__,
        responses={
            400: {"model": Problem},
            401: {"model": Problem},
            413: {"model": Problem},
            422: {"model": limits.ValidationProblem},
            503: {"model": Problem},
        },
        dependencies=[Depends(limits.known_query_only)],
        docs_url=None,  # served from local files by watchman/api/limits.py (this host may have no internet)
        redoc_url=None,
    )
    limits.install(app, token=token, metrics_token=metrics_token, max_body=max_body)
    app.state.backend = backend
    app.state.token = token
    app.state.metrics_token = metrics_token

    @app.exception_handler(Unsupported)
    async def _unsupported(request: Request, exc: Unsupported) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    for router in ROUTERS:
        app.include_router(router)
    return app
