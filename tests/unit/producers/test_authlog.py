"""Auth logs written by rsyslog (real captures of Debian 12's sshd, sudo and su; tests/data/auth/capture.sh)
decided by the same security processor as the journal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.authlog.source import AuthLogSource
from producers.authlog.syslog import Numbering, SyslogLineError, expand, observation, parse_line, raw_envelope
from schemas.envelope import Envelope
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import EVENTS_SERVICES, RAW_JOURNAL

DATA = Path(__file__).resolve().parents[2] / "data" / "auth"
SECURITY = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SECURITY)
SERVICES = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SERVICES)
CAPTURED = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)  # when the captures were made (UTC machine)


def read(path: Path, now: datetime = CAPTURED) -> list[Envelope]:
    source = AuthLogSource(path, "h", tz=UTC, clock=lambda: now)
    try:
        poll = source.poll(10_000)
    finally:
        source.close()
    assert poll.dead == []
    return poll.observations


def decide(raws: list[Envelope], route: Any = SECURITY) -> list[Envelope]:
    table = MemoryTable()
    return [out for raw in raws for out in route.handle(raw.to_json(), table)]


def summary(outs: list[Envelope]) -> list[tuple[Any, ...]]:
    rows = []
    for o in outs:
        p = o.payload
        if o.type == "LoginFailed":
            rows.append((o.type, p["user"], p["source_ip"], p["port"], p["invalid_user"]))
        elif o.type == "LoginSucceeded":
            rows.append((o.type, p["user"], p["source_ip"], p["method"]))
        elif o.type == "SudoCommandRun":
            rows.append((o.type, p["user"], p["target_user"], p["command"], p["allowed"]))
        elif o.type == "SuUsed":
            rows.append((o.type, p["user"], p["target_user"], p["success"]))
    return rows


def final(outs: list[Envelope]) -> list[Envelope]:
    """The last telling of each event id (an sshd attempt is re-told as its lines come)."""
    last: dict[str, Envelope] = {}
    for o in outs:
        last[o.id] = o
    return list(last.values())


EXPECTED = [
    ("LoginFailed", "alice", "127.0.0.1", 45290, False),
    ("LoginFailed", "alice", "127.0.0.1", 45290, False),
    ("LoginFailed", "nosuchuser", "127.0.0.1", 54838, True),
    ("LoginFailed", "nosuchuser", "127.0.0.1", 54838, True),
    ("LoginSucceeded", "alice", "127.0.0.1", "password"),
    ("SudoCommandRun", "root", "alice", "/usr/bin/id", True),
    ("SuUsed", "root", "alice", True),
    ("SuUsed", "root", "alice", True),
]


@pytest.mark.parametrize("name", ["auth-traditional.log", "auth-rfc3339.log"])
def test_real_auth_log_gets_the_journals_security_decisions(name: str) -> None:
    raws = read(DATA / name)
    assert len(raws) == 42
    assert summary(final(decide(raws))) == EXPECTED
    # Auth lines are no service's lifecycle or logs.
    assert decide(raws, SERVICES) == []


def test_both_formats_give_the_same_times_to_the_second() -> None:
    trad = read(DATA / "auth-traditional.log")
    rfc = read(DATA / "auth-rfc3339.log")
    assert [r.ts.replace(microsecond=0) for r in rfc] == [r.ts for r in trad]
    assert [r.payload["message"] for r in rfc] == [r.payload["message"] for r in trad]


def test_reading_again_gives_the_same_ids_and_identical_lines_stay_apart() -> None:
    first = read(DATA / "auth-traditional.log")
    assert [r.id for r in read(DATA / "auth-traditional.log")] == [r.id for r in first]
    assert len({r.id for r in first}) == len(first)


def test_a_restart_mid_second_keeps_numbering_identical_lines(tmp_path: Path) -> None:
    line = "Dec  4 15:27:24 vm sshd[21248]: Failed password for alice from 127.0.0.1 port 45290 ssh2\n"
    log = tmp_path / "auth.log"
    log.write_text(line * 3)
    whole = read(log)
    source = AuthLogSource(log, "h", tz=UTC, clock=lambda: CAPTURED)
    first = source.poll(1)
    source.close()
    again = AuthLogSource(log, "h", first.cursor, tz=UTC, clock=lambda: CAPTURED)
    rest = again.poll(10)
    again.close()
    assert [r.id for r in first.observations + rest.observations] == [r.id for r in whole]
    assert len({r.id for r in whole}) == 3


def test_year_is_inferred_from_now_and_zone_applies() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    rec = parse_line("Dec 31 23:59:58 h sudo: x", tz=berlin, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert rec.ts == datetime(2026, 12, 31, 22, 59, 58, tzinfo=UTC)
    rec = parse_line("Jan  2 00:00:01 h sudo: x", tz=UTC, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert rec.ts.year == 2027
    leap = parse_line("Feb 29 10:00:00 h su[1]: x", tz=UTC, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert leap.ts.year == 2024


def test_repeated_message_stands_for_that_many_lines() -> None:
    rec = parse_line(
        "Dec  4 15:27:24 vm sshd[9]: message repeated 3 times: [ Failed password for root from 10.0.0.9 port "
        "5 ssh2]",
        tz=UTC,
        now=CAPTURED,
    )
    lines = expand(rec)
    assert [r.message for r in lines] == ["Failed password for root from 10.0.0.9 port 5 ssh2"] * 3
    numbering = Numbering()
    ids = {raw_envelope("h", observation(r, "c"), numbering.next(r), CAPTURED).id for r in lines}
    assert len(ids) == 3
    outs = decide([raw_envelope("h", observation(r, f"c{i}"), i, CAPTURED) for i, r in enumerate(lines)])
    assert len(final(outs)) == 3


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not syslog",
        "Dec  4 15:27:24 vm",
        "Foo  4 15:27:24 vm sshd[1]: x",
        "Dec  4 15:27:24 vm sshd[1]: bad \ufffd byte",
        "2026-13-04T15:27:21.416315+00:00 vm sshd[1]: x",
    ],
)
def test_lines_that_are_not_syslog_are_refused(line: str) -> None:
    with pytest.raises(SyslogLineError):
        parse_line(line, tz=UTC, now=CAPTURED)


def test_a_bad_line_is_a_dead_letter_and_the_rest_is_read(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    good = (DATA / "auth-traditional.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(good[0] + b"Dec  4 15:27:21 vm sshd[1]: \xff\xfe\n" + b"".join(good[1:]))
    source = AuthLogSource(log, "h", tz=UTC, clock=lambda: CAPTURED)
    poll = source.poll(10_000)
    source.close()
    assert len(poll.observations) == 42
    assert [d.error for d in poll.dead] == ["line holds bytes that are not UTF-8"]
    assert poll.dead[0].raw_b64 == "RGVjICA0IDE1OjI3OjIxIHZtIHNzaGRbMV06IP/+"


@given(st.text(max_size=300))
def test_parse_line_never_crashes(text: str) -> None:
    try:
        rec = parse_line(text, tz=UTC, now=CAPTURED)
    except SyslogLineError:
        return
    assert len(rec.message) <= 4096
    for one in expand(rec):
        observation(one, "c")


@given(st.integers(0, 10**12))
def test_repeat_counts_are_bounded(n: int) -> None:
    rec = parse_line(f"Dec  4 15:27:24 vm sshd[9]: message repeated {n} times: [ x]", tz=UTC, now=CAPTURED)
    assert len(expand(rec)) == min(n, 10_000)
