"""The service domain on real journal files (systemd-journal-remote) with systemd 252's own message texts:
unit types, skipped units, oneshots that finish, start jobs that fail alone, and user journals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from systemd import journal

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.journald.entries import observe, raw_envelope
from producers.journald.source import JournaldSource
from schemas.envelope import Envelope
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import EVENTS_SERVICES, RAW_JOURNAL
from tests.support import journal as j
from tests.support.journal import Entries, build_journal

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SERVICES = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SERVICES)
SECURITY = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SECURITY)
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"  # sd-messages.h SD_MESSAGE_UNIT_FAILED


def decide(path: Path, route: Any = SERVICES) -> list[Envelope]:
    reader = journal.Reader(files=[str(path)])
    table = MemoryTable()
    out: list[Envelope] = []
    try:
        for entry in reader:
            raw = raw_envelope("h", observe(entry), T0)
            out.extend(route.handle(raw.to_json(), table))
    finally:
        reader.close()
    return out


def told(outs: list[Envelope]) -> list[tuple[str, str]]:
    return [(o.type, o.payload["unit"]) for o in outs]


def start_done(e: Entries, ts: datetime, message: str, unit: str) -> None:
    e.systemd(ts, message, unit, j.UNIT_STARTED, JOB_TYPE="start", JOB_RESULT="done")


def test_only_services_that_ran_are_started(tmp_path: Path) -> None:
    e = Entries()
    t = T0
    start_done(e, t, "Created slice system-modprobe.slice - Slice /system/modprobe.", "system-modprobe.slice")
    start_done(e, t, "Listening on systemd-journald.socket - Journal Socket.", "systemd-journald.socket")
    start_done(e, t, "Mounted dev-mqueue.mount - POSIX Message Queue File System.", "dev-mqueue.mount")
    start_done(e, t, "Started apt-daily.timer - Daily apt download activities.", "apt-daily.timer")
    start_done(e, t, "Reached target paths.target - Path Units.", "paths.target")
    # Skips: the start job is "done" (same MESSAGE_ID as a start), but the unit never ran.
    start_done(
        e,
        t,
        "systemd-fsck-root.service - File System Check on Root Device was skipped because of an unmet "
        "condition check (ConditionPathExists=!/run/initramfs/fsck-root).",
        "systemd-fsck-root.service",
    )
    start_done(
        e,
        t,
        "systemd-firstboot.service - First Boot Wizard was skipped because no trigger condition checks "
        "were met.",
        "systemd-firstboot.service",
    )
    start_done(
        e, t, "Condition check resulted in Load Kernel Module drm being skipped.", "modprobe@drm.service"
    )
    start_done(
        e,
        t,
        "Finished systemd-tmpfiles-setup.service - Create System Files and Directories.",
        "systemd-tmpfiles-setup.service",
    )
    start_done(e, t, "Started nginx.service - A high performance web server.", "nginx.service")
    start_done(e, t, "Started session-3.scope - Session 3 of User alice.", "session-3.scope")
    e.systemd(
        t, "Stopped target timers.target - Timer Units.", "timers.target", j.UNIT_STOPPED, JOB_TYPE="stop"
    )
    e.systemd(t, "Stopped nginx.service - A high performance web server.", "nginx.service", j.UNIT_STOPPED)
    outs = decide(build_journal(tmp_path / "system.journal", e))
    assert told(outs) == [
        ("ServiceFinished", "systemd-tmpfiles-setup.service"),
        ("ServiceStarted", "nginx.service"),
        ("ServiceStarted", "session-3.scope"),
        ("ServiceStopped", "nginx.service"),
    ]


def test_many_oneshots_finishing_are_no_flapping(tmp_path: Path) -> None:
    e = Entries()
    for i in range(8):
        start_done(
            e,
            T0 + timedelta(seconds=i),
            "Finished logrotate.service - Rotate log files.",
            "logrotate.service",
        )
    outs = decide(build_journal(tmp_path / "system.journal", e))
    assert {o.type for o in outs} == {"ServiceFinished"}


def test_a_start_job_that_fails_alone_is_a_failure(tmp_path: Path) -> None:
    """A dependency failure: no `Failed with result` line of the unit, only the job's."""
    e = Entries()
    e.systemd(
        T0,
        "Dependency failed for nfs-server.service - NFS server and services.",
        "nfs-server.service",
        UNIT_FAILED,
        JOB_TYPE="start",
        JOB_RESULT="dependency",
    )
    e.systemd(
        T0 + timedelta(seconds=1),
        "Failed to start cups.service - CUPS Scheduler.",
        "cups.service",
        UNIT_FAILED,
        JOB_TYPE="start",
        JOB_RESULT="failed",
    )
    outs = decide(build_journal(tmp_path / "system.journal", e))
    assert [(o.type, o.payload["unit"], o.payload["result"]) for o in outs] == [
        ("ServiceFailed", "nfs-server.service", "dependency"),
        ("ServiceFailed", "cups.service", "failed"),
    ]


def test_the_unit_result_and_the_failed_job_are_one_failure(tmp_path: Path) -> None:
    e = Entries()
    e.systemd(
        T0,
        "nginx.service: Main process exited, code=exited, status=1/FAILURE",
        "nginx.service",
        j.UNIT_PROCESS_EXIT,
        EXIT_CODE="exited",
        EXIT_STATUS="1",
    )
    e.systemd(
        T0,
        "nginx.service: Failed with result 'exit-code'.",
        "nginx.service",
        j.UNIT_RESULT,
        UNIT_RESULT="exit-code",
    )
    e.systemd(
        T0,
        "Failed to start nginx.service - A high performance web server.",
        "nginx.service",
        UNIT_FAILED,
        JOB_TYPE="start",
        JOB_RESULT="failed",
    )
    outs = decide(build_journal(tmp_path / "system.journal", e))
    assert [(o.type, o.payload["result"], o.payload["exit_status"]) for o in outs] == [
        ("ServiceFailed", "exit-code", "1")
    ]


def test_without_message_ids_the_texts_decide_the_same(tmp_path: Path) -> None:
    """A relayed syslog (or old systemd) writes no MESSAGE_ID: the same texts, the same decisions."""
    e = Entries()
    for text, unit in [
        ("Reached target multi-user.target - Multi-User System.", "multi-user.target"),
        ("Condition check resulted in Load Kernel Module drm being skipped.", "modprobe@drm.service"),
        (
            "Finished e2scrub_reap.service - Remove Stale Online ext4 Metadata Check Snapshots.",
            "e2scrub_reap.service",
        ),
        ("Failed to start cups.service - CUPS Scheduler.", "cups.service"),
        ("Started ssh.service - OpenBSD Secure Shell server.", "ssh.service"),
    ]:
        e.add(
            T0,
            text,
            SYSLOG_IDENTIFIER="systemd",
            _PID=1,
            _COMM="systemd",
            _SYSTEMD_UNIT="init.scope",
            UNIT=unit,
        )
    outs = decide(build_journal(tmp_path / "system.journal", e))
    assert told(outs) == [
        ("ServiceFinished", "e2scrub_reap.service"),
        ("ServiceFailed", "cups.service"),
        ("ServiceStarted", "ssh.service"),
    ]


def user_entry(e: Entries, ts: datetime, ident: str, message: str, *, user_unit: str, **fields: Any) -> None:
    e.add(
        ts,
        message,
        SYSLOG_IDENTIFIER=ident,
        _COMM=ident,
        _PID=7311,
        _UID=1000,
        _SYSTEMD_OWNER_UID=1000,
        _SYSTEMD_SLICE="app.slice",
        _SYSTEMD_UNIT="user@1000.service",
        _SYSTEMD_USER_UNIT=user_unit,
        _SYSTEMD_USER_SLICE="app-org.gnome.Terminal.slice",
        **fields,
    )


def test_a_user_journal_names_the_users_unit_not_the_user_manager(tmp_path: Path) -> None:
    e = Entries()
    scope = "vte-spawn-5b0c1c2e-6d34-4a8e-9f0b-2c8a4e1d7f10.scope"
    user_entry(
        e,
        T0,
        "sudo",
        "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
        user_unit=scope,
        PRIORITY=5,
        SYSLOG_FACILITY=10,
        _TRANSPORT="syslog",
    )
    user_entry(
        e,
        T0,
        "syncthing",
        "ERROR: listen tcp 0.0.0.0:22000: bind: address in use",
        user_unit="syncthing.service",
        _TRANSPORT="stdout",
    )
    # The user manager's own message about a user unit: USER_UNIT names it.
    e.add(
        T0,
        "Started syncthing.service - Syncthing - Open Source Continuous File Synchronization.",
        SYSLOG_IDENTIFIER="systemd",
        _COMM="systemd",
        _PID=1203,
        _UID=1000,
        _SYSTEMD_UNIT="user@1000.service",
        _SYSTEMD_USER_UNIT="init.scope",
        USER_UNIT="syncthing.service",
        MESSAGE_ID=j.UNIT_STARTED,
        JOB_TYPE="start",
        JOB_RESULT="done",
        PRIORITY=6,
    )
    path = build_journal(tmp_path / "user-1000.journal", e)
    sudo = decide(path, SECURITY)
    assert [(o.type, o.payload["unit"]) for o in sudo] == [("SudoCommandRun", scope)]
    assert sorted(told(decide(path))) == [
        ("ServiceLogged", "syncthing.service"),
        ("ServiceStarted", "syncthing.service"),
    ]


def test_a_units_filter_finds_a_users_unit(tmp_path: Path) -> None:
    e = Entries()
    user_entry(e, T0, "syncthing", "ERROR: bind: address in use", user_unit="syncthing.service", PRIORITY=3)
    user_entry(
        e, T0, "gnome-shell", "ERROR: a shell error", user_unit="org.gnome.Shell@x11.service", PRIORITY=3
    )
    path = build_journal(tmp_path / "user-1000.journal", e)
    source = JournaldSource(
        "h", files=[path], units=["syncthing.service"], clock=lambda: T0, backfill=timedelta(days=1)
    )
    try:
        got = source.poll(100).observations
    finally:
        source.close()
    assert [o.payload["unit"] for o in got] == ["syncthing.service"]
