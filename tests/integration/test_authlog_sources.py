"""One source tells authentication: auth log files or the journal, never both (real files, real journal)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.authlog.source import AuthLogSource
from producers.journald.source import JournaldSource
from schemas.envelope import Envelope
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import RAW_JOURNAL
from tests.support.journal import Entries, build_journal
from watchman.bus.sqlite_log import SqliteLog
from watchman.domains.services import authlog_followed
from watchman.domains.services import sources as _journal_and_service_sources
from watchman.settings import Settings
from watchman.state import CursorStore

SECURITY = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SECURITY)
T0 = datetime(2026, 12, 4, 15, 27, 36, tzinfo=UTC)
SUDO = "    root : PWD=/root ; USER=alice ; COMMAND=/usr/bin/id"


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", host="h", services={"metrics_enabled": False}, **kw)


def both(tmp_path: Path) -> tuple[Path, Path]:
    """The same sudo line, as journald and rsyslog each stored it."""
    e = Entries()
    e.add(T0, SUDO, PRIORITY=5, SYSLOG_IDENTIFIER="sudo", SYSLOG_FACILITY=10, _PID=4711, _COMM="sudo",
          _TRANSPORT="syslog", _SYSTEMD_UNIT="session-3.scope")  # fmt: skip
    e.add(
        T0,
        "ERROR: disk almost full",
        PRIORITY=3,
        SYSLOG_IDENTIFIER="app",
        _PID=12,
        _SYSTEMD_UNIT="app.service",
    )
    journal_file = build_journal(tmp_path / "j" / "system.journal", e)
    log = tmp_path / "auth.log"
    log.write_text(f"Dec  4 15:27:36 h sudo: {SUDO}\n")
    return journal_file, log


def run(sources: list[Any]) -> list[Envelope]:
    table = MemoryTable()
    out: list[Envelope] = []
    for source in sources:
        if isinstance(source, JournaldSource | AuthLogSource):
            for raw in source.poll(100).observations:
                out.extend(SECURITY.handle(raw.to_json(), table))
            source.close()
    return out


def sources_for(tmp_path: Path, s: Settings) -> list[Any]:
    log = SqliteLog(tmp_path / "log.sqlite")
    try:
        return _journal_and_service_sources(s, CursorStore(log))
    finally:
        log.close()


def test_files_and_journal_on_together_tell_each_line_once(tmp_path: Path) -> None:
    journal_file, log = both(tmp_path)
    s = settings(
        tmp_path,
        journald={"files": [journal_file], "backfill_hours": 24 * 3650},
        authlog={"enabled": True, "files": [log]},
    )
    assert authlog_followed(s)
    srcs = sources_for(tmp_path, s)
    assert {type(x).__name__ for x in srcs} == {"JournaldSource", "AuthLogSource"}
    assert [o.type for o in run(srcs)] == ["SudoCommandRun"]


def test_auto_leaves_authentication_to_the_journal_when_there_is_one(tmp_path: Path) -> None:
    journal_file, log = both(tmp_path)
    s = settings(
        tmp_path, journald={"files": [journal_file], "backfill_hours": 24 * 3650}, authlog={"files": [log]}
    )
    assert not authlog_followed(s)
    srcs = sources_for(tmp_path, s)
    assert [type(x).__name__ for x in srcs] == ["JournaldSource"]
    assert [(o.type, o.payload["unit"]) for o in run(srcs)] == [("SudoCommandRun", "session-3.scope")]


def test_auto_follows_the_files_without_a_journal(tmp_path: Path) -> None:
    _, log = both(tmp_path)
    s = settings(tmp_path, journald={"enabled": False}, authlog={"files": [log]})
    assert authlog_followed(s)
    srcs = sources_for(tmp_path, s)
    assert [type(x).__name__ for x in srcs] == ["AuthLogSource"]
    assert [o.type for o in run(srcs)] == ["SudoCommandRun"]


def test_off_is_off(tmp_path: Path) -> None:
    s = settings(tmp_path, journald={"enabled": False}, authlog={"enabled": False})
    assert sources_for(tmp_path, s) == []
