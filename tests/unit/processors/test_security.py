"""The security processor: sshd attempts folded into one LoginFailed, accepted logins, sudo, su."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processors.registry import ROUTES
from processors.security import parse_sudo
from processors.tables import MemoryTable
from producers.journald.entries import raw_envelope
from schemas.envelope import Envelope
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import JournalEntryObserved

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROUTE = next(r for r in ROUTES if r.sink == EVENTS_SECURITY)
_seq = iter(range(1, 10**9))


def line(
    ts: datetime, ident: str, message: str, pid: int = 100, unit: str | None = "ssh.service"
) -> Envelope:
    obs = JournalEntryObserved(
        ts=ts, cursor=f"s=x;i={next(_seq)}", message=message, identifier=ident, pid=pid, unit=unit, priority=5
    )
    return raw_envelope("h", obs, ts)


def run(raws: list[Envelope], table: MemoryTable | None = None) -> list[Envelope]:
    table = table if table is not None else MemoryTable()
    return [o for r in raws for o in ROUTE.handle(r.to_json(), table)]


def final(outs: list[Envelope]) -> dict[str, dict[str, Any]]:
    """The graph's view: the last version of each event id."""
    out: dict[str, dict[str, Any]] = {}
    for o in outs:
        out[o.id] = {"type": o.type, "ts": o.ts, **o.payload}
    return out


def test_one_ssh_attempt_told_in_three_lines_is_one_failed_login() -> None:
    t = T0
    outs = run(
        [
            line(t, "sshd", "Invalid user bob from 203.0.113.7 port 50022"),
            line(t + timedelta(seconds=1), "sshd", "pam_unix(sshd:auth): check pass; user unknown"),
            line(
                t + timedelta(seconds=1),
                "sshd",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                "rhost=203.0.113.7",
            ),
            line(
                t + timedelta(seconds=3),
                "sshd",
                "Failed password for invalid user bob from 203.0.113.7 port 50022 ssh2",
            ),
            # a second attempt on the same connection is another event
            line(
                t + timedelta(seconds=6),
                "sshd",
                "Failed password for invalid user bob from 203.0.113.7 port 50022 ssh2",
            ),
        ]
    )
    events = final(outs)
    assert len(events) == 2
    first = next(iter(events.values()))
    assert first["type"] == "LoginFailed"
    assert (first["user"], first["source_ip"], first["port"], first["method"]) == (
        "bob",
        "203.0.113.7",
        50022,
        "password",
    )
    assert first["invalid_user"] is True and first["ts"] == t


def test_failed_and_accepted_logins_of_a_known_user() -> None:
    outs = run(
        [
            line(T0, "sshd", "Failed password for root from 198.51.100.2 port 4444 ssh2", pid=7),
            line(
                T0,
                "sshd",
                "Accepted publickey for alice from 192.0.2.10 port 60000 ssh2: ED25519 SHA256:abc",
                pid=8,
            ),
        ]
    )
    assert [(o.type, o.payload["user"], o.payload["source_ip"]) for o in outs] == [
        ("LoginFailed", "root", "198.51.100.2"),
        ("LoginSucceeded", "alice", "192.0.2.10"),
    ]
    assert outs[1].payload["method"] == "publickey"


def test_pam_failure_of_another_service_and_console_login() -> None:
    outs = run(
        [
            line(
                T0,
                "login",
                "pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= "
                "rhost=  user=carol",
                unit=None,
            ),
            line(T0, "login", "FAILED LOGIN 1 FROM tty1 FOR carol, Authentication failure", unit=None),
            line(
                T0,
                "sudo",
                "pam_unix(sudo:auth): authentication failure; logname=dave uid=1000 euid=0 tty=/dev/pts/1 "
                "ruser=dave rhost=  user=dave",
                unit=None,
            ),
        ]
    )
    assert [(o.type, o.payload["service"], o.payload["user"]) for o in outs] == [
        ("LoginFailed", "login", "carol"),
        ("LoginFailed", "login", "carol"),
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt install -y nginx",
            {
                "user": "alice",
                "target_user": "root",
                "command": "/usr/bin/apt install -y nginx",
                "cwd": "/home/alice",
                "tty": "pts/0",
                "allowed": True,
                "reason": "",
            },
        ),
        (
            "bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; "
            "COMMAND=/bin/sh -c 'a ; b'",
            {
                "user": "bob",
                "target_user": "root",
                "command": "/bin/sh -c 'a ; b'",
                "cwd": "/tmp",
                "tty": "pts/1",
                "allowed": False,
                "reason": "3 incorrect password attempts",
            },
        ),
        (
            "eve : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/eve ; USER=root ; "
            "COMMAND=/bin/cat /etc/shadow",
            {
                "user": "eve",
                "target_user": "root",
                "command": "/bin/cat /etc/shadow",
                "cwd": "/home/eve",
                "tty": "pts/2",
                "allowed": False,
                "reason": "user NOT in sudoers",
            },
        ),
        ("pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)", None),
    ],
)
def test_parse_sudo(message: str, expected: dict[str, Any] | None) -> None:
    assert parse_sudo(message) == expected


def test_sudo_and_su_events() -> None:
    outs = run(
        [
            line(
                T0,
                "sudo",
                "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
                unit="session-1.scope",
            ),
            line(T0, "su", "(to root) alice on pts/0", unit="session-1.scope"),
            line(T0, "su", "FAILED SU (to postgres) mallory on pts/3", unit="session-2.scope"),
            line(
                T0, "sudo", "pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)"
            ),
        ]
    )
    assert [o.type for o in outs] == ["SudoCommandRun", "SuUsed", "SuUsed"]
    assert outs[0].payload["command"] == "/usr/bin/id"
    assert (outs[1].payload["user"], outs[1].payload["target_user"], outs[1].payload["success"]) == (
        "alice",
        "root",
        True,
    )
    assert outs[2].payload["success"] is False


def test_service_manager_and_ordinary_lines_are_not_security_events() -> None:
    obs = JournalEntryObserved(
        ts=T0,
        cursor="c1",
        message="Started ssh.service.",
        identifier="systemd",
        pid=1,
        object_unit="ssh.service",
    )
    assert run([raw_envelope("h", obs, T0), line(T0, "sshd", "Server listening on 0.0.0.0 port 22.")]) == []


def test_a_redelivered_sshd_line_repeats_its_decision() -> None:
    table = MemoryTable()
    raws = [
        line(T0, "sshd", "Invalid user bob from 203.0.113.7 port 50022"),
        line(
            T0 + timedelta(seconds=2),
            "sshd",
            "Failed password for invalid user bob from 203.0.113.7 port 50022 ssh2",
        ),
    ]
    first = run(raws, table)
    again = run(raws, table)
    assert again == first
    assert len({o.id for o in first + again}) == 1
