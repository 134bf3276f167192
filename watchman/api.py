"""The admin REST API (FastAPI): health, metrics, queries, package history and commands, over HTTP.

Every process serves it (the embedded daemon, and the distributed producer, worker and projector),
bound to 127.0.0.1 unless configured otherwise. Every endpoint but /health needs the bearer token
kept in a 0600 file beside the data (`watchman token rotate` replaces it; a running process picks
the new one up on the next request). Write endpoints never act themselves: they publish a command
onto the command topic and answer 202 with its id, whose outcome /admin/commands/{id} reports.
OpenAPI is served at /openapi.json, the interactive docs at /docs.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import pathlib
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from projections.catalog import QUERIES, CatalogError, ParamOutOfRange, resolve
from projections.stores.base import QueryRefused, QueryResult
from schemas.envelope import Envelope
from schemas.events import RebuildGraph, TriggerScan, command_envelope
from watchman import api_limits
from watchman.api_limits import check_integers

log = logging.getLogger(__name__)

VERSION = "0.1.0"


# -- the token ---------------------------------------------------------------------------------


class TokenFile:
    """The bearer token in a 0600 file: created on first use, re-read when the file changes."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None

    def ensure(self) -> str:
        """The token, created if there is none. Processes sharing a data directory may start at
        once: the file is linked into place only if absent, so exactly one token wins."""
        with self._lock:
            if not self.path.exists():
                self._write(secrets.token_urlsafe(32), replace=False)
            return self._read()

    def rotate(self) -> str:
        with self._lock:
            self._write(secrets.token_urlsafe(32))
            return self._read()

    def current(self) -> str:
        with self._lock:
            return self._read()

    def _read(self) -> str:
        st = self.path.stat()
        if self._cached is None or self._cached[0] != st.st_mtime_ns:
            self._cached = (st.st_mtime_ns, self.path.read_text().strip())
        return self._cached[1]

    def _write(self, token: str, *, replace: bool = True) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(token + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            if replace:
                os.replace(tmp, self.path)  # atomic: a reader sees the old token or the new one
            else:
                with contextlib.suppress(FileExistsError):  # another process made it first: theirs wins
                    os.link(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._cached = None


# -- what a process offers the API --------------------------------------------------------------


class Unsupported(RuntimeError):
    """This process does not serve that (e.g. a worker has no graph): the message says who does."""


class Backend(Protocol):
    role: str
    host: str
    deployment: str

    def health(self) -> dict[str, Any]: ...

    def metrics(self) -> bytes: ...

    def query(self, cypher: str, params: Mapping[str, Any], *, read_only: bool) -> QueryResult: ...

    def publish(self, command: Envelope) -> None: ...

    def issued(self, command_id: str) -> bool: ...


# -- request and response models ----------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    role: str
    host: str
    deployment: str
    version: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Rows(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]


class QueryRequest(BaseModel):
    """A named query (see GET /query) with its parameters, or raw Cypher with read_only=true."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="a named query from the catalog", max_length=100)
    cypher: str | None = Field(None, description="raw Cypher; needs read_only=true", max_length=20_000)
    params: dict[str, Any] = Field(
        default_factory=dict, description="JSON values, passed as Cypher parameters"
    )
    read_only: bool = Field(False, description="must be true for raw Cypher; the store enforces it")

    @field_validator("params")
    @classmethod
    def _integers_in_range(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_integers(v)  # type: ignore[no-any-return]


class NamedQueryInfo(BaseModel):
    name: str
    question: str
    params: dict[str, str]


class PackagesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(7, ge=1, le=36_500, description="look back this many days")
    name: str = Field("", max_length=256, description="exact package name ('' = any)")
    action: Literal["", "install", "upgrade", "downgrade", "reinstall", "remove", "purge"] = ""
    source: Literal["", "apt", "dpkg", "dnf", "dnf-rpm", "dnf5", "brew"] = ""
    limit: int = Field(1000, ge=1, le=10_000)


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


class Problem(BaseModel):
    detail: str


# -- the app ------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="the token in <data_dir>/api.token")


def authorised(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token must match the token file; returns who is calling, for the audit trail."""
    expected: str = request.app.state.token.current()
    given = credentials.credentials if credentials is not None else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token (see <data_dir>/api.token; `watchman token show`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Who issued a command, without the secret: a short fingerprint of the token.
    return "api:" + hmac.new(b"watchman", expected.encode(), "sha256").hexdigest()[:8]


Caller = Annotated[str, Depends(authorised)]


def _matches(given: str, token: TokenFile | None) -> bool:
    if token is None or not given:
        return False
    try:
        expected = token.current()
    except FileNotFoundError:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def metrics_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """/admin/metrics takes the admin token or the metrics token: a scraper holding the latter can
    read the metrics and nothing else (no queries, no commands)."""
    given = credentials.credentials if credentials is not None else ""
    if _matches(given, request.app.state.token) or _matches(given, request.app.state.metrics_token):
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or wrong bearer token (<data_dir>/metrics.token or api.token; `watchman token show`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


MetricsReader = Annotated[None, Depends(metrics_reader)]


def create_app(
    backend: Backend,
    token: TokenFile,
    metrics_token: TokenFile | None = None,
    *,
    max_body: int = api_limits.DEFAULT_MAX_BODY,
) -> FastAPI:
    app = FastAPI(
        title="The Watchman admin API",
        version=VERSION,
        description=__doc__,
        responses={
            400: {"model": Problem},
            401: {"model": Problem},
            413: {"model": Problem},
            503: {"model": Problem},
        },
        docs_url=None,  # served from local files by api_limits (this host may have no internet)
        redoc_url=None,
    )
    api_limits.install(app, token=token, metrics_token=metrics_token, max_body=max_body)
    app.state.token = token
    app.state.metrics_token = metrics_token

    @app.exception_handler(Unsupported)
    async def _unsupported(request: Request, exc: Unsupported) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/health", response_model=Health, tags=["operate"])
    def health() -> Health:
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

    @app.get(
        "/admin/metrics",
        response_class=Response,
        tags=["operate"],
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "metrics"},
            401: {"content": {"application/json": {"schema": Problem.model_json_schema()}}},
        },
    )
    def metrics(reader: MetricsReader) -> Response:
        """Prometheus metrics of this process (text exposition format). The metrics token
        (<data_dir>/metrics.token) is enough here, and only here."""
        return Response(backend.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/query", response_model=list[NamedQueryInfo], tags=["query"])
    def named_queries(caller: Caller) -> list[NamedQueryInfo]:
        """The catalog of named questions and their parameters."""
        return [
            NamedQueryInfo(
                name=q.name,
                question=q.question,
                params={p.name: f"{p.type.__name__} (default {p.default!r}): {p.help}" for p in q.params},
            )
            for q in QUERIES.values()
        ]

    @app.post("/query", response_model=Rows, tags=["query"], responses={400: {"model": Problem}})
    def run_query(body: QueryRequest, caller: Caller) -> Rows:
        """Run a named query, or raw Cypher when read_only is true (the graph store refuses writes)."""
        if (body.name is None) == (body.cypher is None):
            raise HTTPException(400, "give exactly one of 'name' (a named query) or 'cypher'")
        if body.name is not None:
            try:
                cypher, params = resolve(body.name, _catalog_params(body.params), datetime.now(UTC))
            except ParamOutOfRange as exc:  # a 422 shaped like pydantic's, as the OpenAPI says
                error = {"type": "value_error", "loc": ("body", "params"), "msg": str(exc)}
                raise RequestValidationError([error]) from None
            except CatalogError as exc:
                raise HTTPException(400, str(exc)) from None
        else:
            if not body.read_only:
                raise HTTPException(
                    400, "raw Cypher needs read_only=true (the admin API never writes the graph)"
                )
            cypher, params = str(body.cypher), dict(body.params)
        return _run(backend, cypher, params)

    @app.get("/admin/packages", response_model=Rows, tags=["query"], responses={400: {"model": Problem}})
    def packages(caller: Caller, q: Annotated[PackagesQuery, Query()]) -> Rows:
        """Package history, newest first, filtered by days, name, action and source (unknown parameters
        are refused, so a typo such as ?day=3 is an error, not a silent default)."""
        cypher, params = resolve("package-changes", q.model_dump(), datetime.now(UTC))
        return _run(backend, cypher, params)

    @app.post(
        "/admin/scan",
        response_model=CommandAccepted,
        status_code=202,
        tags=["commands"],
    )
    def scan(caller: Caller, body: ScanRequest | None = None) -> CommandAccepted:
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

    @app.post("/admin/replay", response_model=CommandAccepted, status_code=202, tags=["commands"])
    def replay(caller: Caller, body: RebuildRequest) -> CommandAccepted:
        """Rebuild the graph from the event log (destructive: needs {"confirm": true}); a RebuildGraph
        command for the process that owns the graph (the embedded daemon)."""
        now = datetime.now(UTC)
        payload = RebuildGraph(issued_by=caller, reason=body.reason)
        key = body.idempotency_key or f"{now.isoformat()}/{secrets.token_hex(4)}"
        env = command_envelope(
            payload, host=backend.host, source="watchman.api", issued_at=now, dedup_key=key
        )
        backend.publish(env)
        return CommandAccepted(
            command_id=env.id, type=env.type, host=backend.host, status_url=f"/admin/commands/{env.id}"
        )

    @app.get(
        "/admin/commands/{command_id}",
        response_model=CommandState,
        tags=["commands"],
        responses={404: {"model": Problem}},
    )
    def command(
        command_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="the id /admin/scan returned")],
        caller: Caller,
    ) -> CommandState:
        """The outcome of a command: pending until its host has run it."""
        cypher, params = resolve("command-status", {"id": command_id}, datetime.now(UTC))
        rows = _run(backend, cypher, params).rows
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

    return app


def _catalog_params(params: Mapping[str, Any]) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = int(v) if isinstance(v, bool | int) else str(v)
    return out


def _run(backend: Backend, cypher: str, params: Mapping[str, Any]) -> Rows:
    from neo4j.exceptions import ClientError

    from watchman.daemon import jsonable

    try:
        result = backend.query(cypher, params, read_only=True)
    except QueryRefused as exc:  # outside the allow-list, or a write in a read-only query
        raise HTTPException(400, str(exc)) from None
    except Unsupported:
        raise
    except ClientError as exc:  # Neo4j: a syntax or type error in the caller's Cypher
        raise HTTPException(400, f"query failed: {exc.message}") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # LadybugDB: Cypher errors are RuntimeError
        raise HTTPException(400, f"query failed: {exc}") from None
    return Rows(
        columns=result.columns,
        rows=[dict(zip(result.columns, jsonable(row), strict=True)) for row in result.rows],
    )


# -- serving ------------------------------------------------------------------------------------


class ApiServer:
    """uvicorn in a background thread of the process it reports on."""

    def __init__(
        self,
        app: FastAPI,
        listen: str,
        url_file: pathlib.Path | None = None,
        *,
        allow_remote: bool = False,
    ) -> None:
        """`url_file` gets the URL it listens on while it runs (port 0 picks any free port). An address
        beyond loopback needs `allow_remote` (RemoteListenRefused otherwise)."""
        import uvicorn

        from watchman.private_files import check_listen

        self.url_file = url_file
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"api_listen wants HOST:PORT, got {listen!r}")
        check_listen(listen, allow_remote=allow_remote)
        self.listen = listen
        config = uvicorn.Config(
            app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self.url = ""
        self._thread = threading.Thread(target=self._server.run, name="watchman-api", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"the admin API could not listen on {self.listen} (is the port in use?)")
            if time.monotonic() > deadline:
                raise OSError(f"the admin API did not start on {self.listen} within {timeout:.0f} s")
            time.sleep(0.02)
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        if self.url_file is not None:
            self.url_file.write_text(self.url + "\n")
        log.info("admin API on %s (OpenAPI at %s/docs)", self.url, self.url)

    def stop(self) -> None:
        if self.url_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.url_file.unlink()
        self._server.should_exit = True
        self._thread.join(timeout=5)
