"""`watchman status`: positions, lags, counts and dead letters, from the bus and the graph."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from schemas.core import DLQ
from schemas.topics import RAW_TOPICS, TOPICS
from watchman.forwarder import GROUP as FORWARDER_GROUP
from watchman.settings import Settings
from watchman.state import CursorStore
from watchman.wiring import (
    graph_path,
    open_bus,
    open_log,
    open_settings_graph,
)

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    from watchman.bus.base import Bus
    from watchman.daemon_client import DaemonClient
from watchman.cli.common import EXIT_ERROR, err, get_settings, out


def collect_status(s: Settings) -> dict[str, Any]:
    """Positions, lags, counts and DLQ size, from the bus and the graph (never writing either)."""
    from watchman.daemon_client import DaemonClient

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
    if isinstance(cursor.get("items"), dict) and "digest" in cursor:
        # A snapshot source's cursor is the whole last snapshot (a package database: hundreds of
        # packages): its size and digest say enough here.
        out["cursor"] = {"digest": cursor["digest"], "items": len(cursor["items"])}
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


# Why a domain topic holds more records than there were changes (about twice as many after a backfill).
DOMAIN_RECORDS_NOTE = (
    "note: a domain topic keeps every emission of an event: a change two logs tell (apt and dpkg, "
    "dnf and dnf.rpm) is emitted again under the same id when its second telling is merged in, so "
    "watchman.events.* counts up to twice the changes; the graph holds one Event per id."
)


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
    if any(name.startswith("watchman.events.") for name in st.get("topics", {})):
        out.print(DOMAIN_RECORDS_NOTE, style="dim")
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
        err.print(f"[red]problem:[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(EXIT_ERROR)
