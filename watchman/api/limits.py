"""The admin API's front door: the token before the body, a cap on bodies, short 422s, local /docs.

An ASGI middleware in front of every route, so nothing downstream (FastAPI reading a JSON body, a new
router) can read a byte of an unauthenticated or oversized request: a 200 MB body without a token is
answered 401 from its headers alone, and a body over `api_max_body_bytes` 413 (from Content-Length, or
as soon as a chunked body passes the cap). The routes keep their own token checks too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from watchman.api.auth import Token, matches
from watchman.api.base import FREE_QUERY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1 << 20
# Paths anyone may read: liveness and the API's own description.
PUBLIC = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"})
DOCS_ASSETS = "/docs/assets"
METRICS = "/admin/metrics"
# How much of a rejected input a 422 shows.
ECHO_LIMIT = 200
INT64 = (-(1 << 63), (1 << 63) - 1)


async def _answer(
    send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is never read: do not reuse the socket
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Limits:
    """Token first, then the size cap; both before the app reads anything of the body."""

    def __init__(self, app: ASGIApp, *, token: Token, metrics_token: Token | None, max_body: int) -> None:
        self.app, self.token, self.metrics_token, self.max_body = app, token, metrics_token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if path not in PUBLIC and not path.startswith(DOCS_ASSETS + "/"):
            given = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, credential = given.partition(" ")
            credential = credential.strip() if scheme.lower() == "bearer" else ""
            allowed = matches(credential, self.token) or (
                path == METRICS and matches(credential, self.metrics_token)
            )
            if not allowed:
                await _answer(
                    send,
                    401,
                    "missing or wrong bearer token (see <data_dir>/api.token; `watchman token show`)",
                    ((b"www-authenticate", b"Bearer"),),
                )
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, 400, "bad Content-Length")
                return
            if declared > self.max_body:
                await _answer(send, 413, self._too_large())
                return
        received = 0
        started = rejected = False

        async def capped_receive() -> Message:
            # FastAPI turns an exception raised while it reads the body into a 400: so over the cap the
            # 413 is sent from here, and the app is told the client left (its answer is dropped).
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    rejected = True
                    if not started:
                        await _answer(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except Exception:
            if not rejected:
                raise

    def _too_large(self) -> str:
        return f"request body over {self.max_body:,} bytes (api_max_body_bytes)"


def _short(value: Any) -> Any:
    """A rejected input as a 422 shows it: the start of it and its size, never all of a large one."""
    text = json.dumps(jsonable_encoder(value), default=str)  # not orjson: integers beyond 64 bits
    if len(text) <= ECHO_LIMIT:
        return value
    return f"{text[:ECHO_LIMIT]}… ({len(text):,} characters)"


async def short_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for original in exc.errors():
        error = dict(original)
        if "input" in error:
            error["input"] = _short(error["input"])
        if "ctx" in error:
            error["ctx"] = _short(error["ctx"])
        errors.append(error)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


_QUERY_NAMES: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


class ValidationProblem(BaseModel):
    """A 422: what was wrong with the request, one entry per problem (FastAPI's shape, inputs shortened)."""

    detail: list[dict[str, Any]]


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return origin is Union and any(_is_sequence(a) for a in get_args(annotation))


def _query_names(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    """The query parameters a route declares, through its dependencies and parameter models, and
    those of them that take a list (may be given more than once)."""
    cached = _QUERY_NAMES.get(id(route))
    if cached is not None:
        return cached
    names: set[str] = set()
    lists: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        stack.extend(dependant.dependencies)
        for field in dependant.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                for n, f in model.model_fields.items():
                    names.add(f.alias or n)
                    if _is_sequence(f.annotation):
                        lists.add(f.alias or n)
            else:
                names.add(field.alias)
                if _is_sequence(model):
                    lists.add(field.alias)
    _QUERY_NAMES[id(route)] = found = (frozenset(names), frozenset(lists))
    return found


def known_query_only(request: Request) -> None:
    """Every route refuses query parameters it does not declare (a misspelt `limt=5` would otherwise be
    ignored in silence), and a single-valued one given twice (which of them would count?): 422, as
    for any other invalid input."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or (route.openapi_extra or {}).get(FREE_QUERY):
        return
    names, lists = _query_names(route)
    problems = []
    takes = ", ".join(sorted(names)) or "none"
    for k in dict.fromkeys(request.query_params):
        if k not in names:
            msg = f"unknown query parameter (this endpoint takes: {takes})"
        elif k not in lists and len(request.query_params.getlist(k)) > 1:
            msg = "given more than once; it takes one value"
        else:
            continue
        problems.append(
            {"type": "extra_forbidden", "loc": ("query", k), "msg": msg, "input": request.query_params.get(k)}
        )
    if problems:
        raise RequestValidationError(problems)


def swagger_assets() -> Path | None:
    """Swagger UI's files from the swagger-ui-bundle-v2 package (None when it is not installed)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").exists() else None


def install(app: FastAPI, *, token: Token, metrics_token: Token | None, max_body: int) -> None:
    """Wire the limits, the short 422s and the local /docs into an app made with docs_url=None."""
    app.add_exception_handler(RequestValidationError, short_validation_error)
    assets = swagger_assets()
    if assets is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:  # a build without the package: point at the description, load nothing
            return HTMLResponse(
                "<!doctype html><title>The Watchman admin API</title>"
                "<p>Swagger UI is not installed (pip install swagger-ui-bundle-v2); the API is described in "
                '<a href="/openapi.json">/openapi.json</a>.</p>'
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_middleware(Limits, token=token, metrics_token=metrics_token, max_body=max_body)


def check_integers(value: Any, where: str = "params") -> Any:
    """Refuse integers no store can hold (outside signed 64 bits), anywhere in a JSON value: a
    pydantic validator, so the caller gets a 422 instead of an OverflowError deep in a driver."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"{where}: integer out of range (signed 64 bits: {INT64[0]}..{INT64[1]})")
    if isinstance(value, dict):
        for k, v in value.items():
            check_integers(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_integers(v, f"{where}[{i}]")
    return value
