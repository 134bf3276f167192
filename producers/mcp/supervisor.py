"""MCPSupervisor (I/O): runs the declared MCP servers, probes them with the official `mcp` SDK client,
lists their tools, restarts them with back-off, and obeys start/stop/restart commands.

One background thread holds an asyncio loop with one task per server:

- stdio (local): The Watchman is the server's client. `stdio_client` spawns it and one ClientSession
  stays open: `initialize` at start (its round trip is a probe), `ping` every `interval` seconds.
  A dead process ends the session: the ping fails, the exit is recorded, and the server is started
  again after the back-off.
- streamable HTTP, local: the server is a child process (own session/process group, its output in
  <log_dir>/<name>.log); each probe is a new session over `streamable_http_client`: `initialize`, then
  `ping`. The process's exit (Popen.poll) is what restarts it, with its exit code.
- container: the same over HTTP, the container made, started and removed through the Docker API.
- remote (a server.json `remotes` entry): probed and listed only; nothing to start.

Back-off: a start that fails, or a server that exits without being asked, is started again after
backoff_initial * 2^(attempt-1) seconds, at most backoff_max; a run that lasted `stable_seconds`
resets the count. `restart = "never"` leaves an exited server down; "on-failure" and "always" restart
it (a server is only stopped on request). A start/restart command cuts a back-off short.

Environment values may be `secret:NAME` (watchman/secrets.py resolves them when the server starts);
observations carry variable names only, never values.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from producers.mcp.registry import ServerSpec
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.mcp import (
    RAW_MCP,
    MCPInventoryObserved,
    MCPProbeObserved,
    MCPProcessObserved,
    MCPServerDeclared,
    ToolInfo,
)

log = logging.getLogger(__name__)

SOURCE = "mcp.supervisor"
MARKER = "WATCHMAN_MCP_SERVER"  # set in a stdio server's environment: how its pid is found
Action = Literal["start", "stop", "restart"]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def schema_hash(schema: Mapping[str, Any] | None) -> str:
    """SHA-256 of a JSON schema in canonical form (sorted keys, no spaces)."""
    text = json.dumps(schema or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def inventory_digest(tools: Sequence[ToolInfo], resources: Sequence[str], prompts: Sequence[str]) -> str:
    body = json.dumps(
        [[t.model_dump() for t in sorted(tools, key=lambda t: t.name)], sorted(resources), sorted(prompts)],
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _short(exc: BaseException) -> str:
    """One line for an exception (an ExceptionGroup: its first leaf)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


@dataclass
class _Runner:
    spec: ServerSpec
    want: bool
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    pending: Action | None = None
    state: str = "declared"  # declared | starting | running | exited | stopped | failed
    pid: int | None = None
    container_id: str | None = None
    digest: str | None = None
    detail: str = ""
    # set when the pending action is carried out: (ok, detail)
    done: list[tuple[asyncio.Future[tuple[bool, str]], Action]] = field(default_factory=list)

    def settle(self, ok: bool, detail: str) -> None:
        for fut, _ in self.done:
            if not fut.done():
                fut.set_result((ok, detail))
        self.done.clear()


class _Stop(Exception):
    """The run ended because an operator asked (stop or restart)."""


class MCPSupervisor:
    def __init__(
        self,
        host: str,
        specs: Sequence[ServerSpec],
        *,
        resolve: Callable[[str], str],
        log_dir: Path,
        interval: float = 30.0,
        timeout: float = 10.0,
        start_timeout: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stable_seconds: float = 60.0,
        docker_url: str = "",
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.topic = RAW_MCP
        self.name = "mcp:supervisor"
        self.specs = tuple(specs)
        self.resolve = resolve
        self.log_dir = log_dir
        self.interval = interval
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_seconds = stable_seconds
        self.docker_url = docker_url
        self._clock = clock
        self._out: queue.SimpleQueue[EventPayload] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: dict[str, _Runner] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing = False
        self._docker: Any = None

    # -- the Source contract ------------------------------------------------------------------------------

    def poll(self, max_lines: int) -> Poll:
        if not self.specs:
            return Poll()
        self.ensure_started()
        now = self._clock()
        out = Poll()
        while len(out.observations) < max_lines:
            try:
                obs = self._out.get_nowait()
            except queue.Empty:
                break
            out.observations.append(raw_envelope(self.host, obs, now))
        out.lines = len(out.observations)
        return out

    def scan_now(self) -> None:
        """Probe every server at once (TriggerScan)."""
        loop = self._loop
        if loop is not None:
            for r in list(self._runners.values()):
                loop.call_soon_threadsafe(r.changed.set)

    def close(self) -> None:
        self._closing = True
        loop = self._loop
        if loop is not None:
            for r in list(self._runners.values()):
                loop.call_soon_threadsafe(r.changed.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # -- control (the executors call it from the command stage's thread) ---------------------------------

    def servers(self) -> list[str]:
        return [s.name for s in self.specs]

    def control(self, server: str, action: Action, *, wait: float = 60.0) -> tuple[bool, str]:
        """Carry out start/stop/restart of `server` and wait for it: (ok, detail)."""
        if server not in {s.name for s in self.specs}:
            return False, f"no MCP server {server!r} declared here"
        self.ensure_started()
        loop = self._loop
        assert loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._control(server, action), loop)
        try:
            return fut.result(timeout=wait)
        except TimeoutError:
            fut.cancel()
            return False, f"{action} of {server} did not finish within {wait:g} s"

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"state": r.state, "pid": r.pid, "container_id": r.container_id, "detail": r.detail}
            for name, r in self._runners.items()
        }

    async def _control(self, server: str, action: Action) -> tuple[bool, str]:
        r = self._runners[server]
        if not r.spec.supervised:
            return False, f"{server} is a remote server: there is nothing to {action} here"
        if action == "start" and r.want and r.state == "running":
            return (
                True,
                f"{server} is already running (pid {r.pid})" if r.pid else f"{server} is already running",
            )
        if action == "stop" and not r.want and r.state in ("stopped", "declared", "exited", "failed"):
            return True, f"{server} is already stopped"
        fut: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        r.done.append((fut, action))
        r.want = action != "stop"
        r.pending = action
        r.changed.set()
        return await fut

    # -- the loop ------------------------------------------------------------------------------------------

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        now = self._clock()
        for s in self.specs:
            self._out.put(
                MCPServerDeclared(
                    ts=now,
                    server=s.name,
                    version=s.version,
                    description=s.description,
                    transport=s.transport,
                    deployment=s.deployment,
                    url=s.url,
                    image=s.image,
                    program=s.program,
                    registry_type=s.registry_type,
                    identifier=s.identifier,
                    env_names=tuple(sorted(s.env)),
                    secret_env=tuple(sorted(s.secret_env)),
                    origin=s.origin,
                )
            )
        self._thread = threading.Thread(target=self._main, name="watchman-mcp", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve_all())
        finally:
            loop.close()

    async def _serve_all(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for s in self.specs:
            self._runners[s.name] = _Runner(s, want=s.autostart or not s.supervised)
        self._ready.set()
        tasks = [
            asyncio.create_task(self._guarded(r), name=f"mcp:{r.spec.name}") for r in self._runners.values()
        ]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, r: _Runner) -> None:
        """A bug in one server's task is logged and the task starts over: the others never notice."""
        while not self._closing:
            try:
                await self._serve(r)
            except Exception:
                log.exception("the supervision of MCP server %s failed; starting it over", r.spec.name)
                r.settle(False, "the supervisor failed: see its log")
                await asyncio.sleep(self.backoff_max)

    def _emit(self, obs: EventPayload) -> None:
        self._out.put(obs)

    async def _wait(self, r: _Runner, seconds: float | None) -> None:
        """Sleep up to `seconds` (None: until told), woken early by a command or close()."""
        if r.changed.is_set():
            r.changed.clear()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(r.changed.wait(), seconds)
        r.changed.clear()

    async def _serve(self, r: _Runner) -> None:
        spec = r.spec
        attempt = 0
        while not self._closing:
            if not spec.supervised:
                await self._probe_remote(r)
                await self._wait(r, self.interval)
                continue
            if not r.want:
                if r.pending is not None:
                    r.pending = None
                    r.state = "stopped"
                    r.settle(True, f"{spec.name} stopped")
                await self._wait(r, None)
                continue
            attempt += 1
            r.pending = None if r.pending in ("start", "restart") else r.pending
            began = time.monotonic()
            kind, detail, exit_code = await self._run_once(r, attempt)
            if self._closing:
                break
            if kind == "stopped":
                attempt = 0
                continue
            ran = time.monotonic() - began
            if kind == "exited" and ran >= self.stable_seconds:
                attempt = 1
            # on-failure: a server that exited 0 by itself is done (known for processes and containers;
            # a stdio server's exit code stays with the SDK, unknown here: restarted).
            if spec.restart == "never" or (
                spec.restart == "on-failure" and kind == "exited" and exit_code == 0
            ):
                r.want = False
                r.state = "exited" if kind == "exited" else "failed"
                self._process(r, kind, detail, exit_code, attempt, None)
                continue
            backoff = min(self.backoff_initial * 2 ** max(attempt - 1, 0), self.backoff_max)
            r.state = "exited" if kind == "exited" else "failed"
            self._process(r, kind, detail, exit_code, attempt, backoff)
            r.settle(False, detail)
            await self._wait(r, backoff)
            if r.pending in ("start", "restart"):
                attempt = 0

    def _process(
        self, r: _Runner, kind: str, detail: str, exit_code: int | None, attempt: int, backoff: float | None
    ) -> None:
        action: Literal["exited", "start_failed"] = "exited" if kind == "exited" else "start_failed"
        self._emit(
            MCPProcessObserved(
                ts=self._clock(),
                server=r.spec.name,
                action=action,
                pid=r.pid,
                container_id=r.container_id,
                exit_code=exit_code,
                detail=detail,
                attempt=attempt,
                backoff_seconds=backoff,
            )
        )
        r.detail = detail

    def _env(self, spec: ServerSpec) -> dict[str, str]:
        return {k: self.resolve(v) for k, v in spec.env.items()}

    async def _run_once(self, r: _Runner, attempt: int) -> tuple[str, str, int | None]:
        """Start the server and watch it until it ends: (stopped | exited | failed, detail, exit code)."""
        r.state, r.pid, r.container_id = "starting", None, None
        try:
            env = self._env(r.spec)
        except Exception as exc:  # a missing secret: the message names it, never a value
            return "failed", _short(exc), None
        try:
            if r.spec.transport == "stdio":
                return await self._run_stdio(r, env, attempt)
            return await self._run_http(r, env, attempt)
        except Exception as exc:  # the SDK's task groups wrap what is raised inside them in groups
            stop = _find(exc, _Stop)
            if stop is not None:
                return "stopped", str(stop), None
            return ("exited" if r.state == "running" else "failed"), _short(exc), None

    def _started(self, r: _Runner, attempt: int) -> None:
        r.state = "running"
        self._emit(
            MCPProcessObserved(
                ts=self._clock(),
                server=r.spec.name,
                action="started",
                pid=r.pid,
                container_id=r.container_id,
                attempt=attempt,
                requested=any(a in ("start", "restart") for _, a in r.done),
            )
        )
        r.settle(True, f"{r.spec.name} running" + (f" (pid {r.pid})" if r.pid else ""))

    def _stopped(self, r: _Runner) -> _Stop:
        action = r.pending
        r.state = "stopped"
        self._emit(
            MCPProcessObserved(
                ts=self._clock(),
                server=r.spec.name,
                action="stopped",
                pid=r.pid,
                container_id=r.container_id,
                requested=True,
                detail=f"{action} requested",
            )
        )
        # A stop is settled by the loop once the process or container is gone (see _serve).
        return _Stop(f"{action} requested")

    def _probe(
        self, r: _Runner, ok: bool, method: Literal["initialize", "ping"], ms: float | None, **kw: Any
    ) -> None:
        self._emit(
            MCPProbeObserved(ts=self._clock(), server=r.spec.name, ok=ok, method=method, latency_ms=ms, **kw)
        )

    # -- stdio ---------------------------------------------------------------------------------------------

    async def _run_stdio(self, r: _Runner, env: dict[str, str], attempt: int) -> tuple[str, str, int | None]:
        from mcp import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        spec = r.spec
        token = f"{spec.name}/{uuid.uuid4().hex}"
        params = StdioServerParameters(
            command=spec.command, args=list(spec.args), env={**env, MARKER: token}, cwd=spec.cwd or None
        )
        with (self.log_dir / f"{_safe(spec.name)}.log").open("a") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                t0 = time.monotonic()
                try:
                    init = await asyncio.wait_for(session.initialize(), self.start_timeout)
                except Exception as exc:
                    self._probe(r, False, "initialize", None, detail=_short(exc))
                    raise
                ms = (time.monotonic() - t0) * 1000
                r.pid = _child_with(token)
                self._started(r, attempt)
                version = init.server_info.version
                self._probe(
                    r,
                    True,
                    "initialize",
                    ms,
                    server_version=version,
                    protocol_version=init.protocol_version,
                )
                await self._inventory(r, session, version, force=True)
                while True:
                    await self._wait(r, self.interval)
                    if r.pending in ("stop", "restart") or self._closing:
                        raise self._stopped(r)
                    t0 = time.monotonic()
                    try:
                        await asyncio.wait_for(session.send_ping(), self.timeout)
                    except Exception as exc:
                        detail = _short(exc) if not isinstance(exc, TimeoutError) else "ping timed out"
                        if r.pid is not None and not _alive(r.pid):
                            detail = f"process {r.pid} ended ({detail})"
                        self._probe(r, False, "ping", None, detail=detail)
                        return "exited", detail, None
                    self._probe(r, True, "ping", (time.monotonic() - t0) * 1000)
                    await self._inventory(r, session, version)

    # -- streamable HTTP (a local process, a container, or a remote) ---------------------------------------

    async def _handshake(self, url: str) -> tuple[float, Any, Any, list[str], list[str]]:
        """A new session: initialize and ping; (ms of both, init result, tools, resources, prompts)."""
        import httpx2
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(timeout=self.timeout) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            t0 = time.monotonic()
            init = await asyncio.wait_for(session.initialize(), self.timeout)
            await asyncio.wait_for(session.send_ping(), self.timeout)
            ms = (time.monotonic() - t0) * 1000
            tools, resources, prompts = await self._listing(session, init)
            return ms, init, tools, resources, prompts

    async def _try_handshake(self, r: _Runner) -> tuple[Any, str]:
        """(the handshake's results or None, detail of a failure)."""
        try:
            return await asyncio.wait_for(self._handshake(r.spec.url), self.timeout * 3), ""
        except Exception as exc:
            return None, "probe timed out" if isinstance(exc, TimeoutError) else _short(exc)

    def _tell(self, r: _Runner, result: Any, detail: str) -> bool:
        """Tell one handshake probe (and the listing, when it changed)."""
        if result is None:
            self._probe(r, False, "initialize", None, detail=detail)
            r.detail = detail
            return False
        ms, init, tools, resources, prompts = result
        version = init.server_info.version
        self._probe(r, True, "initialize", ms, server_version=version, protocol_version=init.protocol_version)
        self._emit_inventory(r, version, tools, resources, prompts)
        return True

    async def _http_probe(self, r: _Runner) -> bool:
        return self._tell(r, *await self._try_handshake(r))

    async def _probe_remote(self, r: _Runner) -> None:
        ok = await self._http_probe(r)
        r.state = "running" if ok else "unreachable"

    async def _run_http(self, r: _Runner, env: dict[str, str], attempt: int) -> tuple[str, str, int | None]:
        spec = r.spec
        r.digest = None
        if spec.deployment == "container":
            return await self._run_container(r, env, attempt)
        squatter, _ = await self._try_handshake(r)
        if squatter is not None:  # e.g. one left running by a Watchman that was killed
            return (
                "failed",
                f"something else already answers at {spec.url}: not starting a second server",
                None,
            )
        logf = (self.log_dir / f"{_safe(spec.name)}.log").open("ab")
        try:
            proc = subprocess.Popen(
                [spec.command, *spec.args],
                env={**_base_env(), **env},
                cwd=spec.cwd or None,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
            )
        except OSError as exc:
            logf.close()
            return "failed", _short(exc), None
        logf.close()
        r.pid = proc.pid
        try:
            first = await self._until_answers(r, proc.poll)
            if first is None:
                code = proc.poll()
                if code is not None:
                    return "failed", f"process exited {code} before answering", code
                return (
                    "failed",
                    f"no MCP answer at {spec.url} within {self.start_timeout:g} s ({r.detail})",
                    None,
                )
            self._started(r, attempt)
            self._tell(r, first, "")
            while True:
                await self._wait(r, self.interval)
                if r.pending in ("stop", "restart") or self._closing:
                    raise self._stopped(r)
                code = proc.poll()
                if code is not None:
                    self._probe(r, False, "initialize", None, detail=f"process {proc.pid} exited {code}")
                    return "exited", f"process {proc.pid} exited {code}", code
                await self._http_probe(r)
        finally:
            await asyncio.to_thread(_terminate, proc)

    async def _until_answers(self, r: _Runner, ended: Callable[[], int | None]) -> Any:
        """The first successful handshake of a server that is starting (failures meanwhile are not
        told: it is not up yet), or None when it ended or did not answer within start_timeout."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and not self._closing:
            if await asyncio.to_thread(ended) is not None:
                return None
            result, detail = await self._try_handshake(r)
            if result is not None:
                return result
            r.detail = detail
            await asyncio.sleep(0.2)
        return None

    # -- containers (Docker API) ---------------------------------------------------------------------------

    def _docker_client(self) -> Any:
        if self._docker is None:
            import docker

            self._docker = (
                docker.DockerClient(base_url=self.docker_url) if self.docker_url else docker.from_env()
            )
        return self._docker

    async def _run_container(
        self, r: _Runner, env: dict[str, str], attempt: int
    ) -> tuple[str, str, int | None]:
        spec = r.spec
        cname = f"watchman-mcp-{_safe(spec.name)}"

        def create() -> Any:
            client = self._docker_client()
            with contextlib.suppress(Exception):
                client.containers.get(cname).remove(force=True)
            opts = dict(spec.container)
            return client.containers.run(
                spec.image,
                command=[spec.command, *spec.args] if spec.command else (list(spec.args) or None),
                name=cname,
                detach=True,
                environment=env,
                labels={"watchman.mcp.server": spec.name},
                **opts,
            )

        try:
            container = await asyncio.to_thread(create)
        except Exception as exc:
            return "failed", _short(exc), None
        r.container_id = container.id

        def state() -> tuple[bool, int | None]:
            container.reload()
            s = container.attrs.get("State", {})
            return bool(s.get("Running")), s.get("ExitCode")

        def ended() -> int | None:
            running, code = state()
            return None if running else (code if code is not None else -1)

        try:
            first = await self._until_answers(r, ended)
            if first is None:
                code = await asyncio.to_thread(ended)
                return (
                    "failed",
                    f"container {cname} did not answer at {spec.url} (exit {code}; {r.detail})",
                    code,
                )
            r.pid = container.attrs.get("State", {}).get("Pid") or None
            self._started(r, attempt)
            self._tell(r, first, "")
            while True:
                await self._wait(r, self.interval)
                if r.pending in ("stop", "restart") or self._closing:
                    raise self._stopped(r)
                code = await asyncio.to_thread(ended)
                if code is not None:
                    self._probe(r, False, "initialize", None, detail=f"container {cname} exited {code}")
                    return "exited", f"container {cname} exited {code}", code
                await self._http_probe(r)
        finally:

            def remove() -> None:
                with contextlib.suppress(Exception):
                    container.remove(force=True)

            await asyncio.to_thread(remove)

    # -- listing -------------------------------------------------------------------------------------------

    async def _listing(self, session: Any, init: Any) -> tuple[list[ToolInfo], list[str], list[str]]:
        caps = init.capabilities
        tools: list[ToolInfo] = []
        resources: list[str] = []
        prompts: list[str] = []
        if caps.tools is not None:
            cursor = None
            while True:
                res = await asyncio.wait_for(session.list_tools(params=_page(cursor)), self.timeout)
                tools += [
                    ToolInfo(
                        name=t.name,
                        description=t.description or "",
                        input_schema_hash=schema_hash(t.input_schema),
                    )
                    for t in res.tools
                ]
                cursor = res.next_cursor
                if not cursor:
                    break
        if caps.resources is not None:
            res = await asyncio.wait_for(session.list_resources(), self.timeout)
            resources = sorted(str(x.uri) for x in res.resources)
        if caps.prompts is not None:
            res = await asyncio.wait_for(session.list_prompts(), self.timeout)
            prompts = sorted(p.name for p in res.prompts)
        return tools, resources, prompts

    async def _inventory(self, r: _Runner, session: Any, version: str | None, *, force: bool = False) -> None:
        init = session.initialize_result
        try:
            tools, resources, prompts = await self._listing(session, init)
        except Exception as exc:
            log.warning("listing the tools of MCP server %s failed: %s", r.spec.name, _short(exc))
            return
        if force:
            r.digest = None
        self._emit_inventory(r, version, tools, resources, prompts)

    def _emit_inventory(
        self, r: _Runner, version: str | None, tools: list[ToolInfo], resources: list[str], prompts: list[str]
    ) -> None:
        digest = inventory_digest(tools, resources, prompts)
        if digest == r.digest:
            return
        r.digest = digest
        self._emit(
            MCPInventoryObserved(
                ts=self._clock(),
                server=r.spec.name,
                server_version=version,
                tools=tuple(sorted(tools, key=lambda t: t.name)),
                resources=tuple(resources),
                prompts=tuple(prompts),
                digest=digest,
            )
        )


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` or the first exception of type `kind` inside it (exception groups nest)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


def _page(cursor: str | None) -> Any:
    if cursor is None:
        return None
    from mcp_types import PaginatedRequestParams

    return PaginatedRequestParams(cursor=cursor)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _base_env() -> dict[str, str]:
    """What a server process inherits: the same few variables the SDK's stdio client passes on."""
    return {k: os.environ[k] for k in ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER") if k in os.environ}


def _child_with(token: str) -> int | None:
    """The pid of our child process whose environment carries `token` (the stdio server just spawned)."""
    import psutil  # type: ignore[import-untyped]

    for p in psutil.Process().children(recursive=True):
        try:
            if p.environ().get(MARKER) == token:
                return int(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return None


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the server's process group, SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def raw_envelope(host: str, obs: EventPayload, observed_at: datetime) -> Envelope:
    """An observation is a moment of one server: the id is the server, the type, what it says and when."""
    server = str(getattr(obs, "server", ""))
    ts: datetime = getattr(obs, "ts", observed_at)
    what = str(getattr(obs, "action", "") or getattr(obs, "method", "") or getattr(obs, "digest", ""))
    return Envelope(
        id=event_id("raw", host, SOURCE, server, obs.TYPE, what, ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=ts,
        observed_at=observed_at,
        subject=server,
        payload=obs.model_dump(mode="json"),
    )
