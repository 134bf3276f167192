"""The package-database source on a real status file: history first, rescans, TriggerScan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from producers.packages.inventory_source import DatabaseSource

PARA = "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_waits_for_the_logs_then_reports_only_changes_at_rescans_and_on_trigger(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(PARA.format(name="bash", version="5.2-1") + PARA.format(name="zsh", version="5.9-4"))
    logs_done = False
    clock = Clock()
    src = DatabaseSource(
        "dpkg-status",
        status,
        "h1",
        None,
        interval=60,
        clock=clock,
        native_arch="amd64",
        ready=lambda: logs_done,
    )
    assert src.poll(100).observations == []  # the logs are still being read
    logs_done = True
    first = src.poll(100)
    assert sorted(e.subject for e in first.observations) == ["bash", "zsh"]
    assert first.cursor is not None

    status.write_text(PARA.format(name="bash", version="5.2-2"))
    assert src.poll(100).observations == []  # not yet time for a rescan
    src.scan_now()  # TriggerScan
    changed = src.poll(100)
    got = sorted((e.subject, e.payload["state"], e.payload["new_version"]) for e in changed.observations)
    assert got == [("bash", "installed", "5.2-2"), ("zsh", "purged", None)]

    # A restart with the saved cursor reports only what changed while it was down.
    status.write_text(PARA.format(name="bash", version="5.2-2") + PARA.format(name="fish", version="3.6.0-3"))
    again = DatabaseSource("dpkg-status", status, "h1", changed.cursor, interval=60, clock=clock)
    assert [e.subject for e in again.poll(100).observations] == ["fish"]
    clock.now += timedelta(seconds=61)
    assert again.poll(100).observations == []  # rescanned, nothing changed


def test_an_unreadable_database_is_told_once_and_does_not_stop_the_source(tmp_path: Path) -> None:
    src = DatabaseSource("rpmdb", tmp_path / "missing", "h1", None, interval=60)
    assert src.poll(100).observations == []
    src.scan_now()
    assert src.poll(100).observations == []


def test_trigger_scan_scans_only_what_exists_and_counts_the_rest(tmp_path: Path) -> None:
    from producers.packages.sources import BrewSource
    from schemas.events import TriggerScan, command_envelope
    from watchman.executors import ExecContext
    from watchman.executors.scan import trigger_scan

    there = tmp_path / "brew"
    there.mkdir()
    sources = [
        BrewSource(there, "h1"),
        BrewSource(tmp_path / "nope", "h1"),
        BrewSource(tmp_path / "no2", "h1"),
    ]
    ctx = ExecContext(host="h1", sources=sources, now=lambda: datetime.now(UTC))
    cmd = TriggerScan(issued_by="test")
    env = command_envelope(cmd, host="h1", source="test", issued_at=datetime.now(UTC), dedup_key="k")
    outcome, detail = trigger_scan(env, cmd, ctx)
    assert outcome.TYPE == "CommandSucceeded"
    assert detail == f"triggered 1 scanner(s): brew:{there}; 2 more do not exist yet"


def test_the_first_snapshot_names_what_the_logs_told_of_and_the_database_lacks(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        PARA.format(name="bash", version="5.2-1")
        + "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2025b-0\n\n"
    )
    told = {("bash", "amd64"), ("tzdata", "amd64"), ("ghost", "amd64"), ("ghost", "all"), ("libc6", "i386")}
    src = DatabaseSource(
        "dpkg-status", status, "h1", None, interval=60, native_arch="amd64", told=lambda: told
    )
    first = src.poll(100)
    absent = sorted(
        (e.subject, e.payload["arch"]) for e in first.observations if e.payload["state"] == "purged"
    )
    # apt writes tzdata:amd64 for an Architecture: all package: the same package; ghost once; a foreign arch
    assert absent == [("ghost", "all"), ("libc6", "i386")]
    status.write_text(PARA.format(name="bash", version="5.2-2"))
    src.scan_now()
    later = sorted((e.subject, e.payload["state"]) for e in src.poll(100).observations)
    assert later == [("bash", "installed"), ("tzdata", "purged")]  # a diff, not the logs' names again
