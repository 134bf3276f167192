"""Integrity of the embedded stores: is the event log sound, does the graph open, is it within the log?

The log is the truth and cannot be rebuilt from anything here: a damaged log stops the commands
that would read it, with a message naming the way back (a backup, or what SQLite can salvage). The
graph is a projection: a graph that does not open, or that claims records the log does not hold (the
log lost its WAL), is moved aside and rebuilt from the log (see `recover_graph`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from projections.stores.base import GraphStore
from schemas.topics import DOMAIN_TOPICS
from watchman import metrics
from watchman.bus.base import Bus
from watchman.degraded import is_disk_full

if TYPE_CHECKING:
    from watchman.settings import Settings

log = logging.getLogger(__name__)

GRAPH_REBUILDS = Counter(
    "watchman_graph_rebuilds_total",
    "Times the daemon moved a graph aside and rebuilt it from the event log, by reason "
    "(unreadable: the graph does not open; ahead: it holds positions past the log's end).",
    ["reason"],
    registry=metrics.REGISTRY,
)
for _reason in ("unreadable", "ahead"):
    GRAPH_REBUILDS.labels(_reason)


class LogDamaged(RuntimeError):
    """The event log fails SQLite's integrity check (or cannot be read): str() is the whole advice."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(damaged_log_advice(path, detail))


def damaged_log_advice(path: Path, detail: str) -> str:
    d = path.parent
    return (
        f"the event log {path} is damaged ({detail}). It is the source of truth, so Watchman will not run "
        f"on it nor rebuild the graph from it. Stop every watchman process of {d}, rename {path.name} to "
        f"{path.name}.damaged (and {path.name}-wal to {path.name}.damaged-wal if there is one; delete "
        f"{path.name}-shm), then either restore {path.name} from a backup, or salvage what SQLite can "
        f"still read: `sqlite3 {d}/{path.name}.damaged .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' "
        f"| sqlite3 {path}` (the shell skips what it cannot read and ends such a dump with a ROLLBACK; "
        f"records on the damaged pages are lost). Then `watchman replay` "
        f'rebuilds the graph from it (docs/operations.md, "Corruption and a full disk").'
    )


def _flat(findings: list[str], limit: int = 2) -> str:
    """SQLite's findings on one line: the first few, without its header."""
    lines = [x.strip() for f in findings for x in f.splitlines() if x.strip() and not x.startswith("***")]
    return "; ".join(lines[:limit]) or "unknown damage"


def is_corruption(exc: BaseException) -> bool:
    """Whether a SQLite error says the file is damaged (not busy, not full)."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


# Up to this size `watchman status` also runs SQLite's quick_check over the whole log; beyond, only
# `watchman check` does (a multi-GB log takes seconds).
STATUS_QUICK_CHECK_MAX = 64 * 2**20


def log_integrity(path: Path, *, full: bool = False, limit: int = 5) -> list[str]:
    """SQLite's own check of the log file: [] when sound, else its first `limit` findings.

    quick_check (the default) reads every page but skips the index-content comparison;
    integrity_check (full) compares them too, and takes longer on a large log.
    """
    if not path.exists():
        return []
    pragma = "integrity_check" if full else "quick_check"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=10000")
            rows = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}({int(limit)})")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def require_sound_log(path: Path) -> None:
    """Raise LogDamaged unless the log passes quick_check."""
    problems = log_integrity(path)
    if problems:
        raise LogDamaged(path, _flat(problems))


def positions_ahead(bus: Bus, positions: Mapping[str, int]) -> list[str]:
    """Graph positions at or past the end of their domain partition in the log: the graph holds records
    the log does not (the log lost its last transactions, e.g. its WAL file)."""
    ahead: list[str] = []
    for topic in DOMAIN_TOPICS:
        try:
            ends = bus.end_offsets(topic.name)
        except KeyError:
            ends = {}
        for p in range(max(len(ends), 1)):
            name = f"{topic.name}/{p}"
            if name in positions and positions[name] >= ends.get(p, 0):
                ahead.append(f"{name}: graph at {positions[name]:,}, log ends at {ends.get(p, 0):,}")
    return ahead


@dataclass
class Report:
    """What `watchman check` (or the cheap part in `status`) found; ok when problems is empty."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_embedded(
    log_path: Path, graph_positions: Mapping[str, int] | None, graph_error: str | None, *, full: bool
) -> Report:
    """The log's integrity, whether the graph opened, and whether its positions lie within the log."""
    from watchman.bus.sqlite_log import SqliteLog

    report = Report()
    problems = log_integrity(log_path, full=full)
    report.checked.append(f"log {log_path}: {'integrity_check' if full else 'quick_check'}")
    if problems:
        report.problems.append(damaged_log_advice(log_path, _flat(problems)))
        return report
    if graph_error is not None:
        report.problems.append(
            f"the graph cannot be opened ({graph_error}); `watchman run` moves it aside and rebuilds it "
            "from the event log (or run `watchman replay`)"
        )
        return report
    report.checked.append("graph opens")
    if graph_positions is None or not log_path.exists():
        return report
    bus = SqliteLog(log_path, read_only=True)
    try:
        ahead = positions_ahead(bus, graph_positions)
    except sqlite3.DatabaseError as exc:
        report.problems.append(damaged_log_advice(log_path, str(exc)))
        return report
    finally:
        bus.close()
    report.checked.append("graph positions within the log")
    if ahead:
        report.problems.append(
            "the graph holds positions past the end of the event log (the log lost its last "
            f"transactions, e.g. its WAL file): {'; '.join(ahead[:3])}. `watchman run` moves the graph "
            "aside and rebuilds it from the log; events the log lost come back as the sources are "
            "read again"
        )
    return report


def move_aside(path: Path, why: str) -> Path:
    """Rename a graph directory to `<name>.<why>-<time>` (kept for inspection); returns the new path."""
    aside = path.with_name(f"{path.name}.{why}-{int(time.time())}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.{why}-{int(time.time())}-{n}")
        n += 1
    path.rename(aside)
    return aside


def graph_unreadable(path: Path, exc: BaseException) -> Path:
    """Move an embedded graph that does not open aside (counted); the caller opens a fresh one."""
    aside = move_aside(path, "corrupt")
    GRAPH_REBUILDS.labels("unreadable").inc()
    log.warning(
        "the graph %s cannot be opened (%s); moved it to %s and rebuilding it from the event log",
        path,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        aside,
    )
    return aside


def graph_ahead(path: Path, ahead: list[str]) -> Path:
    """Move a graph whose positions run past the log aside (counted); the caller opens a fresh one."""
    aside = move_aside(path, "ahead")
    GRAPH_REBUILDS.labels("ahead").inc()
    log.warning(
        "the graph %s holds positions past the end of the event log (%s); the log lost its last "
        "transactions: moved the graph to %s and rebuilding it from the log",
        path,
        "; ".join(ahead[:3]),
        aside,
    )
    return aside


def open_checked_graph(graph_url: str, bus: Bus) -> GraphStore:
    """The daemon's graph: a LadybugDB graph that does not open, or whose positions run past the log's
    end, is moved aside and a fresh one opened (the projection rebuilds it from offset zero)."""
    from projections.stores.ladybug import GraphLocked, LadybugStore
    from watchman.wiring import graph_path, open_graph

    if not graph_url.startswith("ladybug://"):
        return open_graph(graph_url)
    path = graph_path(graph_url)
    store: GraphStore | None = None
    try:
        store = LadybugStore(path)
        store.ensure_schema()
        positions = store.positions()
    except GraphLocked:
        raise
    except RuntimeError as exc:  # LadybugDB reports a damaged file as RuntimeError
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()
        if is_disk_full(exc):
            raise  # a sound graph on a full disk: the caller waits for space, the graph stays
        graph_unreadable(path, exc)
        return LadybugStore(path)
    ahead = positions_ahead(bus, positions)
    if ahead:
        store.close()
        graph_ahead(path, ahead)
        return LadybugStore(path)
    return store


def remove_partial(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _log_path(settings: Settings) -> Path:
    return Path(settings.bus_url[len("sqlite://") :])


def graph_positions(settings: Settings) -> tuple[dict[str, int] | None, str | None]:
    """(the graph's positions, None) or (None, why the graph cannot be opened); through the running
    daemon when there is one. (None, None): no graph yet, or it is busy in another process."""
    from projections.stores.ladybug import GraphLocked
    from watchman.daemon_client import DaemonClient
    from watchman.wiring import graph_path, open_settings_graph

    client = DaemonClient.connect(settings)
    if client is not None:
        answer = next(client.request({"op": "positions"}))
        return answer.get("positions"), answer.get("error")
    if settings.graph_url.startswith("ladybug://") and not graph_path(settings.graph_url).exists():
        return None, None
    try:
        with open_settings_graph(settings) as store:
            return store.positions(), None
    except GraphLocked:
        return None, None
    except RuntimeError as exc:  # LadybugDB reports a damaged file as RuntimeError
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_settings(settings: Settings, *, full: bool) -> Report:
    """`watchman check`: every check, the log's read of every page included."""
    if settings.deployment != "embedded":
        report = Report()
        report.checked.append("nothing: `watchman check` checks the embedded stores (SQLite log, LadybugDB)")
        return report
    log_path = _log_path(settings)
    if log_integrity(log_path, full=full):  # do not open a graph beside a log we will not trust
        return check_embedded(log_path, None, None, full=full)
    positions, error = graph_positions(settings)
    return check_embedded(log_path, positions, error, full=full)


def quick_status_check(
    settings: Settings, collect: Callable[[Settings], dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """`watchman status`: the status, and the problems its cheap checks found (the log answers, and reads
    whole up to 64 MiB, the graph opens, the graph lies within the log); `watchman check` also reads every
    page of a larger log and compares the indexes."""
    if settings.deployment != "embedded":
        return collect(settings), []
    log_path = _log_path(settings)
    try:
        status = collect(settings)
    except sqlite3.DatabaseError as exc:
        status = {
            "deployment": settings.deployment,
            "data_dir": str(settings.data_dir),
            "host": settings.host,
        }
        status |= {"daemon": None, "topics": {}}
        if is_corruption(exc):
            return status, [damaged_log_advice(log_path, str(exc))]
        if "no such table" not in str(exc):
            raise
        # A log file without its tables: it lost its WAL before the first checkpoint.
        positions, _ = graph_positions(settings)
        if positions and any(v >= 0 for v in positions.values()):
            return status, [
                f"the event log {log_path} holds none of its tables but the graph holds records from it: the "
                "log lost everything it held (its WAL file?). `watchman run` starts a new log, moves the "
                "graph aside and rebuilds it as the sources are read again"
            ]
        return status, []
    # A small log is read whole (quick_check, ~10 ms a MiB): whether a damaged page is one the status
    # queries touch depends on where the damage fell, and a status must not say ok over a damaged log.
    if log_path.exists() and log_path.stat().st_size <= STATUS_QUICK_CHECK_MAX:
        found = log_integrity(log_path)
        if found:
            return status, [damaged_log_advice(log_path, _flat(found))]
    degraded = (status.get("daemon") or {}).get("degraded")
    if degraded:
        return status, [
            f"the daemon is degraded ({degraded['reason']}: {degraded['detail']}): it stopped ingesting and "
            f"retries with backoff; free space in {settings.data_dir} and it resumes, losing nothing"
        ]
    positions, error = graph_positions(settings)
    if error is not None:
        return status, [
            f"the graph cannot be opened ({error}); `watchman run` moves it aside and rebuilds it from the "
            "event log (or run `watchman replay`)"
        ]
    if positions is None or not log_path.exists():
        return status, []
    report = check_embedded(log_path, positions, None, full=False) if _ahead(status, positions) else Report()
    return status, [p for p in report.problems if "past the end" in p]


def _ahead(status: Mapping[str, Any], positions: Mapping[str, int]) -> bool:
    for topic, meta in status.get("topics", {}).items():
        for p, end in meta.get("end_offsets", {}).items():
            if positions.get(f"{topic}/{p}", -1) >= end:
                return True
    return False
