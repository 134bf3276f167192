"""`watchman tail`, `watchman why`, `watchman timeline` and `watchman history snapshot` (the timetravel
domain); `watchman query --at` lives with `query` and uses the same time machine."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from watchman.cli.common import EXIT_USAGE, err, fail, get_settings, out
from watchman.timetravel.times import BadTime, parse_duration, parse_time

if TYPE_CHECKING:
    from watchman.timetravel.cut import TimeMachine


def _when(text: str | None, what: str) -> datetime:
    now = datetime.now(UTC)
    if text is None:
        return now
    try:
        return parse_time(text, now)
    except BadTime as exc:
        raise fail(f"{what}: {exc}", EXIT_USAGE) from None


def _duration(text: str, what: str) -> timedelta:
    try:
        return parse_duration(text)
    except BadTime as exc:
        raise fail(f"{what}: {exc}", EXIT_USAGE) from None


@contextmanager
def _machine() -> Iterator[TimeMachine]:
    """The time machine of these settings; no log yet is a clear error, not a traceback."""
    from watchman.timetravel.service import NoLog, time_machine

    try:
        with time_machine(get_settings()) as tm:
            yield tm
    except NoLog as exc:
        raise fail(str(exc)) from None


def _write(doc: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
    sys.stdout.buffer.flush()


def tail(
    domain: Annotated[list[str] | None, typer.Option("--domain", "-d", help="a domain, repeatable")] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="a topic by name, repeatable")
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="the raw (observation) topics too")] = False,
    type_: Annotated[list[str] | None, typer.Option("--type", help="event type, repeatable")] = None,
    host: Annotated[list[str] | None, typer.Option("--host", help="host, repeatable")] = None,
    subject: Annotated[
        list[str] | None, typer.Option("--subject", "-s", help="subject pattern (* ?)")
    ] = None,
    from_: Annotated[
        str,
        typer.Option("--from", "-o", help="beginning | end | a time (ISO 8601, epoch s, 30m = 30 min ago)"),
    ] = "end",
    exit_at_end: Annotated[
        bool, typer.Option("--exit", "-e", help="stop at the end instead of following")
    ] = False,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="POST matching events to this URL (at least once)")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="the subscription's name (its position on the bus)")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="bearer token for the webhook, or secret:NAME")
    ] = None,
) -> None:
    """Follow the event log, in either deployment, as JSON lines (kcat's habits: -o beginning, -e).

    With --webhook it is a subscription: matching events are POSTed as {"group", "events": [...]},
    and the group's position moves on only when the receiver answered 2xx (at least once; a failure
    is retried with the same batch after 1 s, doubling to 5 min).

    \b
    Examples:
      watchman tail                                   # new domain events as they come
      watchman tail -o beginning -e -d packages       # the whole package history, then exit
      watchman tail -o 2h --type ServiceFailed --host web1 -s 'nginx*'
      watchman tail --webhook https://hooks.example/w --group ops --type ServiceFailed
    """
    from watchman.timetravel.service import NoLog, open_reader
    from watchman.timetravel.tail import (
        BEGINNING,
        END,
        Subscription,
        TailFilter,
        follow,
        select_topics,
        start_positions,
    )

    try:
        topics = select_topics(domain or (), topic or (), raw=raw)
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_USAGE) from None
    start: str | datetime = from_ if from_ in (BEGINNING, END) else _when(from_, "--from")
    flt = TailFilter(frozenset(type_ or ()), frozenset(host or ()), tuple(subject or ()))
    s = get_settings()
    stop = threading.Event()
    try:
        bus = open_reader(s)
    except NoLog as exc:
        raise fail(str(exc)) from None
    try:
        if webhook is not None:
            if not group:
                raise fail(
                    "--webhook needs --group NAME (the subscription's position on the bus)", EXIT_USAGE
                )
            secret = ""
            if token:
                from watchman.secrets import Secrets

                secret = Secrets(s.data_dir / "secrets").resolve(token)
            if s.bus_url.startswith("sqlite://"):  # a consumer group is a write: the log, not read-only
                bus.close()
                from watchman.wiring import open_log

                bus = open_log(s.bus_url)
            sub = Subscription(bus, webhook, f"webhook:{group}", topics, flt, token=secret)
            n = sub.run(start, stop, exit_at_end=exit_at_end)
            err.print(f"delivered {n} events to {webhook}")
            return
        positions = start_positions(bus, topics, start)
        follow(bus, positions, flt, _write, exit_at_end=exit_at_end, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        bus.close()


def why(
    subject: Annotated[str, typer.Argument(help="what broke: a unit (nginx), a container, a backup job…")],
    at: Annotated[
        str | None, typer.Option("--at", help="as the graph was at this time (default now)")
    ] = None,
    window: Annotated[str, typer.Option("--window", "-w", help="how far back before the failure")] = "30m",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    json_: Annotated[bool, typer.Option("--json", help="one JSON document instead of text")] = False,
) -> None:
    """What changed on the host in the window before SUBJECT's latest failure, ranked, with evidence.

    Ranked by how close before the failure a change came, and by what links it to SUBJECT in the graph:
    a change to its package (+2), its config file (+2), a firewall rule of its port (+1.5).

    \b
    Examples:
      watchman why nginx                      # its latest failure, the 30 min before
      watchman why nginx --window 2h --at '2026-12-01T10:00:00Z' --json
    """
    from watchman.cli.query import _run_query
    from watchman.timetravel.service import rows_query
    from watchman.timetravel.why import NothingToExplain, explain

    when = _when(at, "--at")
    span = _duration(window, "--window")
    try:
        if at is None:
            result = explain(
                rows_query(lambda c, p: _run_query(c, dict(p), read_only=True)), subject, when, span, limit
            )
        else:
            with _machine() as tm, tm.at(when) as (store, _cut):

                def run(cypher: str, params: Any) -> tuple[list[str], list[list[Any]]]:
                    r = store.query(cypher, params, read_only=True)
                    return r.columns, r.rows

                result = explain(rows_query(run), subject, when, span, limit)
    except NothingToExplain as exc:
        raise fail(str(exc)) from None
    if json_:
        _write(result.to_json())
        return
    f = result.failure
    out.print(
        f"[bold]{f['type']}[/bold] {f['subject']} on {f['host']} at {f['ts']}: {f.get('summary') or ''}"
    )
    if not result.causes:
        out.print(f"no changes on {f['host']} in the {window} before it")
    for i, c in enumerate(result.causes, 1):
        ch = c.change
        out.print(f"{i:>2}. [{c.score:.2f}] {ch.ts.isoformat()} {ch.type} {ch.subject}: {ch.summary}")
        for e in c.evidence:
            out.print(f"      - {e}")


def timeline(
    since: Annotated[str, typer.Option("--since", help="from this time or this long ago")] = "1d",
    until: Annotated[str | None, typer.Option("--until", help="up to this time (default now)")] = None,
    domain: Annotated[list[str] | None, typer.Option("--domain", "-d", help="a domain, repeatable")] = None,
    host: Annotated[list[str] | None, typer.Option("--host", help="host, repeatable")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1_000_000)] = 10_000,
    json_: Annotated[bool, typer.Option("--json", help="JSON lines instead of text")] = False,
) -> None:
    """Every domain's changes in one list, oldest first, read from the event log.

    \b
    Examples:
      watchman timeline --since 1d
      watchman timeline --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z -d packages --json
    """
    from watchman.timetravel.tail import select_topics
    from watchman.timetravel.timeline import domain_of
    from watchman.timetravel.timeline import timeline as build

    try:
        topics = select_topics(domain or ())
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_USAGE) from None
    start, end = _when(since, "--since"), _when(until, "--until")
    with _machine() as tm:
        lines = build(
            tm,
            start,
            end,
            domains=frozenset(domain_of(t) for t in topics) if domain else frozenset(),
            hosts=frozenset(host or ()),
            limit=limit,
        )
    if not lines:
        err.print("no changes")
    for x in lines:
        if json_:
            _write(x)
        else:
            out.print(
                f"{x['ts']}  {x['host']}  {x['domain']:<14} {x['type']:<22} {x['summary'] or x['subject']}",
                markup=False,
                highlight=False,
            )


app = typer.Typer(
    help="The time-travel cache: snapshots of the graph at cut points (query --at).", no_args_is_help=True
)


@app.command("snapshot")
def snapshot(
    every: Annotated[
        int | None, typer.Option("--every", min=1, help="records of event time between snapshots")
    ] = None,
) -> None:
    """Build snapshots over the whole history, so every `query --at` replays at most EVERY records.

    \b
    Example:
      watchman history snapshot --every 50000
    """

    with _machine() as tm:
        made = tm.build_snapshots(every)
        out.print(f"{made} new snapshots; {len(tm.snapshots())} in {tm.dir}")


def extend(root: typer.Typer) -> None:
    """The domain's commands on the root app (one collecting line in watchman/cli/__init__.py)."""
    root.command()(tail)
    root.command()(why)
    root.command()(timeline)
    root.add_typer(app, name="history")
