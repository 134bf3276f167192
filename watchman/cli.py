"""The `watchman` command line: run the embedded daemon, parse logs, query the graph, replay, status."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from producers.packages import KINDS
from producers.packages.base import ParseError
from projections.catalog import QUERIES, CatalogError, resolve
from projections.stores.base import ReadOnlyViolation
from schemas.topics import DLQ, RAW_TOPICS, TOPICS
from watchman import settings as settings_mod
from watchman.forwarder import GROUP as FORWARDER_GROUP
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.wiring import (
    ConfigError,
    check_urls,
    graph_path,
    open_bus,
    open_log,
    open_settings_graph,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    from watchman.api_client import ApiClient
    from watchman.bus.base import Bus
    from watchman.daemon import DaemonClient, Totals

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MALFORMED = 3
EXIT_BUSY = 4

HELP = """The Watchman: one source of truth for what happens on this host.

Producers tail package-manager logs into a durable event log; processors decide domain events;
projections build a graph you query in Cypher. Everything runs in one process by default (an
embedded SQLite log and an embedded LadybugDB graph under the data directory).

\b
Examples:
  watchman run                          # follow this host's logs; Ctrl-C to stop
  watchman run --once                   # import everything there is now, then exit
  watchman parse apt /var/log/apt/history.log
  watchman query --list                 # the questions the catalog answers
  watchman query installed-this-week --table
  watchman query last-updated -p name=docker
  watchman query "MATCH (s:Software) RETURN s.name, s.version LIMIT 5"
  watchman status
  watchman replay                       # rebuild the graph from the event log

\b
Distributed (bus = "kafka://HOST:PORT", graph = "neo4j://HOST:PORT" in watchman.toml):
  watchman produce                      # logs -> local spool -> Kafka, one per host
  watchman worker                       # the processors as Faust agents
  watchman project                      # Kafka domain topics -> Neo4j

\b
Exit codes: 0 ok, 1 error, 2 usage, 3 malformed input found (parse), 4 data directory busy.
Settings: ./watchman.toml or /etc/watchman/watchman.toml (or --config / WATCHMAN_CONFIG), then
WATCHMAN_* environment variables, e.g. WATCHMAN_DATA_DIR=/tmp/w watchman run.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,  # locals may hold secrets; tracebacks must not print them
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
token_app = typer.Typer(
    help="The admin API's bearer tokens (0600 files): <data_dir>/api.token for every endpoint, "
    "<data_dir>/metrics.token for /admin/metrics only (api_token_file, api_metrics_token_file).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

err = Console(stderr=True)
out = Console()

_state: dict[str, Any] = {}


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, for scripts
    return typer.Exit(code)


def get_settings() -> Settings:
    if "settings" not in _state:
        try:
            _state["settings"] = settings_mod.load(_state.get("config"))
        except (ValidationError, FileNotFoundError, ValueError) as exc:
            raise fail(f"bad configuration: {exc}") from None
    settings: Settings = _state["settings"]
    return settings


@app.callback()
def main_options(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (default: ./watchman.toml)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens, to stderr")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _state.clear()
    _state["config"] = config


# -- run -----------------------------------------------------------------------------------------


@app.command()
def run(
    once: Annotated[bool, typer.Option(help="import what the sources hold now, then exit")] = False,
) -> None:
    """Run the embedded daemon: follow the logs, decide events, keep the graph current.

    Watches the package logs in the settings (apt, dpkg, dnf, dnf5, brew; missing ones are picked up
    when they appear). The first start backfills the whole history, rotated files included.
    Other commands (query, status, replay) talk to this process while it runs.
    """
    from projections.stores.ladybug import GraphLocked
    from watchman.check import LogDamaged
    from watchman.daemon import AlreadyRunning, open_daemon, store_locks

    s = get_settings()
    if s.deployment == "distributed":
        raise fail(
            "the bus is Kafka (distributed deployment): run `watchman produce`, `watchman worker` "
            "and `watchman project` instead of `watchman run`"
        )
    try:
        with store_locks(s):
            daemon = open_daemon(s)
            signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
            watched = [src.name for src in daemon.sources]
            err.print(f"watchman: data in {s.data_dir}; watching {len(watched)} sources (host {s.host})")
            for name in watched:
                err.print(f"  {name}")
            try:
                url = daemon.start_api()
            except OSError as exc:
                daemon.close()
                hint = "set api_listen, or WATCHMAN_API_LISTEN=127.0.0.1:0 for any free port"
                raise fail(f"{exc} ({hint})") from None
            if url:
                err.print(f"watchman: admin API on {url} (docs at {url}/docs; token in {s.api_token_path})")
            line = StatusLine(enabled=err.is_terminal)
            try:
                totals = daemon.run(once=once, on_status=line.update)
            except KeyboardInterrupt:
                daemon.stop.set()
                totals = daemon.totals
            line.done(totals)
    except AlreadyRunning as exc:
        raise fail(str(exc), EXIT_BUSY) from None
    except GraphLocked as exc:  # a daemon of another data directory that shares this graph
        raise fail(str(exc), EXIT_BUSY) from None
    except LogDamaged as exc:
        raise fail(str(exc)) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None


class StatusLine:
    """One line that says how far the pipeline got; on a terminal it rewrites itself, else it logs
    at most once a minute."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def text(self, t: Totals) -> str:
        rate = t.projected / max(time.monotonic() - t.started, 1e-6)
        return (
            f"ingested {t.ingested:,} · decided {t.processed:,} · in graph {t.projected:,} "
            f"· dead letters {t.dead:,} · {rate:,.0f} events/s"
        )

    def update(self, t: Totals) -> None:
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.2:
            err.file.write("\r\x1b[2K" + self.text(t))
            err.file.flush()
            self._last = now
        elif not self.enabled and now - self._last >= 60:
            logging.getLogger("watchman").info(self.text(t))
            self._last = now

    def done(self, t: Totals) -> None:
        if self.enabled:
            err.file.write("\r\x1b[2K")
        err.print(f"watchman: stopped; {self.text(t)}")


# -- parse ---------------------------------------------------------------------------------------


@app.command()
def parse(
    kind: Annotated[str, typer.Argument(help=f"log format: {', '.join(KINDS)}")],
    file: Annotated[
        Path, typer.Argument(help="log file (.gz is read too); for brew: a Homebrew prefix or Cellar")
    ],
    tz: Annotated[
        str, typer.Option(help="zone of logs written in local time (apt, dpkg); default: this machine's")
    ] = "",
) -> None:
    """Parse one log and print one JSON object per package change (for debugging a parser).

    Malformed lines are reported on stderr as JSON objects with the reason; the exit code is then 3.
    A line longer than max_line_bytes (default 1 MiB) is one such error, never parsed.

    \b
    Example:
      watchman parse dpkg /var/log/dpkg.log | jq -r 'select(.action=="upgrade") | .package'
    """
    from watchman.parsing import InputError, read_brew, read_log

    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}", EXIT_USAGE)
    if not file.exists():
        raise fail(f"{file} does not exist", EXIT_USAGE)
    bad = 0
    try:
        if kind == "brew":
            bad = _emit(read_brew(file), sys.stdout.buffer.write)
        else:
            limit = get_settings().max_line_bytes
            results = read_log(kind, file, tz=ZoneInfo(tz) if tz else None, max_line_bytes=limit)
            for r in results:
                bad += _emit([r], sys.stdout.buffer.write)
    except InputError as exc:
        sys.stdout.flush()
        raise fail(str(exc), exc.code) from None
    sys.stdout.flush()
    if bad:
        err.print(f"{bad} malformed line(s) in {file}", highlight=False)
        raise typer.Exit(EXIT_MALFORMED)


def _emit(results: list[Any], write: Any) -> int:
    from watchman.parsing import error_json

    bad = 0
    for r in results:
        if isinstance(r, ParseError):
            bad += 1
            sys.stderr.write(orjson.dumps(error_json(r)).decode() + "\n")
        else:
            write(orjson.dumps(r.model_dump(mode="json")) + b"\n")
    return bad


# -- query ---------------------------------------------------------------------------------------


def _param_value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


@app.command()
def query(
    text: Annotated[str | None, typer.Argument(help="a named query (see --list) or Cypher text")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, repeatable")] = None,
    table: Annotated[bool, typer.Option("--table", help="print a table instead of JSON lines")] = False,
    write: Annotated[
        bool, typer.Option("--write", help="allow Cypher that writes (default: read-only)")
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the named queries and exit")] = False,
) -> None:
    """Ask the graph: a named question from the catalog, or your own Cypher (parameterised with -p).

    Runs through the running daemon when there is one, else opens the graph directly.

    \b
    Examples:
      watchman query installed-this-week -p days=3 --table
      watchman query 'MATCH (e:Event) WHERE e.package_name = $p RETURN e.ts, e.action' -p p=bash
    """
    if list_:
        for q in QUERIES.values():
            takes = " ".join(f"{p.name}={p.default if p.default is not None else '…'}" for p in q.params)
            out.print(f"[bold]{q.name}[/bold]  {q.question}" + (f"  [dim]({takes})[/dim]" if takes else ""))
        return
    if not text:
        raise fail("give a named query or Cypher text (see watchman query --list)", EXIT_USAGE)
    from watchman.api_client import ApiClient

    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--param wants KEY=VALUE, got {item!r}", EXIT_USAGE)
        params[key] = _param_value(value)
    api = None if write else ApiClient.connect(get_settings())
    if api is not None:
        columns, rows = _api_query(api, text, params)
    else:
        if text in QUERIES:
            try:
                cypher, params = resolve(text, params, datetime.now(UTC))
            except CatalogError as exc:
                raise fail(str(exc), EXIT_USAGE) from None
        else:
            cypher = text
        columns, rows = _run_query(cypher, params, read_only=not write)
    if table:
        t = Table(*columns)
        for row in rows:
            t.add_row(*("" if v is None else str(v) for v in row))
        out.print(t)
    else:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(dict(zip(columns, row, strict=True))) + b"\n")


def _api_query(api: ApiClient, text: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Through the running daemon's admin API (read-only; --write goes through its local socket)."""
    from watchman.api_client import ApiError

    named = text in QUERIES
    body = (
        {"name": text, "params": params} if named else {"cypher": text, "params": params, "read_only": True}
    )
    try:
        answer = api.post("/query", body)
    except ApiError as exc:
        if exc.status == 400 and named:
            raise fail(str(exc), EXIT_USAGE) from None
        hint = " (pass --write to allow writing Cypher)" if "tried to write" in str(exc) else ""
        raise fail(f"{exc}{hint}") from None
    except OSError as exc:
        raise fail(f"the daemon's API at {api.url} did not answer: {exc}") from None
    columns: list[str] = answer["columns"]
    return columns, [[row[c] for c in columns] for row in answer["rows"]]


def _run_query(cypher: str, params: dict[str, Any], *, read_only: bool) -> tuple[list[str], list[list[Any]]]:
    from projections.stores.ladybug import GraphCorrupted, GraphLocked
    from watchman.daemon import DaemonClient, encode_params, jsonable

    s = get_settings()
    client = DaemonClient.connect(s)
    if client is not None:
        request = {"op": "query", "cypher": cypher, "params": encode_params(params), "read_only": read_only}
        answer = next(client.request(request))
        if "error" in answer:
            hint = " (pass --write to allow writing Cypher)" if answer.get("kind") == "read_only" else ""
            raise fail(answer["error"] + hint)
        return answer["columns"], answer["rows"]
    if s.graph_url.startswith("ladybug://") and not graph_path(s.graph_url).exists():
        raise fail(
            f"no graph yet at {graph_path(s.graph_url)}: start `watchman run` (or `watchman run --once`)"
        )
    try:
        with open_settings_graph(s) as store:
            result = store.query(cypher, params, read_only=read_only)
    except ReadOnlyViolation as exc:
        raise fail(f"{exc} (pass --write to allow writing Cypher)") from None
    except GraphLocked as exc:
        raise fail(f"{exc}; is a `watchman run` starting up?", EXIT_BUSY) from None
    except GraphCorrupted as exc:
        raise fail(f"{exc}; `watchman run` (or `watchman replay`) rebuilds it from the event log") from None
    except RuntimeError as exc:  # LadybugDB reports Cypher errors as RuntimeError
        raise fail(f"query failed: {exc}") from None
    return result.columns, jsonable(result.rows)


# -- replay --------------------------------------------------------------------------------------


@app.command()
def replay(
    batch_size: Annotated[int, typer.Option(min=1, help="domain records per graph transaction")] = 5000,
    yes: Annotated[bool, typer.Option("--yes", help="confirm wiping Neo4j (distributed deployment)")] = False,
) -> None:
    """Rebuild the graph from the event log (offset zero) into a fresh store, then swap it in.

    Embedded: the old graph is kept beside the new one as `<graph>.previous`. With a daemon running,
    the daemon does the rebuild (its live projection pauses meanwhile; ingest goes on) and queries keep
    working on the old graph until the swap.

    Distributed: Neo4j Community has one database, so the graph is wiped and rebuilt in place from the
    Kafka domain topics (queries see a partial graph meanwhile); this needs --yes. A running
    `watchman project` may keep going: the wipe removes its positions too, so it also starts over
    from offset zero, and the upserts make that harmless.
    """
    from watchman.check import LogDamaged, require_sound_log
    from watchman.daemon import AlreadyRunning, DaemonClient, daemon_lock
    from watchman.replay import domain_backlog, replay_into_place

    s = get_settings()
    if s.deployment == "distributed" or not s.graph_url.startswith("ladybug://"):
        _replay_distributed(s, batch_size, yes)
        return
    try:
        require_sound_log(Path(s.bus_url[len("sqlite://") :]))
    except LogDamaged as exc:
        raise fail(str(exc)) from None
    with _progress() as bar:
        task = bar.add_task("replaying", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        client = DaemonClient.connect(s)
        if client is not None:
            n = 0
            for msg in client.request({"op": "replay"}):
                if "error" in msg:
                    raise fail(msg["error"])
                if "progress" in msg:
                    progress(msg["progress"], msg["total"])
                n = msg.get("done", n)
        else:
            try:
                with daemon_lock(s.data_dir):
                    log_ = open_log(s.bus_url)
                    try:
                        bar.update(task, total=domain_backlog(log_))
                        store, n = replay_into_place(
                            log_, s.graph_url, None, batch_size=batch_size, progress=progress
                        )
                        store.close()
                    finally:
                        log_.close()
            except AlreadyRunning as exc:
                raise fail(str(exc), EXIT_BUSY) from None
    err.print(f"replayed {n:,} events into {graph_path(s.graph_url)}")


def _replay_distributed(s: Settings, batch_size: int, yes: bool) -> None:
    from watchman.replay import domain_backlog, rebuild

    if not yes:
        raise fail(
            f"replay wipes the graph at {s.graph_url} and rebuilds it: pass --yes to confirm", EXIT_USAGE
        )
    bus = open_bus(s.bus_url)
    try:
        with open_settings_graph(s) as store, _progress() as bar:
            task = bar.add_task("replaying", total=domain_backlog(bus))
            wipe = getattr(store, "wipe", None)
            if wipe is None:
                raise fail(f"{s.graph_url}: this store cannot be wiped in place")
            wipe(confirm=True)
            n = rebuild(
                bus, store, batch_size=batch_size, progress=lambda d, t: bar.update(task, completed=d)
            )
    finally:
        bus.close()
    err.print(f"replayed {n:,} events into {s.graph_url}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


# -- status --------------------------------------------------------------------------------------


def collect_status(s: Settings) -> dict[str, Any]:
    """Positions, lags, counts and DLQ size, from the bus and the graph (never writing either)."""
    from watchman.daemon import DaemonClient

    status: dict[str, Any] = {
        "deployment": s.deployment,
        "data_dir": str(s.data_dir),
        "host": s.host,
        "bus": s.bus_url,
        "graph": s.graph_url,
    }
    client = DaemonClient.connect(s)
    status["daemon"] = next(client.request({"op": "ping"})) if client else None
    # The admin APIs the processes of this data directory announced (daemon; producer, projector, worker).
    status["api"] = {
        p.stem.removeprefix("api-") if p.stem != "api" else "daemon": p.read_text().strip()
        for p in sorted(s.data_dir.glob("api*.url"))
    }
    # Cursors live in the embedded log, or in the producer's spool when distributed.
    local = (
        s.data_dir / "spool.sqlite" if s.deployment == "distributed" else Path(s.bus_url[len("sqlite://") :])
    )
    local_log = open_log(f"sqlite://{local}", read_only=True) if local.exists() else None
    try:
        bus: Bus | None = local_log if s.deployment == "embedded" else open_bus(s.bus_url)
        if bus is None:
            status["topics"] = {}
            return status
        try:
            _bus_status(s, bus, status)
        finally:
            if bus is not local_log:
                bus.close()
        if local_log is not None:
            status["sources"] = {
                name: _source_status(name, cur) for name, cur in CursorStore(local_log).all().items()
            }
            if s.deployment == "distributed":
                status["spooled"] = sum(
                    sum(local_log.lag(FORWARDER_GROUP, t).values())
                    for t in (*(r.name for r in RAW_TOPICS), DLQ.name)
                )
        positions = _graph_positions(s, client)
        if positions is not None:
            status["graph_lag"] = sum(
                end - (positions.get(f"{name}/{p}", -1) + 1)
                for name, meta in status["topics"].items()
                if name.startswith("watchman.events.")
                for p, end in meta["end_offsets"].items()
            )
    finally:
        if local_log is not None:
            local_log.close()
    return status


def _bus_status(s: Settings, bus: Bus, status: dict[str, Any]) -> None:
    from processors.faust_app import APP_ID as FAUST_APP_ID
    from processors.registry import ROUTES

    topics: dict[str, Any] = {}
    for name in TOPICS:
        try:
            ends = bus.end_offsets(name)
        except KeyError:  # not created yet
            continue
        starts = bus.start_offsets(name)
        topics[name] = {"records": sum(e - starts.get(p, e) for p, e in ends.items()), "end_offsets": ends}
    status["topics"] = topics
    # The embedded processors commit as their route name; Faust commits as its app id.
    consumers = {}
    for route in ROUTES:
        group = route.name if s.deployment == "embedded" else FAUST_APP_ID
        if route.source.name in topics:
            consumers[f"{group} <- {route.source.name}"] = {
                "lag": sum(bus.lag(group, route.source.name).values())
            }
    status["consumers"] = consumers
    status["dlq"] = topics.get(DLQ.name, {}).get("records", 0)


def _source_status(name: str, cursor: dict[str, Any]) -> dict[str, Any]:
    # File sources are named kind:/path; say whether the file is still there. Others (the journal,
    # netlink, the Docker socket) report only their cursor.
    out: dict[str, Any] = {"cursor": cursor}
    where = name.split(":", 1)[1] if ":" in name else ""
    if where.startswith("/"):
        out["exists"] = Path(where).exists()
    return out


def _graph_positions(s: Settings, client: DaemonClient | None) -> dict[str, int] | None:
    if client is not None:
        positions: dict[str, int] = next(client.request({"op": "positions"}))["positions"]
        return positions
    if s.graph_url.startswith("ladybug://") and not graph_path(s.graph_url).exists():
        return {}
    try:
        with open_settings_graph(s) as store:
            return store.positions()
    except Exception:  # held by a process that is not answering, or unreachable: report without it
        return None


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show positions, lags, counts and dead letters: is everything read, decided and projected?

    Also runs the cheap part of `watchman check` (the log answers, the graph opens, the graph's
    positions lie within the log) and exits 1 when it finds a problem.
    """
    from watchman.check import quick_status_check

    s = get_settings()
    st, problems = quick_status_check(s, collect_status)
    if as_json:
        st["problems"] = problems
        sys.stdout.buffer.write(
            orjson.dumps(st, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
        )
        if problems:
            raise typer.Exit(EXIT_ERROR)
        return
    d = st["daemon"]
    out.print(f"data dir  {st['data_dir']}   host {st['host']}")
    out.print(f"daemon    {'running, pid ' + str(d['pid']) if d else 'not running'}")
    t = Table("topic", "records", "partitions")
    for name, meta in st.get("topics", {}).items():
        t.add_row(name, f"{meta['records']:,}", str(len(meta["end_offsets"])))
    out.print(t)
    for name, meta in st.get("consumers", {}).items():
        out.print(f"consumer  {name}: lag {meta['lag']:,}")
    if "graph_lag" in st:
        out.print(f"graph     lag {st['graph_lag']:,} events not yet projected")
    out.print(f"dead letters {st.get('dlq', 0):,}")
    for name, meta in st.get("sources", {}).items():
        out.print(f"source    {name}{'' if meta.get('exists', True) else '  (missing)'}")
    for role, url in st.get("api", {}).items():
        out.print(f"api       {role}: {url} (docs at {url}/docs)")
    if d and d.get("degraded"):
        g = d["degraded"]
        out.print(f"DEGRADED  {g['reason']}: {g['detail']} (ingest stopped; retrying)", highlight=False)
    for problem in problems:
        err.print(f"[red]problem:[/red] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_ERROR)


@app.command()
def check(
    full: Annotated[
        bool, typer.Option("--full", help="SQLite's integrity_check instead of quick_check")
    ] = False,
) -> None:
    """Check the embedded stores: the event log's integrity (SQLite quick_check), that the graph opens,
    and that the graph's positions lie within the log's end. Exit 0 when sound, 1 on a problem.

    \b
    Example:
      watchman check && echo sound
    """
    from watchman.check import check_settings

    report = check_settings(get_settings(), full=full)
    for line in report.checked:
        out.print(f"checked   {line}", highlight=False)
    for problem in report.problems:
        err.print(f"[red]problem:[/red] {problem}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)
    out.print("ok")


# -- distributed ---------------------------------------------------------------------------------


def _distributed_settings() -> Settings:
    s = get_settings()
    if s.deployment != "distributed":
        raise fail(
            'this command is for the distributed deployment: set bus = "kafka://HOST:PORT" '
            '(and graph = "neo4j://HOST:PORT"); the embedded default runs with `watchman run`',
            EXIT_USAGE,
        )
    return s


class _Ticker:
    """Prints a status line at most every few seconds (or on a terminal, in place)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every if not err.is_terminal else 0.2
        self._last = 0.0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        if err.is_terminal:
            err.file.write("\r\x1b[2K" + text)
            err.file.flush()
        else:
            logging.getLogger("watchman").info(text)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _listen_option() -> Any:
    return typer.Option(
        "--api-listen",
        help="HOST:PORT of this process's admin API (health, metrics); '' turns it off; port 0 = any free",
        show_default=True,
    )


@app.command()
def produce(
    once: Annotated[bool, typer.Option(help="forward what the sources hold now, then exit")] = False,
    api_listen: Annotated[str, _listen_option()] = "127.0.0.1:9651",
) -> None:
    """Distributed producer: follow the logs into a local spool and forward it to Kafka.

    The spool (spool.sqlite in the data directory) is written with the file cursors in one
    transaction, then forwarded after Kafka acknowledges: when Kafka is down the spool grows on disk
    and catches up when it returns.
    """
    from watchman.daemon import AlreadyRunning, daemon_lock
    from watchman.distributed import run_producer

    s = _distributed_settings()
    tick = _Ticker()
    try:
        with daemon_lock(s.data_dir, role="produce"):
            c = run_producer(
                s,
                _stop_on_signals(),
                once=once,
                api_listen=api_listen,
                on_status=lambda c: tick(
                    f"ingested {c.ingested:,} · forwarded {c.forwarded:,} · spooled {c.spooled:,}"
                ),
            )
    except AlreadyRunning as exc:
        raise fail(str(exc), EXIT_BUSY) from None
    err.print(
        f"\nproducer stopped: ingested {c.ingested:,}, forwarded {c.forwarded:,}, spooled {c.spooled:,}"
    )


@app.command()
def worker(
    loglevel: Annotated[str, typer.Option(help="Faust's log level")] = "WARNING",
    stall_after: Annotated[
        float, typer.Option(min=5, help="exit (status 3) when records wait but none is handled this long")
    ] = 90.0,
    api_listen: Annotated[str, _listen_option()] = "127.0.0.1:9652",
) -> None:
    """Distributed processors: a Faust worker running the decide functions as agents.

    Reads watchman.raw.* and writes watchman.events.*; its state lives in Faust tables changelogged
    to Kafka. Start more workers to share the partitions. Run it under a supervisor that restarts it
    (systemd Restart=always, compose restart: unless-stopped): it exits rather than hang when stalled.
    """
    from watchman.distributed import run_worker

    s = _distributed_settings()
    run_worker(s, loglevel=loglevel, stall_after=stall_after, api_listen=api_listen)


@app.command()
def project(
    once: Annotated[bool, typer.Option(help="apply what the domain topics hold now, then exit")] = False,
    api_listen: Annotated[str, _listen_option()] = "127.0.0.1:9653",
) -> None:
    """Distributed projector: apply the Kafka domain topics to the graph store (Neo4j) in batches.

    The last applied offset per partition is stored in the graph in the same transaction as the
    writes, so a killed projector resumes exactly where the graph is.
    """
    from watchman.distributed import run_projector

    s = _distributed_settings()
    tick = _Ticker()
    c = run_projector(
        s,
        _stop_on_signals(),
        once=once,
        on_status=lambda c: tick(f"projected {c.projected:,}"),
        api_listen=api_listen,
    )
    err.print(f"\nprojector stopped: projected {c.projected:,}")


# -- token ---------------------------------------------------------------------------------------


METRICS_OPTION = typer.Option(
    "--metrics", help="the metrics token (reads /admin/metrics only: give it to Prometheus) instead"
)


@token_app.command("show")
def token_show(metrics: Annotated[bool, METRICS_OPTION] = False) -> None:
    """Print the token (creating it if there is none yet), e.g. for curl -H "Authorization: Bearer …".

    \b
    Examples:
      watchman token show                  # the admin token: every endpoint
      watchman token show --metrics        # the metrics token: /admin/metrics only
    """
    from watchman.api import TokenFile

    s = get_settings()
    print(TokenFile(s.api_metrics_token_path if metrics else s.api_token_path).ensure())


@token_app.command("rotate")
def token_rotate(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    metrics: Annotated[bool, METRICS_OPTION] = False,
) -> None:
    """Replace the token; running processes accept only the new one from their next request on.

    \b
    Example:
      watchman token rotate --yes
      watchman token rotate --metrics --yes
    """
    from watchman.api import TokenFile

    s = get_settings()
    path = s.api_metrics_token_path if metrics else s.api_token_path
    which = "metrics token" if metrics else "API token"
    question = f"Replace the {which} in {path}? Callers using the old one stop working"
    if not yes and not typer.confirm(question):
        raise fail("not rotated", EXIT_USAGE)
    TokenFile(path).rotate()
    show = "watchman token show --metrics" if metrics else "watchman token show"
    err.print(f"watchman: new {which} in {path} (`{show}` prints it)")


# -- config --------------------------------------------------------------------------------------


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings as JSON (defaults, file and environment merged)."""
    s = get_settings()
    data = s.model_dump(mode="json")
    data["bus"], data["graph"] = s.bus_url, s.graph_url
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


@config_app.command("check")
def config_check() -> None:
    """Validate the settings and say which sources exist on this host."""
    s = get_settings()
    try:
        check_urls(s.bus_url, s.graph_url)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(f"settings ok ({s.deployment}); data dir {s.data_dir}")
    out.print(f"  bus      {s.bus_url}")
    out.print(f"  graph    {s.graph_url}")
    for kind, path in s.packages.logs():
        out.print(f"  {kind:8} {path}  {'found' if path.exists() else 'not present (watched)'}")
    for prefix in s.packages.brew:
        out.print(f"  {'brew':8} {prefix}  {'found' if prefix.exists() else 'not present (watched)'}")
    j = s.journald
    if not j.enabled:
        out.print(f"  {'journald':8} off")
    elif j.files or j.directories:
        for p in (*j.files, *j.directories):
            out.print(f"  {'journald':8} {p}  {'found' if p.exists() else 'not present'}")
    else:
        system = [p for p in (Path("/var/log/journal"), Path("/run/log/journal")) if p.exists()]
        where = ", ".join(map(str, system)) if system else "no journal directory found"
        out.print(f"  {'journald':8} the system journal ({where})")
    checks = len(s.services.health_checks)
    metrics = "on" if s.services.metrics_enabled else "off"
    restart = "allowed" if s.services.auto_restart.allowed else "refused"
    out.print(f"  {'services':8} metrics {metrics}; {checks} health check(s); auto-restart {restart}")
    n = s.network
    if n.enabled:
        scope = f"namespace {n.netns}" if n.netns else "this host's namespace"
        lookup = n.external_ip_url or "off"
        out.print(
            f"  {'network':8} netlink in {scope}; scans every {n.scan_interval:g} s; external IP {lookup}"
        )
    else:
        out.print(f"  {'network':8} off")
    sock = s.docker.socket()
    state = "on" if s.docker.active() else "off"
    found = "" if sock is None else f"  ({'found' if sock.exists() else 'not present'})"
    out.print(f"  {'docker':8} {state}: {s.docker.base_url}{found}")
    api = s.api_listen or "off"
    token = "exists" if s.api_token_path.exists() else "created on first start"
    out.print(f"  {'api':8} {api}; token {s.api_token_path} ({token})")
    token = "exists" if s.api_metrics_token_path.exists() else "created on first start"
    out.print(f"  {'':8} metrics-only token {s.api_metrics_token_path} ({token})")


def main() -> None:
    app(prog_name="watchman")
