"""The timetravel domain's glue for the CLI and the API: its bus reader and time machine from settings,
and query functions over a graph store or a row-returning callable."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchman.bus.base import Bus
from watchman.timetravel.cut import Cut, TimeMachine
from watchman.timetravel.why import QueryFn

if TYPE_CHECKING:
    from watchman.settings import Settings


class NoLog(FileNotFoundError):
    """The embedded log does not exist yet (nothing was ever observed here)."""


def open_reader(settings: Settings) -> Bus:
    """The bus to read: the embedded log read-only (the daemon writes it), or Kafka."""
    from watchman.wiring import open_bus, open_log

    if settings.bus_url.startswith("sqlite://"):
        path = Path(settings.bus_url[len("sqlite://") :])
        if not path.exists():
            raise NoLog(f"no event log at {path} yet: start `watchman run` (or `watchman run --once`)")
        return open_log(settings.bus_url, read_only=True)
    return open_bus(settings.bus_url)


@contextmanager
def time_machine(settings: Settings) -> Iterator[TimeMachine]:
    t = settings.timetravel
    bus = open_reader(settings)
    try:
        tm = TimeMachine(
            bus, t.cache(settings.data_dir), snapshot_every=t.snapshot_every, keep_snapshots=t.keep_snapshots
        )
        try:
            yield tm
        finally:
            tm.close()
    finally:
        bus.close()


def as_time(value: Any) -> Any:
    """Store values to aware UTC datetimes (stores keep naive UTC; JSON answers carry ISO text)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return as_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


TIME_COLUMNS = frozenset({"ts", "failed_at"})


def rows_query(run: Callable[[str, Mapping[str, Any]], tuple[list[str], list[list[Any]]]]) -> QueryFn:
    """A why.QueryFn over anything that answers (columns, rows); its time columns become datetimes."""

    def query(cypher: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        columns, rows = run(cypher, params)
        return [
            {c: as_time(v) if c in TIME_COLUMNS else v for c, v in zip(columns, row, strict=True)}
            for row in rows
        ]

    return query


def query_at(
    settings: Settings, cypher: str, params: Mapping[str, Any], at: datetime
) -> tuple[list[str], list[list[Any]], Cut]:
    """Read-only Cypher on the graph as it was at `at`."""
    with time_machine(settings) as tm:
        result, cut = tm.query(cypher, params, at)
    return result.columns, result.rows, cut
